"""Ranking: a question in, the best verbatim spans of the index out.

One pipeline, in public stages that the engine and the benchmarks both call::

    query       clean tokens, their IDF weights and (dense/hybrid) the question's vector
    candidates  chunks proposed by FAISS (nearest vectors) and BM25 (best word matches)
    features    for each candidate chunk, its best quote span and the signals about it
    score       one ranking score and one relevance per span
    select      distinct, non-overlapping spans, best first

Each stage reports its duration to an optional :data:`StageHook`, so ``bench/latency.py``
times the real code instead of a copy of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from index.dense import search_dense
from index.embedding import Embedder
from index.errors import InvalidQuestionError
from index.lexical import LexicalIndex, tokenize
from index.quotes import QuoteSpan, choose_span
from index.types import RETRIEVERS, Chunk, Retriever

# How many chunks each retriever contributes as candidates.
CANDIDATES = 30
# Hybrid ranking: cosine similarity of the chunk plus this much of the quote's
# IDF-weighted question coverage. Chosen on the first half of SQuAD v1.1 dev and checked
# on the second half (README, "Answer quality"); 0.8 to 1.3 all score within half a point.
COVERAGE_WEIGHT = 1.0
# Tokenized sentences of recently quoted chunks are cached; this caps the cache.
_TOKEN_CACHE_ROWS = 50_000

STAGES = ("query", "candidates", "features", "score", "select")
# hook(stage, seconds): called once per stage of every search.
StageHook = Callable[[str, float], None]


@dataclass(frozen=True, slots=True)
class Query:
    """A question as the stages use it."""

    text: str
    tokens: tuple[str, ...]
    weights: dict[str, float]  # IDF of each distinct token
    vector: np.ndarray | None  # None for lexical retrieval


@dataclass(frozen=True, slots=True)
class Candidate:
    """A chunk proposed by a retriever."""

    row: int
    cosine: float  # of the chunk's vector with the question's (0 without one)
    bm25: float  # 0 when BM25 did not propose the chunk


@dataclass(frozen=True, slots=True)
class SpanEvidence:
    """The best quote span of one candidate chunk and what speaks for it."""

    candidate: Candidate
    span: QuoteSpan


@dataclass(frozen=True, slots=True)
class RankedSpan:
    """A span with its ranking score and its relevance (what the abstain decision reads)."""

    row: int
    start: int
    end: int
    score: float
    relevance: float


class Searcher:
    """Hybrid retrieval and quote selection over one loaded index. Thread-safe for reads."""

    def __init__(
        self,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        dense,  # type: ignore[no-untyped-def]
        lexical: LexicalIndex,
        embedder: Embedder,
        *,
        quote_max_chars: int,
    ) -> None:
        self.chunks = chunks
        self.vectors = vectors
        self.dense = dense
        self.lexical = lexical
        self.embedder = embedder
        self.quote_max_chars = quote_max_chars
        self._sentence_tokens: dict[int, list[set[str]]] = {}

    # ------------------------------------------------------------------ the pipeline
    def search(
        self, question: str, retriever: Retriever, k: int, *, hook: StageHook | None = None
    ) -> list[RankedSpan]:
        """The best ``k`` distinct spans for an already cleaned ``question``."""
        if retriever not in RETRIEVERS:
            raise InvalidQuestionError(f"Unknown retriever {retriever!r}; choose one of {', '.join(RETRIEVERS)}.")
        with _timed(hook, "query"):
            query = self.query(question, retriever)
        with _timed(hook, "candidates"):
            candidates = self.candidates(query, retriever)
        with _timed(hook, "features"):
            evidence = self.features(query, candidates)
        with _timed(hook, "score"):
            ranked = self.score(evidence, retriever)
        with _timed(hook, "select"):
            return self.select(ranked, k)

    def query(self, question: str, retriever: Retriever) -> Query:
        tokens = tuple(tokenize(question))
        weights = {t: self.lexical.idf(t) for t in set(tokens)}
        vector = self.embedder.embed_query(question) if retriever in ("dense", "hybrid") else None
        return Query(question, tokens, weights, vector)

    def candidates(self, query: Query, retriever: Retriever) -> list[Candidate]:
        """Candidate chunks: the nearest by embedding, the best by BM25, or both."""
        found: dict[int, Candidate] = {}
        if query.vector is not None and retriever in ("dense", "hybrid"):
            rows, scores = search_dense(self.dense, query.vector, CANDIDATES)
            for row, cosine in zip(rows.tolist(), scores.tolist()):
                found[row] = Candidate(row, cosine, 0.0)
        if retriever in ("lexical", "hybrid"):
            rows, scores = self.lexical.search(list(query.tokens), CANDIDATES)
            for row, bm25 in zip(rows.tolist(), scores.tolist()):
                if row in found:
                    found[row] = Candidate(row, found[row].cosine, bm25)
                else:
                    cosine = float(self.vectors[row] @ query.vector) if query.vector is not None else 0.0
                    found[row] = Candidate(row, cosine, bm25)
        return list(found.values())

    def features(self, query: Query, candidates: Sequence[Candidate]) -> list[SpanEvidence]:
        return [
            SpanEvidence(c, choose_span(self.chunks[c.row], query.weights, self.tokens_of(c.row), self.quote_max_chars))
            for c in candidates
        ]

    def score(self, evidence: Sequence[SpanEvidence], retriever: Retriever) -> list[RankedSpan]:
        """Every span scored, best first."""
        ranked = []
        for item in evidence:
            c, span = item.candidate, item.span
            if retriever == "hybrid":
                score, relevance = c.cosine + COVERAGE_WEIGHT * span.coverage, c.cosine
            elif retriever == "dense":
                score, relevance = c.cosine, c.cosine
            else:
                score, relevance = c.bm25, span.coverage
            ranked.append(RankedSpan(c.row, span.start, span.end, score, relevance))
        ranked.sort(key=lambda r: -r.score)
        return ranked

    def select(self, ranked: Sequence[RankedSpan], k: int) -> list[RankedSpan]:
        """The first ``k`` spans that do not overlap a better one of the same document."""
        chosen: list[RankedSpan] = []
        taken: dict[str, list[tuple[int, int]]] = {}
        for item in ranked:
            document = self.chunks[item.row].document
            if any(a < item.end and item.start < b for a, b in taken.get(document, [])):
                continue  # overlapping chunks must not quote the same words twice
            taken.setdefault(document, []).append((item.start, item.end))
            chosen.append(item)
            if len(chosen) >= max(k, 1):
                break
        return chosen

    # ------------------------------------------------------------------ helpers
    def tokens_of(self, row: int) -> list[set[str]]:
        """The BM25 tokens of each sentence of chunk ``row``."""
        cached = self._sentence_tokens.get(row)
        if cached is None:
            chunk = self.chunks[row]
            if len(chunk.sentence_tokens) == len(chunk.sentences):
                cached = [set(tokens.split()) for tokens in chunk.sentence_tokens]
            else:  # an index written before tokens were stored
                cached = [set(tokenize(chunk.text[a - chunk.start : b - chunk.start])) for a, b in chunk.sentences]
            if len(self._sentence_tokens) >= _TOKEN_CACHE_ROWS:
                self._sentence_tokens.clear()  # bounded memory on huge indexes; refills with hot rows
            self._sentence_tokens[row] = cached
        return cached


@contextmanager
def _timed(hook: StageHook | None, stage: str) -> Iterator[None]:
    if hook is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        hook(stage, time.perf_counter() - started)
