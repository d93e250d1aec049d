"""Choosing the quote: the run of one to three sentences of a chunk that best answers.

A span is scored by how much of the question it covers, each question word weighted by
its inverse document frequency, so rare words ("guardrails") count for more than common
ones ("company"). Shorter spans win ties: a quote should be the answer, not its paragraph.
"""

from __future__ import annotations

from dataclasses import dataclass

from index.types import Chunk

MAX_SENTENCES = 3
# Each sentence beyond the first must add at least this much coverage to be worth it.
_EXTRA_SENTENCE_COST = 0.08


@dataclass(frozen=True, slots=True)
class QuoteSpan:
    start: int
    end: int
    coverage: float  # IDF-weighted share of the question's words inside the span


def choose_span(
    chunk: Chunk,
    question_weights: dict[str, float],
    sentence_tokens: list[set[str]],
    max_chars: int,
) -> QuoteSpan:
    """The best span of ``chunk``; ``sentence_tokens[i]`` are the tokens of sentence i."""
    total = sum(question_weights.values()) or 1.0
    sentences = chunk.sentences
    best_key: tuple[float, int] | None = None  # (score, fewer sentences first)
    best_span = (0, 0, 0.0)
    for i in range(len(sentences)):
        covered: set[str] = set()
        for j in range(i, min(i + MAX_SENTENCES, len(sentences))):
            if j > i and sentences[j][1] - sentences[i][0] > max_chars:
                break
            covered |= sentence_tokens[j].intersection(question_weights)
            coverage = sum(question_weights[t] for t in covered) / total
            score = coverage - _EXTRA_SENTENCE_COST * (j - i)
            key = (score, -(j - i))
            if best_key is None or key > best_key:
                best_key = key
                best_span = (i, j, coverage)
    i, j, coverage = best_span
    return QuoteSpan(sentences[i][0], sentences[j][1], coverage)
