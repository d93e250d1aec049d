"""The chunk store: chunks, their sentences and BM25 tokens as columns, memory-mapped.

A build's ``chunks/`` folder holds::

    rows.npy              int64 (chunks, 7): document id, start, end, line start, line end,
                          page (-1: none), section id
    sentence_offsets.npy  int64 (chunks + 1): chunk i's sentences are rows [o[i], o[i+1])
    sentences.npy         int64 (sentences, 2): absolute (start, end) of each sentence
    text_offsets.npy      int64 (chunks + 1): byte range of chunk i's text in text.bin
    text.bin              the chunks' texts, UTF-8, one after the other
    token_offsets.npy     int64 (sentences + 1): byte range of a sentence's tokens in tokens.bin
    mid_code.npy          int8 (sentences): 1 for a piece of a long code block after its first
    signals.npy           float32 (sentences, 4): what each sentence holds for the ranker
                          (index.features.sentence_signals); a format-3 store has none and
                          they are worked out per row read
    tokens.bin            each sentence's BM25 tokens, space-separated, UTF-8
    names.json            the document names and section paths the ids point to, and the counts

Nothing is parsed per chunk at load: :class:`ChunkTable` maps the files and builds a
:class:`~index.types.Chunk` only for a row that is read, so loading a million chunks costs
the names and a few shape checks. The full checksums are the manifest's (``verbatim index --verify``).
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np

from index.features import SIGNALS, chunk_signals
from index.lexical import chunk_tokens, with_sentence_tokens
from index.types import Chunk

FOLDER = "chunks"
# Columns of rows.npy.
DOCUMENT, START, END, LINE_START, LINE_END, PAGE, SECTION = range(7)
_NO_PAGE = -1
_ARRAYS = ("rows", "sentence_offsets", "sentences", "text_offsets", "token_offsets", "mid_code")
_OPTIONAL_ARRAYS = ("signals",)
# Chunks built from rows recently read, kept so that one search builds each row once.
_ROW_CACHE = 4096


class ChunkStoreError(ValueError):
    """The chunk store on disk is missing a file or its files do not fit together."""


@dataclass(frozen=True, slots=True)
class _Columns:
    rows: np.ndarray
    sentence_offsets: np.ndarray
    sentences: np.ndarray
    text_offsets: np.ndarray
    token_offsets: np.ndarray
    mid_code: np.ndarray
    signals: np.ndarray | None = None


class ChunkTable(Sequence[Chunk]):
    """All chunks of a build, one :class:`Chunk` built per row read (``table[i]``), plus the
    columnar facts the engine needs of all of them at once."""

    def __init__(
        self,
        columns: _Columns,
        text: bytes | mmap.mmap,
        tokens: bytes | mmap.mmap,
        documents: list[str],
        sections: list[tuple[str, ...]],
    ) -> None:
        self._columns = columns
        self._text = text
        self._tokens = tokens
        self.document_names = documents
        self.section_paths = sections
        self._cache: dict[int, Chunk] = {}

    # ------------------------------------------------------------------ building
    @classmethod
    def from_chunks(cls, chunks: Sequence[Chunk]) -> ChunkTable:
        """A table held in memory (the store's format, not yet written)."""
        if isinstance(chunks, ChunkTable):
            return chunks
        documents: dict[str, int] = {}
        sections: dict[tuple[str, ...], int] = {}
        rows = np.zeros((len(chunks), 7), dtype=np.int64)
        sentence_counts = np.zeros(len(chunks), dtype=np.int64)
        spans: list[tuple[int, int]] = []
        mid_code: list[bool] = []
        texts: list[bytes] = []
        tokens: list[bytes] = []
        signals: list[np.ndarray] = []
        for i, chunk in enumerate(chunks):
            chunk = with_sentence_tokens(chunk)
            rows[i] = (
                documents.setdefault(chunk.document, len(documents)),
                chunk.start,
                chunk.end,
                chunk.line_start,
                chunk.line_end,
                _NO_PAGE if chunk.page is None else chunk.page,
                sections.setdefault(chunk.section, len(sections)),
            )
            sentence_counts[i] = len(chunk.sentences)
            spans.extend(chunk.sentences)
            inside = set(chunk.mid_code)
            mid_code.extend(i in inside for i in range(len(chunk.sentences)))
            texts.append(chunk.text.encode("utf-8"))
            tokens.extend(t.encode("utf-8") for t in chunk.sentence_tokens)
            signals.append(chunk_signals(chunk))
        columns = _Columns(
            rows=rows,
            sentence_offsets=_offsets(sentence_counts),
            sentences=np.array(spans, dtype=np.int64).reshape(-1, 2),
            text_offsets=_offsets(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))),
            token_offsets=_offsets(np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))),
            mid_code=np.array(mid_code, dtype=np.int8),
            signals=np.concatenate(signals) if signals else np.zeros((0, SIGNALS), dtype=np.float32),
        )
        return cls(columns, b"".join(texts), b"".join(tokens), list(documents), list(sections))

    @classmethod
    def concatenate(cls, parts: Sequence[tuple[ChunkTable, np.ndarray]]) -> ChunkTable:
        """The given rows of each table, in order, as one table in memory. Rows are copied
        column by column (a run of consecutive rows as one slice), never as Chunk objects:
        this is how a reindex carries the unchanged documents over."""
        documents: dict[str, int] = {}
        sections: dict[tuple[str, ...], int] = {}
        rows, sentence_counts, spans, text_lengths, token_lengths, mid_code = [], [], [], [], [], []
        signals: list[np.ndarray] = []
        texts: list[bytes] = []
        tokens: list[bytes] = []
        # Each table's ids in the new name tables, worked out once per table (a reindex passes
        # the previous table once per unchanged document).
        renumbered: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for table, picked in parts:
            picked = np.asarray(picked, dtype=np.int64)
            if not len(picked):
                continue
            c = table._columns
            if id(table) not in renumbered:
                renumbered[id(table)] = (
                    np.array([documents.setdefault(n, len(documents)) for n in table.document_names], dtype=np.int64),
                    np.array([sections.setdefault(s, len(sections)) for s in table.section_paths], dtype=np.int64),
                )
            document_ids, section_ids = renumbered[id(table)]
            part = np.array(c.rows[picked])
            part[:, DOCUMENT] = document_ids[part[:, DOCUMENT]]
            part[:, SECTION] = section_ids[part[:, SECTION]]
            rows.append(part)
            first, last = c.sentence_offsets[picked], c.sentence_offsets[picked + 1]
            sentence_counts.append(last - first)
            sentence_rows = concatenated_ranges(first, last)
            spans.append(c.sentences[sentence_rows])
            mid_code.append(c.mid_code[sentence_rows])
            signals.append(
                c.signals[sentence_rows]
                if c.signals is not None
                else np.concatenate([table.sentence_signals(row) for row in picked.tolist()])
            )
            text_lengths.append(c.text_offsets[picked + 1] - c.text_offsets[picked])
            token_lengths.append(c.token_offsets[sentence_rows + 1] - c.token_offsets[sentence_rows])
            for run_first, run_last in _runs(picked):
                texts.append(bytes(table._text[c.text_offsets[run_first] : c.text_offsets[run_last + 1]]))
                sentence_first, sentence_last = c.sentence_offsets[run_first], c.sentence_offsets[run_last + 1]
                tokens.append(bytes(table._tokens[c.token_offsets[sentence_first] : c.token_offsets[sentence_last]]))
        if not rows:
            return cls.from_chunks([])
        columns = _Columns(
            rows=np.concatenate(rows),
            sentence_offsets=_offsets(np.concatenate(sentence_counts)),
            sentences=np.concatenate(spans).reshape(-1, 2),
            text_offsets=_offsets(np.concatenate(text_lengths)),
            token_offsets=_offsets(np.concatenate(token_lengths)),
            mid_code=np.concatenate(mid_code).astype(np.int8),
            signals=np.concatenate(signals).astype(np.float32),
        )
        return cls(columns, b"".join(texts), b"".join(tokens), list(documents), list(sections))

    def rows_of_documents(self) -> dict[str, np.ndarray]:
        """Each document's rows, in order."""
        ids = self._columns.rows[:, DOCUMENT]
        order = np.argsort(ids, kind="stable")
        bounds = np.searchsorted(ids[order], np.arange(len(self.document_names) + 1))
        return {
            name: order[bounds[i] : bounds[i + 1]]
            for i, name in enumerate(self.document_names)
            if bounds[i + 1] > bounds[i]
        }

    # ------------------------------------------------------------------ the sequence
    def __len__(self) -> int:
        return len(self._columns.rows)

    @overload
    def __getitem__(self, index: int) -> Chunk: ...

    @overload
    def __getitem__(self, index: slice) -> list[Chunk]: ...

    def __getitem__(self, index: int | slice) -> Chunk | list[Chunk]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        row = int(index)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"chunk row {index} out of range")
        chunk = self._cache.get(row)
        if chunk is None:
            chunk = self._build(row)
            if len(self._cache) >= _ROW_CACHE:
                self._cache.clear()
            self._cache[row] = chunk
        return chunk

    def __iter__(self) -> Iterator[Chunk]:
        for row in range(len(self)):
            yield self._build(row)

    def _build(self, row: int) -> Chunk:
        c = self._columns
        document, start, end, line_start, line_end, page, section = c.rows[row].tolist()
        first, last = int(c.sentence_offsets[row]), int(c.sentence_offsets[row + 1])
        token_offsets = c.token_offsets[first : last + 1].tolist()
        tokens = self._tokens
        return Chunk(
            document=self.document_names[document],
            start=start,
            end=end,
            line_start=line_start,
            line_end=line_end,
            section=self.section_paths[section],
            text=self._text[c.text_offsets[row] : c.text_offsets[row + 1]].decode("utf-8"),
            sentences=tuple((a, b) for a, b in c.sentences[first:last].tolist()),
            page=None if page == _NO_PAGE else page,
            sentence_tokens=tuple(tokens[a:b].decode("utf-8") for a, b in zip(token_offsets, token_offsets[1:])),
            mid_code=tuple(np.flatnonzero(c.mid_code[first:last]).tolist()),
        )

    # ------------------------------------------------------------------ columnar facts
    @property
    def sentence_offsets(self) -> np.ndarray:
        """Row ``o[i]`` of the sentence vectors is chunk i's first sentence; ``o[-1]`` their count."""
        return self._columns.sentence_offsets

    @property
    def sentence_count(self) -> int:
        return int(self._columns.sentence_offsets[-1])

    def sentences_in(self, row: int) -> int:
        return int(self._columns.sentence_offsets[row + 1] - self._columns.sentence_offsets[row])

    def sentence_signals(self, row: int) -> np.ndarray:
        """Chunk ``row``'s sentences' signals, one row each (index.features.sentence_signals)."""
        c = self._columns
        if c.signals is None:  # a store written before they were stored
            return chunk_signals(self[row])
        return c.signals[c.sentence_offsets[row] : c.sentence_offsets[row + 1]]

    def document_of(self, row: int) -> str:
        return self.document_names[int(self._columns.rows[row, DOCUMENT])]

    def tokens_of_rows(self, rows: Sequence[int] | None = None) -> Iterator[list[str]]:
        """The BM25 tokens of each chunk of ``rows`` (default: all, in order), what the
        lexical index is built from."""
        c = self._columns
        sentence_offsets = c.sentence_offsets.tolist()
        token_offsets = c.token_offsets.tolist()
        tokens = self._tokens
        # One string per distinct token: a million chunks hold about 100M tokens, and a str
        # each would take gigabytes while BM25 is built.
        distinct: dict[str, str] = {}
        spans = (
            zip(sentence_offsets, sentence_offsets[1:])
            if rows is None
            else ((sentence_offsets[r], sentence_offsets[r + 1]) for r in rows)
        )
        for first, after in spans:
            # Sentence by sentence: the blob holds sentences' tokens back to back, with no
            # space between the last word of one and the first of the next.
            yield [
                distinct.setdefault(t, t)
                for s in range(first, after)
                for t in tokens[token_offsets[s] : token_offsets[s + 1]].decode("utf-8").split()
            ]

    def sections_by_document(self) -> dict[str, tuple[tuple[str, ...], ...]]:
        """Each document's heading paths in the order they first appear (none for the
        text before a document's first heading)."""
        ids = self._columns.rows[:, [DOCUMENT, SECTION]]
        named = np.array([bool(s) for s in self.section_paths], dtype=bool)
        ids = ids[named[ids[:, 1]]] if len(ids) else ids
        if not len(ids):
            return {}
        pairs, first_rows = np.unique(ids, axis=0, return_index=True)
        pairs = pairs[np.argsort(first_rows, kind="stable")]
        found: dict[str, list[tuple[str, ...]]] = {}
        for document, section in pairs.tolist():
            found.setdefault(self.document_names[document], []).append(self.section_paths[section])
        return {name: tuple(paths) for name, paths in found.items()}

    def first_row_of(self, document: str, section: tuple[str, ...]) -> int | None:
        """The first row of ``section`` in ``document``, or None."""
        try:
            document_id = self.document_names.index(document)
            section_id = self.section_paths.index(section)
        except ValueError:
            return None
        rows = self._columns.rows
        hits = np.flatnonzero((rows[:, DOCUMENT] == document_id) & (rows[:, SECTION] == section_id))
        return int(hits[0]) if len(hits) else None

    # ------------------------------------------------------------------ disk
    def save(self, build: Path) -> None:
        folder = build / FOLDER
        folder.mkdir()
        for name in _ARRAYS + _OPTIONAL_ARRAYS:
            array = getattr(self._columns, name)
            if array is not None:
                np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        (folder / "text.bin").write_bytes(bytes(self._text))
        (folder / "tokens.bin").write_bytes(bytes(self._tokens))
        names = {
            "chunks": len(self),
            "sentences": self.sentence_count,
            "documents": self.document_names,
            "sections": [list(s) for s in self.section_paths],
        }
        (folder / "names.json").write_text(json.dumps(names, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, build: Path) -> ChunkTable:
        """Map the store of ``build``; :class:`ChunkStoreError` when a file is missing or
        the files do not fit together (a truncated or mixed store)."""
        folder = build / FOLDER
        try:
            names = json.loads((folder / "names.json").read_text(encoding="utf-8"))
            # Plain views of the maps: indexing a np.memmap costs a Python call per access.
            arrays = {
                n: np.load(folder / f"{n}.npy", mmap_mode="r", allow_pickle=False).view(np.ndarray)
                for n in _ARRAYS + tuple(n for n in _OPTIONAL_ARRAYS if (folder / f"{n}.npy").exists())
            }
            text, tokens = _map(folder / "text.bin"), _map(folder / "tokens.bin")
            documents = [str(n) for n in names["documents"]]
            sections = [tuple(str(p) for p in s) for s in names["sections"]]
            chunks, sentences = int(names["chunks"]), int(names["sentences"])
        except FileNotFoundError as exc:
            raise ChunkStoreError(f"the chunk store has no {Path(exc.filename).name}") from exc
        except (ValueError, TypeError, KeyError, OSError) as exc:
            raise ChunkStoreError(f"the chunk store is unreadable ({type(exc).__name__}: {exc})") from exc
        columns = _Columns(**arrays)
        _check_shapes(columns, chunks, sentences, len(text), len(tokens), len(documents), len(sections))
        return cls(columns, text, tokens, documents, sections)


def bm25_tokens(chunks: Sequence[Chunk], rows: Sequence[int] | None = None) -> list[list[str]]:
    """The BM25 tokens of each chunk of ``rows`` (default: all, in order): from a
    :class:`ChunkTable`'s token blob without building its rows (a million of them at 1M
    chunks), else from each chunk."""
    if isinstance(chunks, ChunkTable):
        return list(chunks.tokens_of_rows(rows))
    return [chunk_tokens(chunks[r]) for r in rows] if rows is not None else [chunk_tokens(c) for c in chunks]


def _check_shapes(
    c: _Columns, chunks: int, sentences: int, text_bytes: int, token_bytes: int, documents: int, sections: int
) -> None:
    """Cheap checks that catch a truncated or mixed store: shapes, and the ends of offsets."""
    expected = {
        "rows": (chunks, 7),
        "sentence_offsets": (chunks + 1,),
        "sentences": (sentences, 2),
        "text_offsets": (chunks + 1,),
        "token_offsets": (sentences + 1,),
        "mid_code": (sentences,),
        "signals": (sentences, SIGNALS),
    }
    dtypes = {"mid_code": np.int8, "signals": np.float32}
    for name, shape in expected.items():
        array = getattr(c, name)
        dtype = dtypes.get(name, np.int64)
        if array is None and name in _OPTIONAL_ARRAYS:
            continue
        if array.shape != shape or array.dtype != dtype:
            raise ChunkStoreError(
                f"{name}.npy has shape {array.shape} ({array.dtype}), expected {shape} ({dtype.__name__})"
            )
    ends = {
        "sentence_offsets": (int(c.sentence_offsets[-1]), sentences),
        "text_offsets": (int(c.text_offsets[-1]), text_bytes),
        "token_offsets": (int(c.token_offsets[-1]), token_bytes),
    }
    for name, (last, size) in ends.items():
        if last != size:
            raise ChunkStoreError(f"{name}.npy ends at {last}, but its data holds {size}")
    if chunks and (int(c.rows[:, DOCUMENT].max()) >= documents or int(c.rows[:, SECTION].max()) >= sections):
        raise ChunkStoreError("rows.npy names a document or section that names.json does not hold")


def _map(path: Path) -> bytes | mmap.mmap:
    with open(path, "rb") as handle:
        if not path.stat().st_size:
            return b""
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def concatenated_ranges(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(first[i], last[i])`` for every i."""
    lengths = last - first
    starts = np.repeat(first - _offsets(lengths)[:-1], lengths)
    return np.arange(int(lengths.sum()), dtype=np.int64) + starts


def _runs(rows: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) of each run of consecutive rows."""
    breaks = np.flatnonzero(np.diff(rows) != 1)
    firsts = np.concatenate([[rows[0]], rows[breaks + 1]])
    lasts = np.concatenate([rows[breaks], [rows[-1]]])
    return list(zip(firsts.tolist(), lasts.tolist()))
