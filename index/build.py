"""Building and incrementally updating the index on disk.

Only new or changed documents (by content hash) are parsed and embedded again; chunks
and vectors of unchanged ones are carried over from the live build; deleted ones are
dropped. Nothing replaces the live build until the new one is complete.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from index.chunk_store import ChunkTable
from index.config import EngineConfig
from index.embedding import Embedder, embed_with_sentences
from index.errors import IndexMismatchError, NoDocumentsError, VerbatimError
from index.ingest.chunking import ChunkingParams
from index.ingest.documents import Candidate, DocumentRoot, DocumentSkipped, discover_roots, parse_document, read_bytes
from index.loading import chunks_of
from index.store import (
    FORMAT_VERSION,
    DocumentRecord,
    IndexDirectory,
    Manifest,
    read_chunks,
    read_manifest,
    read_sentence_vectors,
    refresh_records,
    write_chunks,
    write_manifest,
    write_sentence_vectors,
)
from index.types import BuildReport, Chunk, SkippedFile
from index.vector_store import FaissBackend, PreviousBuild, VectorBackend, store_kind, vector_backend

log = logging.getLogger(__name__)

# The manifest's name for the documents folder indexed without a sources file.
FOLDER_SOURCE = ""
# The sentence splitter's version, kept in the manifest's chunking: 2 keeps each code block whole.
SENTENCE_SPLITTER = 2

# progress(stage, done, total): stages are "reading" and "embedding".
Progress = Callable[[str, int, int], None]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in ("verbatim", "sentence-transformers", "faiss-cpu", "bm25s", "numpy", "torch"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def embedding_input(chunk: Chunk, title: str) -> str:
    """What the model reads for a chunk: its heading path (or the document title) as
    context, then its text. The stored, quotable text is the chunk's own."""
    context = " › ".join(chunk.section) if chunk.section else title
    return f"{context}\n{chunk.text}"


@dataclass
class _Previous:
    folder: Path
    manifest: Manifest
    records: dict[str, DocumentRecord]
    chunks_by_document: dict[str, np.ndarray]
    chunks: ChunkTable
    vectors: np.ndarray
    sentence_vectors: np.ndarray


def _load_previous(directory: IndexDirectory, config: EngineConfig, embedder: Embedder) -> _Previous | None:
    """The live build, if it can be reused: same model and chunking, and intact."""
    if not directory.exists():
        return None
    try:
        build = directory.current_build()
        manifest = read_manifest(build, expected_model=embedder.name)
        if manifest.chunking != chunking_manifest(config.chunking):
            log.info("chunking_changed_full_rebuild")
            return None
        chunks = read_chunks(build)
        # From the store the live build was written to, which may not be the configured one.
        vectors = vector_backend(config, store_kind(manifest)).stored_vectors(build, manifest)
        # Mapped: only the rows carried over are read, once.
        sentence_vectors = read_sentence_vectors(build, mmap=True)
        if sentence_vectors is None or len(vectors) != len(chunks) or len(sentence_vectors) != chunks.sentence_count:
            return None
    except IndexMismatchError as exc:
        log.info("model_changed_full_rebuild", extra={"reason": exc.message})
        return None
    except VerbatimError as exc:
        log.warning("previous_index_unusable_full_rebuild", extra={"reason": exc.message})
        return None
    return _Previous(build, manifest, manifest.documents, chunks.rows_of_documents(), chunks, vectors, sentence_vectors)


def chunking_manifest(params: ChunkingParams) -> dict[str, int]:
    """How chunks were cut, as the manifest records it: an index cut otherwise is re-chunked.
    "sentences" versions the splitter (code blocks kept whole: 2)."""
    return {"max_chars": params.max_chars, "overlap": params.overlap, "sentences": SENTENCE_SPLITTER}


def build_index(
    config: EngineConfig,
    embedder: Embedder,
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
    roots: list[DocumentRoot] | None = None,
    sources: dict[str, dict[str, Any]] | None = None,
) -> BuildReport:
    """Bring the index in ``config.index_dir`` up to date with ``roots`` (the synced sources),
    or without them with ``config.documents_dir``. ``sources`` is recorded in the manifest."""
    started = time.perf_counter()
    if roots is None:
        roots = [DocumentRoot(_documents_folder(Path(config.documents_dir)))]
        # Remembered, so that a later plain "verbatim index" indexes this folder again.
        sources = {FOLDER_SOURCE: {"kind": "folder", "location": str(roots[0].folder.resolve())}}
    directory = IndexDirectory(Path(config.index_dir))
    with directory.write_lock():
        previous = None if rebuild else _load_previous(directory, config, embedder)
        plan = _plan(roots, previous, config, progress)
        if previous is not None and _nothing_new(plan, previous, sources or {}, config):
            # Writing the same build again would cost as much as any reindex (a minute and
            # 8 GB of writes at a million chunks), on every scheduled refresh.
            if plan.records != previous.records:  # file times to keep, so they are not read again
                refresh_records(previous.folder, plan.records)
            directory.remove_leftovers()
            report = replace(
                _report(plan, previous, config, time.perf_counter() - started), built_at=previous.manifest.built_at
            )
            log.info("index_up_to_date", extra={"summary": report.summary})
            return report
        chunks = plan.table()
        if not len(chunks):
            where = ", ".join(str(r.folder) for r in roots)
            raise NoDocumentsError(
                f"Nothing to index in {where}: no readable .md, .txt, .rst, .html or .pdf files.",
                hint="Add documents there, or point VERBATIM_DOCS_DIR at your documents.",
            )
        vectors, sentence_vectors = _vectors_for(
            chunks, plan.reused_rows, previous, embedder, plan.titles, config.batch_size, progress
        )
        write_build(
            directory,
            chunks,
            vectors,
            model=embedder.name,
            chunking=chunking_manifest(config.chunking),
            built_at=plan.built_at,
            documents=plan.records,
            sentence_vectors=sentence_vectors,
            sources=sources,
            skipped=plan.skipped_hashes,
            backend=vector_backend(config),
            previous=None
            if previous is None
            else PreviousBuild(
                previous.folder, previous.manifest, len(previous.chunks), np.asarray(plan.reused_rows, dtype=np.int64)
            ),
        )
    report = _report(plan, previous, config, time.perf_counter() - started)
    log.info("index_built", extra={"summary": report.summary})
    return report


def _documents_folder(root: Path) -> Path:
    if root.is_file():
        raise NoDocumentsError(
            f"{root} is a file; Verbatim indexes a folder of documents.",
            hint=f"Put it in a folder and index that (e.g. docs/, or {root.parent}).",
        )
    if not root.is_dir():
        raise NoDocumentsError(
            f"The documents folder {root} does not exist.", hint="Set VERBATIM_DOCS_DIR or pass a folder."
        )
    return root


@dataclass
class _Plan:
    """What the new build holds: each chunk, and where its vector comes from."""

    built_at: str
    # The chunks in order: runs of rows of the previous build's table, and new chunks.
    parts: list[tuple[ChunkTable, np.ndarray]] = field(default_factory=list)
    new_chunks: list[Chunk] = field(default_factory=list)
    _reused: list[np.ndarray] = field(default_factory=list)
    _reused_from: ChunkTable | None = None
    reused_rows: list[int] = field(default_factory=list)  # previous vector row per chunk, or -1
    records: dict[str, DocumentRecord] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    skipped: list[SkippedFile] = field(default_factory=list)
    # Content hashes of files read but not indexed: unchanged, they are no news at start-up.
    skipped_hashes: dict[str, str] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def reuse(self, table: ChunkTable, rows: np.ndarray) -> None:
        """Carry ``rows`` of ``table`` over (consecutive calls make one part)."""
        self._flush_new()
        self._reused.append(rows)
        self._reused_from = table
        self.reused_rows.extend(rows.tolist())

    def add(self, chunks: list[Chunk]) -> None:
        self._flush_reused()
        self.new_chunks.extend(chunks)
        self.reused_rows.extend([-1] * len(chunks))

    def table(self) -> ChunkTable:
        """All chunks of the new build, as one table."""
        self._flush_reused()
        self._flush_new()
        return ChunkTable.concatenate(self.parts)

    def _flush_new(self) -> None:
        if self.new_chunks:
            self.parts.append((ChunkTable.from_chunks(self.new_chunks), np.arange(len(self.new_chunks))))
            self.new_chunks = []

    def _flush_reused(self) -> None:
        if self._reused and self._reused_from is not None:
            self.parts.append((self._reused_from, np.concatenate(self._reused)))
            self._reused = []


def _plan(
    roots: list[DocumentRoot], previous: _Previous | None, config: EngineConfig, progress: Progress | None
) -> _Plan:
    """Read every document; reuse the chunks of those whose content hash is unchanged."""
    candidates, skipped = discover_roots(roots)
    plan = _Plan(built_at=_now(), skipped=list(skipped))
    for n, candidate in enumerate(candidates, 1):
        if progress:
            progress("reading", n, len(candidates))
        name = candidate.relative
        root = candidate.root
        link = root.link_for(name[len(root.prefix) :]) if root else None
        source = root.source if root else None
        digest = None
        old = previous.records.get(name) if previous else None
        # The same size and time as when it was read: not read again (at a million chunks,
        # reading and hashing every page took 10 s of a one-page reindex).
        if previous is not None and old is not None and old.unmodified(candidate.size, candidate.mtime_ns):
            _reuse(plan, previous, replace(old, link=link, source=source))
            continue
        try:
            read_at = time.time_ns()
            data = read_bytes(candidate, config.max_document_bytes)
            digest = hashlib.sha256(data).hexdigest()
            size, mtime_ns = _status(candidate, read_at)
            if previous is not None and old is not None and old.sha256 == digest:
                # Same text, maybe a new commit or a touched file: the link follows, the vectors stay.
                _reuse(plan, previous, replace(old, link=link, source=source, size=size, mtime_ns=mtime_ns))
                continue
            document = parse_document(name, data)
            document_chunks = chunks_of(document, config.chunking)
        except DocumentSkipped as exc:
            plan.skipped.append(SkippedFile(name, str(exc)))
            if digest is not None:
                plan.skipped_hashes[name] = digest
            continue
        except Exception as exc:  # one broken file never stops a build
            log.warning("document_failed", extra={"document": name}, exc_info=True)
            plan.skipped.append(SkippedFile(name, f"could not be parsed ({type(exc).__name__}: {exc})"))
            continue
        plan.add(document_chunks)
        plan.records[name] = DocumentRecord(
            path=name,
            sha256=digest,
            title=document.title,
            indexed_at=plan.built_at,
            chunks=len(document_chunks),
            source_url=document.source_url,
            link=link,
            anchors=tuple((h.start, h.anchor) for h in document.headings if h.anchor),
            source=source,
            size=size,
            mtime_ns=mtime_ns,
        )
        plan.titles[name] = document.title
        (plan.added if old is None else plan.changed).append(name)
    for item in plan.skipped:
        log.warning("document_skipped", extra={"document": item.path, "reason": item.reason})
    return plan


# A file modified less than this before it was read may change again within the same
# timestamp tick (coarse clocks, some network file systems): its time is not trusted.
_RACY_NS = 2_000_000_000


def _status(candidate: Candidate, read_at: int) -> tuple[int, int | None]:
    """The size and modification time a record keeps to skip reading the file next time
    (no time when it cannot be trusted)."""
    trusted = 0 < candidate.mtime_ns < read_at - _RACY_NS
    return candidate.size, candidate.mtime_ns if trusted else None


def _reuse(plan: _Plan, previous: _Previous, record: DocumentRecord) -> None:
    """Carry an unchanged document's chunks and vectors over."""
    name = record.path
    plan.reuse(previous.chunks, previous.chunks_by_document.get(name, np.zeros(0, dtype=np.int64)))
    plan.records[name] = record
    plan.titles[name] = record.title
    plan.unchanged.append(name)


def _nothing_new(plan: _Plan, previous: _Previous, sources: dict[str, dict[str, Any]], config: EngineConfig) -> bool:
    """True when the live build already holds what ``plan`` would write: the same documents
    with the same records (but for the file times a record keeps), skips, sources, store
    and format."""
    if plan.added or plan.changed or set(plan.records) != set(previous.records):
        return False
    manifest = previous.manifest
    if (
        manifest.format_version != FORMAT_VERSION
        or store_kind(manifest) != config.vector_store
        or plan.skipped_hashes != manifest.skipped
        or sources != manifest.sources
    ):
        return False
    return all(
        replace(record, size=None, mtime_ns=None) == replace(previous.records[name], size=None, mtime_ns=None)
        for name, record in plan.records.items()
    )


def _report(plan: _Plan, previous: _Previous | None, config: EngineConfig, seconds: float) -> BuildReport:
    return BuildReport(
        added=tuple(plan.added),
        changed=tuple(plan.changed),
        removed=tuple(sorted(set(previous.records) - set(plan.records))) if previous else (),
        unchanged=tuple(plan.unchanged),
        skipped=tuple(plan.skipped),
        chunks=len(plan.reused_rows),
        embedded_chunks=sum(1 for r in plan.reused_rows if r < 0),
        seconds=seconds,
        index_dir=str(config.index_dir),
        built_at=plan.built_at,
        rebuilt=previous is None,
    )


def write_build(
    directory: IndexDirectory,
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    *,
    model: str,
    chunking: dict[str, int],
    built_at: str,
    documents: dict[str, DocumentRecord],
    dense_kind: str | None = None,
    sentence_vectors: np.ndarray | None = None,
    sources: dict[str, dict[str, Any]] | None = None,
    skipped: dict[str, str] | None = None,
    backend: VectorBackend | None = None,
    previous: PreviousBuild | None = None,
) -> None:
    """Write one complete build (chunks, vectors and lexical side in the vector store,
    manifest) and make it live. ``backend``: FAISS (of ``dense_kind``) unless given;
    ``previous``: the live build it updates, whose indexes the backend may update instead
    of building them again.

    Without ``sentence_vectors`` a sentence is judged by its chunk's vector (benchmarks)."""
    table = ChunkTable.from_chunks(chunks)
    backend = backend or FaissBackend(dense_kind)
    manifest_fields = {
        "model": model,
        "dimension": int(vectors.shape[1]),
        "chunking": chunking,
        "versions": library_versions(),
        "built_at": built_at,
        "documents": documents,
        "sources": sources or {},
        "skipped": skipped or {},
    }
    name = ""
    try:
        with directory.new_build() as folder:
            name = folder.name.removesuffix(".partial")
            _write_build_files(folder, name, table, vectors, sentence_vectors, backend, manifest_fields, previous)
    except BaseException:
        if name:
            backend.discard(name)
        raise
    backend.publish(name)


def _write_build_files(
    folder: Path,
    name: str,
    chunks: ChunkTable,
    vectors: np.ndarray,
    sentence_vectors: np.ndarray | None,
    backend: VectorBackend,
    manifest_fields: dict[str, Any],
    previous: PreviousBuild | None,
) -> None:
    write_chunks(folder, chunks)
    if sentence_vectors is not None:
        write_sentence_vectors(folder, sentence_vectors)
    store = backend.write(folder, name, vectors, chunks, previous)
    write_manifest(folder, {**manifest_fields, "dense_index": store.pop("dense_index"), "vector_store": store})


def _runs_of(reused: np.ndarray) -> list[tuple[int, int, int]]:
    """(new row, previous row, count) of each run of carried rows that are consecutive in
    both builds."""
    kept = np.flatnonzero(reused >= 0)
    if not len(kept):
        return []
    breaks = np.flatnonzero((np.diff(kept) != 1) | (np.diff(reused[kept]) != 1)) + 1
    firsts = np.concatenate([[0], breaks])
    lasts = np.concatenate([breaks, [len(kept)]])
    return [(int(kept[f]), int(reused[kept[f]]), int(e - f)) for f, e in zip(firsts.tolist(), lasts.tolist())]


def _vectors_for(
    chunks: ChunkTable,
    reused_rows: list[int],
    previous: _Previous | None,
    embedder: Embedder,
    titles: dict[str, str],
    batch_size: int,
    progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Chunk vectors and sentence vectors: carried over for reused chunks, embedded for the rest."""
    reused = np.asarray(reused_rows, dtype=np.int64)
    todo = np.flatnonzero(reused < 0).tolist()
    dimension = previous.vectors.shape[1] if previous is not None else embedder.dimension
    vectors = np.zeros((len(chunks), dimension), dtype=np.float32)
    offsets = chunks.sentence_offsets
    sentence_vectors = np.zeros((int(offsets[-1]), dimension), dtype=np.float16)
    if previous is not None:
        old_offsets = previous.chunks.sentence_offsets
        # Run by run of consecutive rows, each one slice copy: at a million chunks a gather
        # row by row took 20 s, and a run is what a reindex keeps between changed pages.
        for new, old, count in _runs_of(reused):
            vectors[new : new + count] = previous.vectors[old : old + count]
            sentence_vectors[offsets[new] : offsets[new + count]] = previous.sentence_vectors[
                old_offsets[old] : old_offsets[old + count]
            ]
    step = max(batch_size * 8, 1)
    for done in range(0, len(todo), step):
        batch = todo[done : done + step]
        texts, spans = [], []
        for i in batch:
            chunk = chunks[i]
            text = embedding_input(chunk, titles[chunk.document])
            shift = len(text) - len(chunk.text) - chunk.start  # the chunk's text ends the input
            texts.append(text)
            spans.append([(a + shift, b + shift) for a, b in chunk.sentences])
        batch_vectors, batch_sentences = embed_with_sentences(embedder, texts, spans, batch_size=batch_size)
        vectors[batch] = batch_vectors
        sentence_rows = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in batch])
        sentence_vectors[sentence_rows] = batch_sentences
        if progress:
            progress("embedding", done + len(batch), len(todo))
    if progress and not todo:
        progress("embedding", 0, 0)
    return vectors, sentence_vectors
