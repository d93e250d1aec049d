"""Ranking: a question in, the best verbatim spans of the index out.

One pipeline, in public stages that the engine and the benchmarks both call::

    query       clean tokens, their IDF weights and (dense/hybrid) the question's vector
    candidates  chunks proposed by the vector store (index.vector_store: FAISS or Qdrant):
                the nearest vectors and the best BM25 word matches
    features    for each candidate chunk, its best quote span and the signals about it
    score       one ranking score and one relevance per span
    select      distinct, non-overlapping spans, best first
    judge       how likely the first span is to answer the question, by the ranker's signals
    read        unless the ranker is sure, the reader (index.reader) reads the question with
                each of the first few spans, reorders them and judges again

Each stage reports its duration to an optional :data:`StageHook`, so ``bench/latency.py``
times the real code instead of a copy of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from index.chunk_store import ChunkTable, concatenated_ranges
from index.embedding import Embedder
from index.errors import InvalidQuestionError
from index.features import (
    SPAN_FEATURES,
    TextSignals,
    answer_features,
    chunk_signals,
    kind_match,
    question_kind,
)
from index.lexical import tokenize
from index.quotes import EXTRA_SENTENCE_COST, MAX_SENTENCES, quote_windows
from index.ranker import Ranker
from index.reader import Reader, answer_logit, reader_features
from index.store import sentence_offsets
from index.types import RETRIEVERS, Chunk, Retriever
from index.vector_store import VectorStore

# How many chunks each retriever contributes as candidates.
CANDIDATES = 30
# Hybrid ranking: cosine similarity of the chunk plus this much of the quote's
# IDF-weighted question coverage. Chosen on the first half of SQuAD v1.1 dev and checked
# on the second half (README, "Answer quality"); 0.8 to 1.3 all score within half a point.
COVERAGE_WEIGHT = 1.0
# Facts of recently seen chunks are cached; this caps the cache. A row's facts take about
# 14 KB with the row itself (token sets and lists per sentence; 31 KB while word pairs were
# sets too, when 50,000 rows grew a long-running engine by 1.5 GB): this many hold about
# 57 MB, a hundred questions' candidates.
_FACTS_CACHE_ROWS = 4_096
# The answerability model reads the first this many selected spans (whatever k was asked).
ANSWER_CONTEXT = 3
# Spans of a chunk the learned ranker scores: the best few by coverage and sentence cosine.
SPANS_PER_CHUNK = 3
# In that pre-ranking, the weight of the best sentence's cosine beside the span's coverage.
SENTENCE_WEIGHT = 0.5
# Question words beyond this many (bits of a 64-bit mask) do not count towards coverage.
_MAX_QUESTION_WORDS = 62
_CHARACTERS = SPAN_FEATURES.index("characters")
_SENTENCE_COSINE_MAX = SPAN_FEATURES.index("sentence_cosine_max")
_QUESTION_WORDS = (
    "what which who whom whose when where why how did does do done were can could would should will shall "
    "may might must many much please tell explain describe"
).split()

STAGES = ("query", "candidates", "features", "score", "select", "judge", "read")
# hook(stage, seconds): called once per stage of every search.
StageHook = Callable[[str, float], None]


@dataclass(frozen=True, slots=True)
class Query:
    """A question as the stages use it."""

    text: str
    tokens: tuple[str, ...]
    weights: dict[str, float]  # IDF of each distinct token
    vector: np.ndarray | None  # None for lexical retrieval
    kind: int = 0  # what the question asks for (index.features.question_kind)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A chunk proposed by a retriever."""

    row: int
    cosine: float  # of the chunk's vector with the question's (0 without one)
    bm25: float  # 0 when BM25 did not propose the chunk


@dataclass(frozen=True, slots=True)
class SpanEvidence:
    """A quotable span of a candidate chunk and the signals about it (``features`` is the
    row :data:`index.features.SPAN_FEATURES` names)."""

    candidate: Candidate
    start: int
    end: int
    coverage: float
    features: np.ndarray


@dataclass(frozen=True, slots=True)
class _ChunkFacts:
    """What the features need of a chunk, worked out once per chunk and cached."""

    sentence_tokens: list[set[str]]
    sentence_words: list[list[str]]  # the tokens in order (for the question's word pairs)
    sentence_signals: np.ndarray  # per sentence: has number, year, month; capitalized share
    sentence_spans: np.ndarray  # per sentence: its (start, end) in the document
    heading_tokens: frozenset[str]
    windows: np.ndarray  # quotable (first, last) sentence runs, one row each


@dataclass(frozen=True, slots=True)
class RankedSpan:
    """A span with its ranking score and its relevance (what the abstain decision reads)."""

    row: int
    start: int
    end: int
    score: float
    relevance: float
    features: np.ndarray  # the span's row of index.features.SPAN_FEATURES


@dataclass(frozen=True, slots=True)
class Ranking:
    """What a search found: distinct spans, best first, and the learned probability that
    the first answers the question (None without the learned models)."""

    spans: list[RankedSpan]
    answerable: float | None


class Searcher:
    """Hybrid retrieval and quote selection over one loaded index. Thread-safe for reads."""

    def __init__(
        self,
        chunks: Sequence[Chunk],
        store: VectorStore,
        embedder: Embedder,
        *,
        quote_max_chars: int,
        sentence_vectors: np.ndarray | None = None,
        ranker: Ranker | None = None,
        reader: Reader | None = None,
    ) -> None:
        self.chunks = chunks
        self.store = store
        self.embedder = embedder
        self.quote_max_chars = quote_max_chars
        self.sentence_vectors = sentence_vectors
        self.sentence_offsets = sentence_offsets(chunks)
        self.ranker = ranker
        # The reader only joins a learned ranking whose scores its settings were fitted to.
        self.reader = reader if ranker is not None and reader is not None and reader.settings else None
        self._chunk_facts: dict[int, _ChunkFacts] = {}

    # ------------------------------------------------------------------ the pipeline
    def search(self, question: str, retriever: Retriever, k: int, *, hook: StageHook | None = None) -> Ranking:
        """The best ``k`` distinct spans for an already cleaned ``question``, and how likely
        the first is to answer it."""
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
        settings = self.reader.settings if self.reader is not None else None
        reading = settings is not None and retriever == "hybrid"
        with _timed(hook, "select"):
            chosen = self.select(ranked, max(k, settings.read_top if settings and reading else 2))
        with _timed(hook, "judge"):
            probability = self.answerability(query, chosen) if retriever == "hybrid" else None
        with _timed(hook, "read"):
            # The reader is consulted where the ranker is not already sure (its settings say how sure).
            if settings is not None and reading and (probability is None or probability < settings.read_below):
                chosen, probability = self.reread(chosen, self.read(query, chosen), probability)
        return Ranking(chosen[: max(k, 1)], probability)

    def query(self, question: str, retriever: Retriever) -> Query:
        tokens = tuple(t for t in tokenize(question) if t not in _question_words())
        # In the question's order, never a set's: the order of the words decides which count
        # towards coverage (the first 62) and how their weights are summed, and a set's order
        # changes with PYTHONHASHSEED, so the same question could get another quote after a restart.
        weights = {t: self.store.idf(t) for t in dict.fromkeys(tokens)}
        vector = self.embedder.embed_query(question) if retriever in ("dense", "hybrid") else None
        return Query(question, tokens, weights, vector, question_kind(question))

    def candidates(self, query: Query, retriever: Retriever) -> list[Candidate]:
        """Candidate chunks: the nearest by embedding, the best by BM25, or both."""
        proposed = self.store.propose(
            query.vector if retriever in ("dense", "hybrid") else None,
            query.tokens if retriever in ("lexical", "hybrid") else None,
            CANDIDATES,
        )
        found: dict[int, Candidate] = {}
        for row, cosine in zip(proposed.dense_rows.tolist(), proposed.dense_cosines.tolist()):
            found[row] = Candidate(row, cosine, 0.0)
        lexical = zip(
            proposed.lexical_rows.tolist(), proposed.lexical_scores.tolist(), proposed.lexical_cosines.tolist()
        )
        for row, bm25, cosine in lexical:
            found[row] = Candidate(row, found[row].cosine if row in found else cosine, bm25)
        return list(found.values())

    def features(self, query: Query, candidates: Sequence[Candidate]) -> list[SpanEvidence]:
        """The most promising spans of each candidate chunk, with their signals.

        Vectorized over all sentences of all candidates: a span's coverage is the weight of
        the OR of its sentences' question-word bitmasks, its sentence cosines a reduceat."""
        candidates = [c for c in candidates if len(self._facts(c.row).windows)]
        if not candidates:
            return []
        facts = [self._facts(c.row) for c in candidates]
        counts = np.array([len(f.sentence_tokens) for f in facts], dtype=np.int64)
        sentence_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        cosines = self._sentence_cosines(query, candidates, counts)
        words = list(query.weights)[:_MAX_QUESTION_WORDS]
        word_weights = np.array([query.weights[w] for w in words], dtype=np.float64)
        total = float(word_weights.sum()) or 1.0
        masks = _bitmasks(words, [tokens for f in facts for tokens in f.sentence_tokens])
        signals = np.concatenate([f.sentence_signals for f in facts])
        pairs = list(dict.fromkeys(zip(query.tokens, query.tokens[1:])))[:_MAX_QUESTION_WORDS]
        pair_masks = _pair_bitmasks(
            pairs,
            [held for f in facts for held in f.sentence_tokens],
            [words for f in facts for words in f.sentence_words],
        )

        def weight(mask: np.ndarray) -> np.ndarray:
            present = (mask[:, None] >> np.arange(len(words), dtype=np.int64)) & 1
            return (present @ word_weights) / total

        # Every quotable window of every candidate, as global sentence indexes.
        window_counts = np.array([len(f.windows) for f in facts], dtype=np.int64)
        owner = np.repeat(np.arange(len(facts), dtype=np.int64), window_counts)
        windows = np.concatenate([f.windows for f in facts]) + sentence_start[owner, None]
        first, last = windows[:, 0], windows[:, 1]
        lengths = last - first + 1
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        members = np.arange(int(lengths.sum())) - np.repeat(starts, lengths) + np.repeat(first, lengths)
        coverage = weight(np.bitwise_or.reduceat(masks[members], starts))
        sentence_coverage = weight(masks)
        best_sentence_coverage = np.maximum.reduceat(sentence_coverage[members], starts)
        window_groups = np.concatenate([[0], np.cumsum(window_counts)[:-1]])
        coverage_gap = coverage - np.maximum.reduceat(coverage, window_groups)[owner]
        pair_bits = np.bitwise_or.reduceat(pair_masks[members], starts)
        pair_share = (
            ((pair_bits[:, None] >> np.arange(len(pairs), dtype=np.int64)) & 1).sum(axis=1) / len(pairs)
            if pairs
            else np.zeros(len(starts))
        )
        cosine_max = np.maximum.reduceat(cosines[members], starts)
        cosine_mean = np.add.reduceat(cosines[members], starts) / lengths
        held = np.maximum.reduceat(signals[members, :3], starts)
        capitalized = np.add.reduceat(signals[members, 3], starts) / lengths

        # The best few windows of each candidate by coverage and sentence cosine.
        cheap = coverage + SENTENCE_WEIGHT * cosine_max - EXTRA_SENTENCE_COST * np.minimum(lengths - 1, MAX_SENTENCES)
        order = np.lexsort((lengths, -cheap, owner))
        group_start = np.searchsorted(owner[order], owner[order], side="left")
        keep = order[(np.arange(len(order)) - group_start) < SPANS_PER_CHUNK]

        # Chunk-level signals.
        chunk_cosine = np.array([c.cosine for c in candidates], dtype=np.float32)
        chunk_bm25 = np.array([c.bm25 for c in candidates], dtype=np.float32)
        chunk_coverage = weight(np.bitwise_or.reduceat(masks, sentence_start))
        best_sentence = np.maximum.reduceat(cosines, sentence_start)
        heading = np.array([sum(query.weights[w] for w in words if w in f.heading_tokens) / total for f in facts])
        dense_rank = np.array(_ranks(chunk_cosine.tolist()), dtype=np.float32)
        lexical_rank = np.array(_ranks(chunk_bm25.tolist()), dtype=np.float32)

        k = owner[keep]
        chunk_first = first[keep] - sentence_start[k]
        rows = np.column_stack(
            [
                chunk_cosine[k],
                chunk_cosine[k] - chunk_cosine.max(),
                chunk_bm25[k] / (chunk_bm25.max() or 1.0),
                dense_rank[k],
                lexical_rank[k],
                coverage[keep],
                cosine_mean[keep],
                cosine_max[keep],
                cosine_max[keep] - best_sentence[k],
                best_sentence[k],
                lengths[keep],
                np.zeros(len(keep)),  # characters, filled below
                chunk_first == 0,
                heading[k],
                np.full(len(keep), query.kind),
                held[keep, 0],
                held[keep, 1],
                held[keep, 2],
                capitalized[keep],
                1.0 - coverage[keep],
                chunk_coverage[k],
                pair_share[keep],
                best_sentence_coverage[keep],
                coverage_gap[keep],
            ]
        ).astype(np.float32)
        spans = np.concatenate([f.sentence_spans for f in facts])
        starts, ends = spans[first[keep], 0], spans[last[keep], 1]
        rows[:, _CHARACTERS] = ends - starts
        return [
            SpanEvidence(candidates[owner_index], start, end, span_coverage, row)
            for owner_index, start, end, span_coverage, row in zip(
                k.tolist(), starts.tolist(), ends.tolist(), coverage[keep].tolist(), rows
            )
        ]

    def score(self, evidence: Sequence[SpanEvidence], retriever: Retriever) -> list[RankedSpan]:
        """Every span scored, best first. Hybrid retrieval ranks by the learned model (when
        one is loaded); dense and lexical rank by their own score, one span per chunk."""
        if not evidence:
            return []
        if retriever == "hybrid" and self.ranker is not None:
            scores = self.ranker.span_scores(np.vstack([e.features for e in evidence]))
            ranked = [
                RankedSpan(e.candidate.row, e.start, e.end, float(score), span_relevance(e), e.features)
                for e, score in zip(evidence, scores.tolist())
            ]
        else:
            ranked = []
            seen: set[int] = set()
            for e in evidence:  # a chunk's spans come best first
                c = e.candidate
                if retriever != "hybrid" and c.row in seen:
                    continue
                seen.add(c.row)
                if retriever == "hybrid":
                    score, relevance = c.cosine + COVERAGE_WEIGHT * e.coverage, span_relevance(e)
                elif retriever == "dense":
                    score, relevance = c.cosine, span_relevance(e)
                else:
                    score, relevance = c.bm25, e.coverage
                ranked.append(RankedSpan(c.row, e.start, e.end, score, relevance, e.features))
        ranked.sort(key=lambda r: -r.score)
        return ranked

    def answerability(self, query: Query, chosen: Sequence[RankedSpan]) -> float | None:
        """The learned probability that the first of the ``chosen`` spans answers the
        question (None without a model, or for lexical retrieval, which has no cosine)."""
        if self.ranker is None or not chosen or query.vector is None:
            return None
        return self.ranker.answer_probability(self.answer_row(query, chosen))

    def answer_row(self, query: Query, chosen: Sequence[RankedSpan]) -> np.ndarray:
        """The :data:`index.features.ANSWER_FEATURES` row of a search whose selected spans,
        best first, are ``chosen`` (the training script calls this too)."""
        shown = chosen[:ANSWER_CONTEXT]
        total = sum(query.weights.values()) or 1.0
        unknown = sum(w for t, w in query.weights.items() if not self.store.knows(t)) / total
        top = shown[0]
        return answer_features(
            [r.score for r in shown[:2]],
            top.features,
            best_cosine=max(r.relevance for r in shown),
            unknown_weight=unknown,
            kind=query.kind,
            match=kind_match(query.kind, self._span_signals(top)),
            bm25_best=float(top.features[SPAN_FEATURES.index("bm25_share")]),
            question_words=len(query.tokens),
        )

    def read(self, query: Query, chosen: Sequence[RankedSpan]) -> np.ndarray:
        """The reader's logit for each of the first few chosen spans (its settings say how many)."""
        assert self.reader is not None and self.reader.settings is not None
        read_top = self.reader.settings.read_top
        return self.reader.logits(query.text, [self.span_text(r) for r in chosen[:read_top]])

    def reread(
        self, chosen: Sequence[RankedSpan], logits: np.ndarray, probability: float | None
    ) -> tuple[list[RankedSpan], float]:
        """The read spans reordered by ranker score plus the reader's weighted logit (the
        rest after them, as they were), and the probability that the new first one answers."""
        assert self.reader is not None and self.reader.settings is not None
        settings = self.reader.settings
        read = len(logits)
        combined = [r.score + settings.weight * float(v) for r, v in zip(chosen[:read], logits.tolist())]
        order = sorted(range(read), key=lambda i: -combined[i])
        spans = [replace(chosen[i], score=combined[i]) for i in order] + list(chosen[read:])
        row = reader_features(probability, [float(logits[i]) for i in order])
        odds = answer_logit(row, settings.coefficients, settings.intercept)
        return spans, float(1.0 / (1.0 + np.exp(-odds)))

    def span_text(self, span: RankedSpan) -> str:
        chunk = self.chunks[span.row]
        return chunk.text[span.start - chunk.start : span.end - chunk.start]

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
    def _facts(self, row: int) -> _ChunkFacts:
        facts = self._chunk_facts.get(row)
        if facts is None:
            chunk = self.chunks[row]
            if len(chunk.sentence_tokens) == len(chunk.sentences):
                ordered = [t.split() for t in chunk.sentence_tokens]
            else:  # an index written before tokens were stored
                ordered = [tokenize(chunk.text[a - chunk.start : b - chunk.start]) for a, b in chunk.sentences]
            facts = _ChunkFacts(
                sentence_tokens=[set(t) for t in ordered],
                sentence_words=ordered,
                sentence_signals=(
                    self.chunks.sentence_signals(row) if isinstance(self.chunks, ChunkTable) else chunk_signals(chunk)
                ),
                sentence_spans=np.array(chunk.sentences, dtype=np.int64).reshape(-1, 2),
                heading_tokens=frozenset(tokenize(" ".join(chunk.section))),
                windows=np.array(quote_windows(chunk, self.quote_max_chars), dtype=np.int64).reshape(-1, 2),
            )
            if len(self._chunk_facts) >= _FACTS_CACHE_ROWS:
                self._chunk_facts.clear()  # bounded memory on huge indexes; refills with hot rows
            self._chunk_facts[row] = facts
        return facts

    def _sentence_cosines(self, query: Query, candidates: Sequence[Candidate], counts: np.ndarray) -> np.ndarray:
        """The cosine with the question of every sentence of the candidates, one after the
        other (``counts`` a candidate; the chunk's own cosine for every sentence when the
        index has no sentence vectors or the query no vector)."""
        if self.sentence_vectors is None or query.vector is None:
            return np.repeat(np.array([c.cosine for c in candidates], dtype=np.float32), counts)
        first = self.sentence_offsets[[c.row for c in candidates]]
        rows = concatenated_ranges(first, first + counts)
        return (np.asarray(self.sentence_vectors[rows], dtype=np.float32) @ query.vector).astype(np.float32)

    def _span_signals(self, span: RankedSpan) -> TextSignals:
        return TextSignals.of(self.span_text(span))


@lru_cache(maxsize=1)
def _question_words() -> frozenset[str]:
    """How a question is asked ("what", "how many", "did"): never what it is about. BM25's
    stop list keeps them, and as words no document uses they would weigh most."""
    return frozenset(tokenize(" ".join(_QUESTION_WORDS)))


def _bitmasks(asked: list[str], held: list[set[str]]) -> np.ndarray:
    """For each set of ``held`` words, bit i set when it holds ``asked[i]``."""
    bit = {w: 1 << i for i, w in enumerate(asked)}
    wanted = set(asked)
    return np.fromiter(
        (sum(map(bit.__getitem__, found)) if (found := words & wanted) else 0 for words in held),
        dtype=np.int64,
        count=len(held),
    )


def _pair_bitmasks(pairs: list[tuple[str, str]], held: list[set[str]], ordered: list[list[str]]) -> np.ndarray:
    """For each sentence (its words as a set and in order), bit i set when it holds the
    words of ``pairs[i]`` one right after the other. Only a sentence holding two of the
    pairs' words (one, for a word repeated: "words, words") is read word by word."""
    bit = {pair: 1 << i for i, pair in enumerate(pairs)}
    wanted = {word for pair in pairs for word in pair}
    needed = 1 if any(a == b for a, b in pairs) else 2
    masks = np.zeros(len(held), dtype=np.int64)
    for n, (words, sequence) in enumerate(zip(held, ordered)):
        if len(words & wanted) >= needed:
            masks[n] = sum({bit[pair] for pair in zip(sequence, sequence[1:]) if pair in bit})
    return masks


def span_relevance(evidence: SpanEvidence) -> float:
    """How related a span is to the question: its chunk's cosine, or its best sentence's when
    higher (a chunk about several things can hold the one sentence that answers)."""
    return max(evidence.candidate.cosine, float(evidence.features[_SENTENCE_COSINE_MAX]))


def _ranks(values: list[float]) -> list[int]:
    """0 for the largest value, 1 for the next, ...; zeros (not proposed) rank last."""
    order = sorted(range(len(values)), key=lambda i: -values[i])
    ranks = [0] * len(values)
    for rank, i in enumerate(order):
        ranks[i] = rank if values[i] > 0 else len(values)
    return ranks


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
