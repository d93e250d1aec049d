"""Topics of unanswered questions and the record's figures (no discord, no database)."""

from __future__ import annotations

import time

import numpy as np

from bot.community.gaps import cluster, gaps, per_day, stats
from bot.community.record import DAY, QuestionRow
from tests.conftest import HashingEmbedder

NOW = 1_790_000_000.0


def row(
    n: int,
    question: str,
    outcome: str = "not_found",
    *,
    at: float = NOW,
    downvoted: bool = False,
    channel: int = 1,
    latency: float = 10.0,
) -> QuestionRow:
    return QuestionRow(n, at, 9, channel, 100 + n, "command", question, outcome, latency, (), downvoted)


RATE = [
    "What are the API rate limits?",
    "what are the rate limits of the API",
    "What are the API rate limits per minute?",
]
REFUNDS = ["How do I get a refund for my order?", "refund for my order please", "Can I get a refund for an order?"]


def test_rephrasings_become_one_topic_labelled_by_its_most_central_question() -> None:
    rows = [row(n, q, at=NOW + n) for n, q in enumerate(RATE * 3 + REFUNDS)]
    rows.append(row(99, "What are the API rate limits?", "answered"))  # answered, not a gap
    rows.append(row(98, "Do you ship to Mars?", "not_sure"))
    found = gaps(rows, HashingEmbedder().embed_documents)
    assert [(g.count, set(g.questions)) for g in found] == [
        (9, set(RATE)),
        (3, set(REFUNDS)),
        (1, {"Do you ship to Mars?"}),
    ]
    assert found[0].label in RATE and found[0].last_seen == NOW + 8
    assert found[2].outcomes == (("not_sure", 1),)


def test_a_downvoted_answer_is_a_gap_and_says_so() -> None:
    found = gaps([row(1, RATE[0], "answered", downvoted=True), row(2, RATE[1])], HashingEmbedder().embed_documents)
    [topic] = found
    assert topic.count == 2 and topic.outcomes == (("not_found", 1), ("voted_down", 1))


def test_identical_wordings_are_embedded_once() -> None:
    embedder = HashingEmbedder()
    gaps([row(n, "  What are the API RATE limits? ") for n in range(50)], embedder.embed_documents)
    assert len(embedder.embedded) == 1


def test_clustering_separates_orthogonal_directions_whatever_the_order() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3]
    vectors = np.vstack([c + 0.1 * rng.standard_normal((20, 8)) for c in centres])
    order = rng.permutation(len(vectors))
    groups = cluster(vectors[order])
    assert sorted(len(g) for g in groups) == [20, 20, 20]
    for group in groups:
        assert len({int(order[i]) // 20 for i in group}) == 1
    assert cluster(np.zeros((0, 8))) == []


def test_stats_count_outcomes_feedback_channels_and_the_slowest() -> None:
    rows = [
        row(1, "a", "answered", channel=5, latency=100.0),
        row(2, "b", "answered", channel=5, latency=900.0),
        row(3, "c", "not_sure", channel=6, latency=50.0),
        row(4, "d", "not_found", channel=5, latency=300.0),
    ]
    figures = stats(rows, {"up": 3, "down": 1, "dismiss": 2}, top=2)
    assert (figures.questions, figures.answered, figures.not_sure, figures.not_found) == (4, 2, 1, 1)
    assert figures.answered_share == 0.5 and (figures.up, figures.down, figures.dismissed) == (3, 1, 2)
    assert figures.busiest_channels == ((5, 3), (6, 1))
    assert figures.slowest == (("b", 900.0), ("d", 300.0)) and figures.median_latency_ms == 200.0
    assert stats([], {}).answered_share == 0.0


def test_per_day_fills_the_days_nobody_asked() -> None:
    start = time.mktime((2026, 11, 1, 12, 0, 0, 0, 0, -1))
    days = per_day(
        [row(1, "a", "answered", at=start), row(2, "b", at=start + 2 * DAY), row(3, "c", at=start + 2 * DAY)]
    )
    assert [(d.total, d.answered, d.not_found) for d in days] == [(1, 1, 0), (0, 0, 0), (2, 0, 2)]
