"""Answer quality on a question set with gold answers (format: shared eval README).

A question is a hit at rank k when one of its gold answers occurs in the text of the
k-th quote the engine would show; an abstention shows no quotes. Every quote is also
checked against the document file it cites: it must be ``text[start:end]`` exactly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from index.documents import parse_document
from index.engine import Engine, abstains
from index.errors import VerbatimError
from index.types import Passage, Retriever

RANKS = (1, 3, 5)


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]
    answerable: bool = True


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the engine did with one question, before any threshold is applied."""

    answerable: bool
    relevance: float  # of the best passage; the engine abstains below its threshold
    hit_rank: int | None  # rank of the first quote holding a gold answer, within 10
    passages: tuple[Passage, ...]


@dataclass(frozen=True, slots=True)
class Metrics:
    retriever: str
    threshold: float
    questions: int
    answerable: int
    unanswerable: int
    hit_at: dict[int, float]
    mrr_at_10: float
    abstain_precision: float | None
    abstain_recall: float | None
    answerable_abstained: int
    quotes_checked: int
    quotes_not_verbatim: int
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return {
            "retriever": self.retriever,
            "threshold": self.threshold,
            "questions": self.questions,
            "answerable": self.answerable,
            "unanswerable": self.unanswerable,
            "hit_at": {str(k): v for k, v in self.hit_at.items()},
            "mrr_at_10": self.mrr_at_10,
            "abstain_precision": self.abstain_precision,
            "abstain_recall": self.abstain_recall,
            "answerable_abstained": self.answerable_abstained,
            "quotes_checked": self.quotes_checked,
            "quotes_not_verbatim": self.quotes_not_verbatim,
            "all_quotes_verbatim": self.quotes_not_verbatim == 0,
            "seconds": round(self.seconds, 2),
        }


def read_questions(path: Path) -> list[Question]:
    """Questions from a ``.jsonl`` file, or from ``questions.jsonl`` inside a folder."""
    if path.is_dir():
        path = path / "questions.jsonl"
    questions = []
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise VerbatimError(f"Cannot read the question set {path}: {exc.strerror}.") from exc
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                answers = tuple(raw.get("answers") or ())
                answerable = bool(raw.get("answerable", bool(answers)))
                questions.append(Question(str(raw["id"]), str(raw["question"]), answers, answerable))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise VerbatimError(f"{path}, line {number}: not a question record ({exc}).") from exc
    return questions


def default_documents_dir(questions_path: Path) -> Path | None:
    """A question set folder carries its documents in ``docs/`` beside the questions."""
    folder = questions_path if questions_path.is_dir() else questions_path.parent
    return folder / "docs" if (folder / "docs").is_dir() else None


class VerbatimChecker:
    """Confirms quotes against the document files themselves, not the index's copy."""

    def __init__(self, documents_dir: Path) -> None:
        self._root = documents_dir
        self._texts: dict[str, str] = {}

    def is_verbatim(self, passage: Passage) -> bool:
        if passage.document not in self._texts:
            data = (self._root / passage.document).read_bytes()
            self._texts[passage.document] = parse_document(passage.document, data).text
        return self._texts[passage.document][passage.start : passage.end] == passage.text


def run_questions(
    engine: Engine,
    questions: Iterable[Question],
    *,
    retriever: Retriever,
    progress: Callable[[int], None] | None = None,
) -> list[Outcome]:
    outcomes = []
    for n, question in enumerate(questions, 1):
        passages = tuple(engine.search(question.question, k=10, retriever=retriever))
        hit_rank = next(
            (rank for rank, p in enumerate(passages, 1) if any(gold in p.text for gold in question.answers)),
            None,
        )
        relevance = passages[0].relevance if passages else 0.0
        outcomes.append(Outcome(question.answerable, relevance, hit_rank, passages))
        if progress:
            progress(n)
    return outcomes


def score(
    outcomes: Sequence[Outcome],
    *,
    retriever: str,
    threshold: float,
    checker: VerbatimChecker | None = None,
    seconds: float = 0.0,
) -> Metrics:
    """Metrics over the quotes the engine would show at ``threshold``."""
    answerable = [o for o in outcomes if o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]
    shown = [None if abstains(list(o.passages), threshold) else o for o in outcomes]

    def hit(o: Outcome, k: int) -> bool:
        return o.hit_rank is not None and o.hit_rank <= k

    answered = [o for o in shown if o is not None and o.answerable]
    abstained_unanswerable = sum(1 for o, s in zip(outcomes, shown) if s is None and not o.answerable)
    abstained_answerable = sum(1 for o, s in zip(outcomes, shown) if s is None and o.answerable)
    abstained = abstained_unanswerable + abstained_answerable
    checked = not_verbatim = 0
    if checker is not None:
        for o in shown:
            for p in o.passages if o is not None else ():
                checked += 1
                not_verbatim += not checker.is_verbatim(p)
    n = len(answerable) or 1
    return Metrics(
        retriever=retriever,
        threshold=threshold,
        questions=len(outcomes),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        hit_at={k: sum(hit(o, k) for o in answered) / n for k in RANKS},
        mrr_at_10=sum(1.0 / o.hit_rank for o in answered if o.hit_rank) / n,
        abstain_precision=abstained_unanswerable / abstained if abstained else None,
        abstain_recall=abstained_unanswerable / len(unanswerable) if unanswerable else None,
        answerable_abstained=abstained_answerable,
        quotes_checked=checked,
        quotes_not_verbatim=not_verbatim,
        seconds=seconds,
    )


def evaluate(
    engine: Engine,
    questions: Sequence[Question],
    *,
    retriever: Retriever,
    checker: VerbatimChecker | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Metrics, list[Outcome]]:
    started = time.perf_counter()
    outcomes = run_questions(engine, questions, retriever=retriever, progress=progress)
    metrics = score(
        outcomes,
        retriever=retriever,
        threshold=engine.threshold_for(retriever),
        checker=checker,
        seconds=time.perf_counter() - started,
    )
    return metrics, outcomes
