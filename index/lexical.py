"""BM25 over the chunks, kept as term-frequency postings so that a reindex can update it.

The scores are bm25s's defaults (method "lucene", k1 1.5, b 0.75): for a chunk of length
``dl`` holding a query term ``tf`` times, ``idf * tf / (tf + k1 * (1 - b + b * dl / avgdl))``
with ``idf = log(1 + (N - df + 0.5) / (df + 0.5))``, summed over the query's terms.
bm25s stores those products, which depend on every chunk through ``N``, ``df`` and
``avgdl``, so one changed page means building it all again (102 s at a million chunks).
Here the postings hold only what belongs to each chunk (which chunks hold a term, how
often) and the chunk lengths, and a query computes the products for its own terms' postings.
A reindex then removes the rows of changed pages, renumbers the rest and inserts the new
rows' postings (:meth:`LexicalIndex.updated`), and its scores are those of a fresh build.

On disk (``lexical/``): ``terms.json`` (the vocabulary, in term id order), ``indptr.npy``
(each term's postings start, int64), ``rows.npy`` (int32 chunk rows, term by term),
``counts.npy`` (uint16 term frequencies), ``lengths.npy`` (int32 tokens per chunk). Builds
written before (``bm25/`` by bm25s and ``document_frequency.json``) still load and answer.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.types import Chunk

_WORD = re.compile(r"\w+", re.UNICODE)

K1 = 1.5
B = 0.75
FORMAT = 1
_TF_MAX = np.iinfo(np.uint16).max


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed word tokens without English stop words.

    Single characters are kept when they are digits ("8" in "atomic number 8").
    """
    stop = _stopwords()
    words = [w for w in _WORD.findall(text.lower()) if w not in stop and (len(w) > 1 or w.isdigit())]
    return _stemmer().stemWords(words)


def with_sentence_tokens(chunk: Chunk) -> Chunk:
    """``chunk`` with the tokens of each of its sentences filled in (if they were not)."""
    if len(chunk.sentence_tokens) == len(chunk.sentences):
        return chunk
    tokens = tuple(" ".join(tokenize(chunk.text[a - chunk.start : b - chunk.start])) for a, b in chunk.sentences)
    return dataclasses.replace(chunk, sentence_tokens=tokens)


def chunk_tokens(chunk: Chunk) -> list[str]:
    """All BM25 tokens of a chunk, in order (the same as tokenizing its text: sentences
    cover it but for whitespace)."""
    return [token for sentence in chunk.sentence_tokens for token in sentence.split()]


def inverse_document_frequency(chunks: int, df: int) -> float:
    """bm25s's (Lucene's) inverse document frequency of a term held by ``df`` of ``chunks``."""
    return math.log(1.0 + (chunks - df + 0.5) / (df + 0.5))


@dataclasses.dataclass(frozen=True, slots=True)
class _Postings:
    """Term by term, the chunks that hold it and how often (column-major, like a CSC matrix)."""

    indptr: np.ndarray  # int64, terms + 1
    rows: np.ndarray  # int32
    counts: np.ndarray  # uint16


def _postings(tokens: Sequence[Sequence[str]], vocabulary: dict[str, int]) -> _Postings:
    """The postings of ``tokens`` (row i: chunk i), terms numbered by ``vocabulary``, which
    gains the terms it did not know."""
    lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    total = int(lengths.sum())
    ids = np.fromiter(
        (vocabulary.setdefault(t, len(vocabulary)) for chunk in tokens for t in chunk), dtype=np.int64, count=total
    )
    rows = np.repeat(np.arange(len(tokens), dtype=np.int64), lengths)
    # One sort orders the postings term by term, each term's rows ascending, and counts repeats.
    keys, counts = np.unique(ids * max(len(tokens), 1) + rows, return_counts=True)
    terms, rows = np.divmod(keys, max(len(tokens), 1))
    indptr = np.zeros(len(vocabulary) + 1, dtype=np.int64)
    np.cumsum(np.bincount(terms, minlength=len(vocabulary)), out=indptr[1:])
    return _Postings(indptr, rows.astype(np.int32), np.minimum(counts, _TF_MAX).astype(np.uint16))


class LexicalIndex:
    """BM25 scores of a query's terms over the chunks, and inverse document frequencies."""

    def __init__(self, terms: list[str], postings: _Postings, lengths: np.ndarray) -> None:
        self._terms = terms
        self._vocabulary = {t: i for i, t in enumerate(terms)}
        self._postings = postings
        self._lengths = lengths
        self._size = len(lengths)
        self._df = np.diff(postings.indptr)
        average = float(lengths.mean()) if len(lengths) else 0.0
        # k1 * (1 - b + b * dl / avgdl), per chunk: the part of each score a query does not change.
        norms = K1 * ((1 - B) + B * lengths / average) if average else np.full(len(lengths), K1)
        self._norms = norms.astype(np.float32)

    @classmethod
    def from_tokens(cls, tokens: Sequence[Sequence[str]]) -> LexicalIndex:
        """The index of chunks whose BM25 tokens are ``tokens`` (row i: chunk i)."""
        vocabulary: dict[str, int] = {}
        postings = _postings(tokens, vocabulary)
        lengths = np.fromiter((len(t) for t in tokens), dtype=np.int32, count=len(tokens))
        return cls(list(vocabulary), postings, lengths)

    def updated(self, previous_rows: np.ndarray, new_tokens: Sequence[Sequence[str]]) -> LexicalIndex:
        """This index after a reindex: row i of the new build is row ``previous_rows[i]`` of
        this one, or (where that is -1) the next chunk of ``new_tokens``. The scores are
        those of :meth:`from_tokens` over the new build's chunks; a term no chunk holds any
        more keeps its id, with no postings."""
        previous_rows = np.asarray(previous_rows, dtype=np.int64)
        kept = np.flatnonzero(previous_rows >= 0)
        added = np.flatnonzero(previous_rows < 0)
        if len(added) != len(new_tokens):
            raise ValueError(f"{len(added)} new rows but tokens for {len(new_tokens)}")
        old = self._postings
        moved_to = np.full(self._size, -1, dtype=np.int32)
        moved_to[previous_rows[kept]] = kept
        moved = moved_to[old.rows]
        keep = moved >= 0
        kept_before = np.zeros(len(keep) + 1, dtype=np.int64)
        np.cumsum(keep, out=kept_before[1:])
        indptr = kept_before[old.indptr]  # each term's kept postings, still term by term
        vocabulary = dict(self._vocabulary)
        fresh = _postings(new_tokens, vocabulary)
        indptr = np.concatenate([indptr, np.full(len(vocabulary) - len(self._terms), indptr[-1])])
        fresh_terms = np.repeat(np.arange(len(vocabulary)), np.diff(fresh.indptr))
        # Each new posting goes at the end of its term's run: one pass over the arrays.
        at = indptr[fresh_terms + 1]
        rows = np.insert(moved[keep], at, added[fresh.rows].astype(np.int32))
        counts = np.insert(old.counts[keep], at, fresh.counts)
        indptr = indptr + fresh.indptr
        lengths = np.zeros(len(previous_rows), dtype=np.int32)
        lengths[kept] = self._lengths[previous_rows[kept]]
        lengths[added] = [len(t) for t in new_tokens]
        return LexicalIndex(list(vocabulary), _Postings(indptr, rows, counts), lengths)

    def __len__(self) -> int:
        return self._size

    def terms(self) -> set[str]:
        """Every token some chunk holds."""
        return {self._terms[i] for i in np.flatnonzero(self._df).tolist()}

    def knows(self, token: str) -> bool:
        """True when some chunk holds ``token``."""
        term = self._vocabulary.get(token)
        return term is not None and self._df[term] > 0

    def idf(self, token: str) -> float:
        term = self._vocabulary.get(token)
        df = int(self._df[term]) if term is not None else 0
        return inverse_document_frequency(self._size, df)

    def _matches(self, query_tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The rows holding some query term, and their BM25 scores (float32, as bm25s sums
        them: term by term, a term asked twice counted twice)."""
        parts = []
        for token in query_tokens:
            term = self._vocabulary.get(token)
            if term is None or not self._df[term]:
                continue
            start, end = self._postings.indptr[term], self._postings.indptr[term + 1]
            rows = self._postings.rows[start:end]
            tf = self._postings.counts[start:end].astype(np.float32)
            parts.append((rows, np.float32(self.idf(token)) * tf / (tf + self._norms[rows])))
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if len(parts) == 1:
            return parts[0][0].astype(np.int64), parts[0][1]
        totals = np.zeros(self._size, dtype=np.float32)
        held = np.zeros(self._size, dtype=bool)
        for rows, weights in parts:
            totals[rows] += weights  # a term's rows are distinct
            held[rows] = True
        rows = np.flatnonzero(held)
        return rows, totals[rows]

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """Every chunk's BM25 score for the query (0 where it holds none of its terms)."""
        rows, scores = self._matches(query_tokens)
        out = np.zeros(self._size, dtype=np.float32)
        out[rows] = scores
        return out

    def search(self, query_tokens: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids and BM25 scores of the top ``k`` chunks with a score above zero, best first
        (ties: the lower row first)."""
        rows, scores = self._matches(query_tokens)
        keep = scores > 0
        rows, scores = rows[keep], scores[keep]
        if len(rows) > k:
            # The k best, the ties at the cut broken by row like the rest: the same rows
            # whatever order the postings are in.
            threshold = -np.partition(-scores, k - 1)[k - 1]
            above = np.flatnonzero(scores > threshold)
            tied = np.flatnonzero(scores == threshold)
            tied = tied[np.argsort(rows[tied], kind="stable")[: k - len(above)]]
            top = np.concatenate([above, tied])
            rows, scores = rows[top], scores[top]
        order = np.lexsort((rows, -scores))
        return rows[order], scores[order]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "terms.json").write_text(
            json.dumps({"format": FORMAT, "k1": K1, "b": B, "terms": self._terms}, ensure_ascii=False),
            encoding="utf-8",
        )
        for name, array in (
            ("indptr", self._postings.indptr),
            ("rows", self._postings.rows),
            ("counts", self._postings.counts),
            ("lengths", self._lengths),
        ):
            np.save(folder / f"{name}.npy", array, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex | Bm25sIndex:
        """The index saved in ``folder``; one written by bm25s (builds before the postings)
        as a :class:`Bm25sIndex`."""
        if not (folder / "terms.json").exists():
            return Bm25sIndex.load(folder)
        saved = json.loads((folder / "terms.json").read_text(encoding="utf-8"))

        def array(name: str) -> np.ndarray:
            # Mapped: a query reads the postings of its own terms only. As a plain array:
            # slices of an np.memmap cost a few microseconds more each.
            return np.asarray(np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False))

        postings = _Postings(np.load(folder / "indptr.npy", allow_pickle=False), array("rows"), array("counts"))
        index = cls(saved["terms"], postings, np.load(folder / "lengths.npy", allow_pickle=False))
        if len(index._terms) + 1 != len(postings.indptr) or int(postings.indptr[-1]) != len(postings.rows):
            raise ValueError(f"the postings in {folder} do not match their terms")
        return index


class Bm25sIndex:
    """A build's BM25 as bm25s wrote it (before the postings): it answers, a reindex replaces it."""

    def __init__(self, retriever, document_frequency: dict[str, int], size: int) -> None:  # type: ignore[no-untyped-def]
        self._retriever = retriever
        self._df = document_frequency
        self._size = size
        self._vocab: dict[str, int] = retriever.vocab_dict if retriever is not None else {}

    @classmethod
    def load(cls, folder: Path) -> Bm25sIndex:
        import bm25s

        stats = json.loads((folder / "document_frequency.json").read_text(encoding="utf-8"))
        retriever = bm25s.BM25.load(str(folder / "bm25"), mmap=True) if (folder / "bm25").exists() else None
        return cls(retriever, stats["df"], int(stats["size"]))

    def __len__(self) -> int:
        return self._size

    def terms(self) -> set[str]:
        return {t for t, n in self._df.items() if n > 0}

    def knows(self, token: str) -> bool:
        return self._df.get(token, 0) > 0

    def idf(self, token: str) -> float:
        df = self._df.get(token, 0)
        return inverse_document_frequency(self._size, df)

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        known = [t for t in query_tokens if t in self._vocab]
        if self._retriever is None or not known:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(known), dtype=np.float32)

    def search(self, query_tokens: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self.scores(query_tokens)
        if not len(scores):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]
        return top.astype(np.int64), scores[top]
