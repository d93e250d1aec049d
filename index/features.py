"""The signals a span is ranked by, and those an answer is judged answerable by.

Pure functions over numbers the search stages already have: the chunk's cosine and BM25
score, the span's IDF-weighted coverage of the question, the dense similarity of its
sentences, its heading, and whether it holds the kind of thing the question asks for
(a number for "how many", a date for "when", a name for "who"). The learned models in
:mod:`index.ranker` read them in the order of :data:`SPAN_FEATURES` and
:data:`ANSWER_FEATURES`; changing either list means retraining (``bench/train_ranker.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from index.types import Chunk

SPAN_FEATURES = (
    "cosine",
    "cosine_gap",  # to the best candidate chunk's cosine
    "bm25_share",  # of the best candidate chunk's BM25 score
    "dense_rank",
    "lexical_rank",
    "coverage",
    "sentence_cosine_mean",
    "sentence_cosine_max",
    "sentence_cosine_gap",  # to the best sentence of the chunk
    "chunk_sentence_cosine_max",
    "sentences",
    "characters",
    "starts_chunk",
    "heading_coverage",
    "question_kind",
    "has_number",
    "has_year",
    "has_month",
    "capitalized_share",
    "missing_weight",  # share of the question's weight absent from the span
    "chunk_coverage",
    "bigram_share",  # of the question's word pairs that the span holds in the same order
    "best_sentence_coverage",
    "coverage_gap",  # to the best span of the same chunk
)

ANSWER_FEATURES = (
    "ranker_score",
    "ranker_margin",  # over the second span
    "cosine",
    "best_cosine",
    "coverage",
    "sentence_cosine_max",
    "missing_weight",
    "unknown_weight",  # share of the question's weight in words the corpus never uses
    "question_kind",
    "kind_match",
    "bm25_best",
    "question_words",
)

# What a question asks for, by its wording.
KIND_OTHER, KIND_QUANTITY, KIND_TIME, KIND_PERSON, KIND_PLACE, KIND_REASON, KIND_MANNER = range(7)
_KINDS = (
    (
        KIND_QUANTITY,
        re.compile(
            r"\bhow (many|much|long|far|old|large|big|tall|high|often|fast)\b|\bwhat (percentage|percent|number|amount|size)\b"
        ),
    ),
    (
        KIND_TIME,
        re.compile(r"\bwhen\b|\bwhat (year|date|day|month|century|decade|time)\b|\bwhich (year|century|day)\b"),
    ),
    (KIND_PERSON, re.compile(r"\bwho\b|\bwhom\b|\bwhose\b")),
    (KIND_PLACE, re.compile(r"\bwhere\b")),
    (KIND_REASON, re.compile(r"\bwhy\b")),
    (KIND_MANNER, re.compile(r"\bhow\b")),
)
# Columns of sentence_signals().
SIGNALS = 4
_DIGIT = re.compile(r"\d")
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
_MONTH = re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|December)\b")
_CAPITALIZED = re.compile(r"\b[A-Z][a-z]+")
_NUMBER_WORDS = re.compile(
    r"\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion|dozen)\b", re.IGNORECASE
)


def question_kind(question: str) -> int:
    lowered = question.lower()
    for kind, pattern in _KINDS:
        if pattern.search(lowered):
            return kind
    return KIND_OTHER


@dataclass(frozen=True, slots=True)
class TextSignals:
    """What a piece of text holds, for matching a question's kind."""

    has_number: bool
    has_year: bool
    has_month: bool
    capitalized_share: float

    @classmethod
    def of(cls, text: str) -> TextSignals:
        words = max(1, text.count(" ") + 1)
        return cls(
            has_number=bool(_DIGIT.search(text) or _NUMBER_WORDS.search(text)),
            has_year=bool(_YEAR.search(text)),
            has_month=bool(_MONTH.search(text)),
            capitalized_share=len(_CAPITALIZED.findall(text)) / words,
        )


def sentence_signals(texts: Iterable[str]) -> np.ndarray:
    """One row of :class:`TextSignals` a text (has number, year, month; capitalized share),
    float32: what the index stores per sentence, so a search does not run these patterns."""
    rows = [(x.has_number, x.has_year, x.has_month, x.capitalized_share) for x in map(TextSignals.of, texts)]
    return np.array(rows, dtype=np.float32).reshape(-1, SIGNALS)


def chunk_signals(chunk: Chunk) -> np.ndarray:
    """:func:`sentence_signals` of each sentence of ``chunk``."""
    return sentence_signals(chunk.text[a - chunk.start : b - chunk.start] for a, b in chunk.sentences)


def kind_match(kind: int, signals: TextSignals) -> float:
    """1 when the text holds what the question's kind asks for, 0 when it can't, 0.5 when
    the kind says nothing (a "what" question)."""
    if kind == KIND_QUANTITY:
        return float(signals.has_number)
    if kind == KIND_TIME:
        return float(signals.has_year or signals.has_month or signals.has_number)
    if kind == KIND_PERSON:
        return float(signals.capitalized_share > 0)
    return 0.5


def answer_features(
    ranked_scores: list[float],
    top: np.ndarray,
    *,
    best_cosine: float,
    unknown_weight: float,
    kind: int,
    match: float,
    bm25_best: float,
    question_words: int,
) -> np.ndarray:
    """The row :data:`ANSWER_FEATURES` describes, from the top span's feature row ``top``."""
    names = SPAN_FEATURES
    margin = ranked_scores[0] - ranked_scores[1] if len(ranked_scores) > 1 else 1.0
    return np.array(
        [
            ranked_scores[0],
            margin,
            top[names.index("cosine")],
            best_cosine,
            top[names.index("coverage")],
            top[names.index("sentence_cosine_max")],
            top[names.index("missing_weight")],
            unknown_weight,
            kind,
            match,
            bm25_best,
            question_words,
        ],
        dtype=np.float32,
    )
