"""What the documents are missing: questions grouped into topics, and the record's figures.

Pure functions over :class:`~bot.record.QuestionRow` lists and embedding matrices (no
discord, no database): ``/unanswered``, ``/stats`` and ``verbatim report`` all read these.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from bot.community.record import QuestionRow

#: Cosine similarity above which two questions are one topic. Measured on the packaged model:
#: rephrasings of one question score 0.6-0.9, different questions on one subject 0.3-0.55.
TOPIC_SIMILARITY = 0.55


def is_gap(row: QuestionRow) -> bool:
    """A question the documents did not answer well: not found, not sure, or voted down / dismissed."""
    return row.outcome != "answered" or row.downvoted


@dataclass(frozen=True, slots=True)
class Gap:
    """One topic people asked about: its most central question, how often, and when last."""

    label: str
    count: int
    last_seen: float
    questions: tuple[str, ...]
    outcomes: tuple[tuple[str, int], ...]


def cluster(vectors: np.ndarray, threshold: float = TOPIC_SIMILARITY) -> list[list[int]]:
    """Group unit vectors whose cosine similarity to the group's centroid is at least ``threshold``.

    One greedy pass (each vector joins the nearest centroid, or starts a topic), then one pass
    re-assigning every vector to its nearest final centroid, so the result does not depend much
    on order. O(n × topics), fine for the tens of thousands a report may hold."""
    if len(vectors) == 0:
        return []
    vectors = np.asarray(vectors, dtype=np.float32)
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sums: list[np.ndarray] = []
    counts: list[int] = []
    centroids = np.zeros((0, vectors.shape[1]), dtype=np.float32)
    for vector in vectors:
        if len(sums):
            similarity = centroids @ vector
            best = int(np.argmax(similarity))
            if similarity[best] >= threshold:
                sums[best] = sums[best] + vector
                counts[best] += 1
                centroids[best] = _unit(sums[best])
                continue
        sums.append(vector.copy())
        counts.append(1)
        centroids = np.vstack([centroids, vector[None, :]])
    assignment = np.argmax(vectors @ centroids.T, axis=1)
    groups: dict[int, list[int]] = defaultdict(list)
    for index, topic in enumerate(assignment):
        groups[int(topic)].append(index)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


@dataclass(frozen=True, slots=True)
class Asked:
    """The gap questions by distinct wording (case and spacing ignored): each is embedded once,
    so a report over many thousand questions embeds each wording, not each asking."""

    texts: tuple[str, ...]
    rows: tuple[tuple[QuestionRow, ...], ...]


def gap_questions(rows: Sequence[QuestionRow]) -> Asked:
    by_text: dict[str, list[QuestionRow]] = defaultdict(list)
    for row in rows:
        if is_gap(row):
            by_text[" ".join(row.question.lower().split())].append(row)
    return Asked(tuple(r[0].question for r in by_text.values()), tuple(tuple(r) for r in by_text.values()))


def topics(asked: Asked, vectors: np.ndarray, *, threshold: float = TOPIC_SIMILARITY) -> list[Gap]:
    """The gap questions as topics, largest first; ``vectors[i]`` embeds ``asked.texts[i]``."""
    if not asked.texts:
        return []
    vectors = np.asarray(vectors, dtype=np.float32)
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    weights = np.array([len(r) for r in asked.rows], dtype=np.float32)
    found = []
    for members in cluster(vectors, threshold):
        # The label is the wording nearest the topic's centre, each wording weighed by how often it was asked.
        centroid = _unit((vectors[members] * weights[members, None]).sum(axis=0))
        central = members[int(np.argmax(vectors[members] @ centroid))]
        rows = [row for m in members for row in asked.rows[m]]
        outcomes = Counter("voted_down" if r.outcome == "answered" else r.outcome for r in rows)
        found.append(
            Gap(
                label=asked.texts[central],
                count=len(rows),
                last_seen=max(r.asked_at for r in rows),
                questions=tuple(asked.texts[m] for m in members),
                outcomes=tuple(sorted(outcomes.items())),
            )
        )
    return sorted(found, key=lambda g: (-g.count, -g.last_seen))


def gaps(
    rows: Sequence[QuestionRow], embed: Callable[[list[str]], np.ndarray], *, threshold: float = TOPIC_SIMILARITY
) -> list[Gap]:
    """:func:`gap_questions` then :func:`topics`, embedding with ``embed`` (blocking)."""
    asked = gap_questions(rows)
    return topics(asked, embed(list(asked.texts)) if asked.texts else np.zeros((0, 1)), threshold=threshold)


@dataclass(frozen=True, slots=True)
class Stats:
    questions: int
    answered: int
    not_sure: int
    not_found: int
    up: int
    down: int
    dismissed: int
    busiest_channels: tuple[tuple[int, int], ...]
    slowest: tuple[tuple[str, float], ...]
    median_latency_ms: float | None

    @property
    def answered_share(self) -> float:
        return self.answered / self.questions if self.questions else 0.0


def stats(rows: Sequence[QuestionRow], feedback: dict[str, int], *, top: int = 5) -> Stats:
    outcomes = Counter(r.outcome for r in rows)
    channels = Counter(r.channel_id for r in rows if r.channel_id is not None)
    timed = sorted((r for r in rows if r.latency_ms is not None), key=lambda r: -(r.latency_ms or 0.0))
    latencies = [r.latency_ms for r in timed if r.latency_ms is not None]
    return Stats(
        questions=len(rows),
        answered=outcomes["answered"],
        not_sure=outcomes["not_sure"],
        not_found=outcomes["not_found"],
        up=feedback.get("up", 0),
        down=feedback.get("down", 0),
        dismissed=feedback.get("dismiss", 0),
        busiest_channels=tuple(channels.most_common(top)),
        slowest=tuple((r.question, r.latency_ms or 0.0) for r in timed[:top]),
        median_latency_ms=float(np.median(latencies)) if latencies else None,
    )


@dataclass(frozen=True, slots=True)
class Day:
    day: str
    answered: int
    not_sure: int
    not_found: int

    @property
    def total(self) -> int:
        return self.answered + self.not_sure + self.not_found


def per_day(rows: Sequence[QuestionRow]) -> list[Day]:
    """Questions per UTC day by outcome, every day from the first to the last (empty days too)."""
    if not rows:
        return []
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        counts[_day(row.asked_at)][row.outcome] += 1
    first = datetime.fromtimestamp(min(r.asked_at for r in rows), UTC).date()
    last = datetime.fromtimestamp(max(r.asked_at for r in rows), UTC).date()
    days = []
    for ordinal in range(first.toordinal(), last.toordinal() + 1):
        name = datetime.fromordinal(ordinal).date().isoformat()
        c = counts.get(name, Counter())
        days.append(Day(name, c["answered"], c["not_sure"], c["not_found"]))
    return days


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
