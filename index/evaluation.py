"""Answer quality on a question set with gold answers (format: shared eval README).

A question is a hit at rank k when one of its gold answers occurs in the text of the
k-th quote the engine would show; an abstention shows no quotes. Every quote is also
checked against the document file it cites: it must be ``text[start:end]`` exactly.

Two readings of the three outcomes: the strict one counts only confident answers as
answers ("not sure" is an abstention: hit@k, abstain P/R); the loose one counts the
passages shown under "not sure" as answers too (hit@k shown, abstain P/R of "not found").
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from index.engine import Engine, decide
from index.errors import VerbatimError
from index.ingest.documents import parse_document
from index.types import Passage, Retriever

RANKS = (1, 3, 5)


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]
    answerable: bool = True


@dataclass(frozen=True, slots=True)
class QuestionResult:
    """What the engine found for one question, before any threshold is applied."""

    answerable: bool
    relevance: float  # of the most relevant passage shown; the engine abstains below its threshold
    hit_rank: int | None  # rank of the first quote holding a gold answer, within 10
    passages: tuple[Passage, ...]
    confidence: float | None = None  # learned probability that the first passage answers


@dataclass(frozen=True, slots=True)
class Metrics:
    retriever: str
    threshold: float
    questions: int
    answerable: int
    unanswerable: int
    hit_at: dict[int, float]  # confident answers only
    mrr_at_10: float
    abstain_precision: float | None  # strict: not found + not sure
    abstain_recall: float | None
    answerable_abstained: int
    hit_at_shown: dict[int, float]  # confident and "not sure" answers
    not_found_precision: float | None  # loose: not found only
    not_found_recall: float | None
    outcomes: dict[str, int]
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
            "hit_at_shown": {str(k): v for k, v in self.hit_at_shown.items()},
            "not_found_precision": self.not_found_precision,
            "not_found_recall": self.not_found_recall,
            "outcomes": self.outcomes,
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
) -> list[QuestionResult]:
    results = []
    for n, question in enumerate(questions, 1):
        judged = engine.judge(question.question, k=10, retriever=retriever)
        passages = judged.passages
        hit_rank = next(
            (rank for rank, p in enumerate(passages, 1) if any(gold in p.text for gold in question.answers)),
            None,
        )
        # As Engine.ask judges it: over the passages it would show.
        relevance = max((p.relevance for p in passages[: engine.config.top_k]), default=0.0)
        results.append(QuestionResult(question.answerable, relevance, hit_rank, passages, judged.confidence))
        if progress:
            progress(n)
    return results


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def outcomes_of(
    results: Sequence[QuestionResult], *, threshold: float, confidence_thresholds: tuple[float, float]
) -> list[str]:
    """Each question's outcome ("answered", "not_sure", "not_found"), as ``Engine.ask`` decides."""
    return [
        decide(
            relevant=bool(r.passages) and r.relevance >= threshold,
            confidence=r.confidence,
            thresholds=confidence_thresholds,
        )
        for r in results
    ]


def question_details(
    questions: Sequence[Question], results: Sequence[QuestionResult], outcomes: Sequence[str], *, shown: int = 5
) -> Iterator[dict[str, object]]:
    """One record a question: what was asked, the outcome, where the gold answer was
    found, and the quotes shown (the passages to read when looking at misses)."""
    for question, result, outcome in zip(questions, results, outcomes, strict=True):
        yield {
            "id": question.id,
            "question": question.question,
            "answerable": question.answerable,
            "outcome": outcome,
            "hit_rank": result.hit_rank,
            "relevance": round(result.relevance, 4),
            "confidence": None if result.confidence is None else round(result.confidence, 4),
            "passages": [
                {"citation": p.citation, "start": p.start, "end": p.end, "text": p.text}
                for p in result.passages[:shown]
            ],
        }


def score(
    results: Sequence[QuestionResult],
    *,
    retriever: str,
    threshold: float,
    confidence_thresholds: tuple[float, float] = (0.0, 0.0),
    checker: VerbatimChecker | None = None,
    seconds: float = 0.0,
) -> Metrics:
    """Metrics over the quotes the engine would show at ``threshold`` (the relevance floor)
    and ``confidence_thresholds`` (not sure below, not found below)."""
    verdicts = outcomes_of(results, threshold=threshold, confidence_thresholds=confidence_thresholds)
    answerable = [(r, v) for r, v in zip(results, verdicts) if r.answerable]
    unanswerable = [(r, v) for r, v in zip(results, verdicts) if not r.answerable]

    def hits(k: int, shown: tuple[str, ...]) -> float:
        n = len(answerable) or 1
        return sum(1 for r, v in answerable if v in shown and r.hit_rank is not None and r.hit_rank <= k) / n

    abstained = [(r, v) for r, v in zip(results, verdicts) if v != "answered"]
    not_found = [(r, v) for r, v in zip(results, verdicts) if v == "not_found"]
    checked = not_verbatim = 0
    if checker is not None:
        for r, v in zip(results, verdicts):
            for p in r.passages if v != "not_found" else ():
                checked += 1
                not_verbatim += not checker.is_verbatim(p)
    n = len(answerable) or 1
    return Metrics(
        retriever=retriever,
        threshold=threshold,
        questions=len(results),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        hit_at={k: hits(k, ("answered",)) for k in RANKS},
        mrr_at_10=sum(1.0 / r.hit_rank for r, v in answerable if v == "answered" and r.hit_rank) / n,
        abstain_precision=_share(sum(1 for r, _ in abstained if not r.answerable), len(abstained)),
        abstain_recall=_share(sum(1 for _, v in unanswerable if v != "answered"), len(unanswerable)),
        answerable_abstained=sum(1 for _, v in answerable if v != "answered"),
        hit_at_shown={k: hits(k, ("answered", "not_sure")) for k in RANKS},
        not_found_precision=_share(sum(1 for r, _ in not_found if not r.answerable), len(not_found)),
        not_found_recall=_share(sum(1 for _, v in unanswerable if v == "not_found"), len(unanswerable)),
        outcomes={o: verdicts.count(o) for o in ("answered", "not_sure", "not_found")},
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
) -> tuple[Metrics, list[QuestionResult]]:
    started = time.perf_counter()
    outcomes = run_questions(engine, questions, retriever=retriever, progress=progress)
    metrics = score(
        outcomes,
        retriever=retriever,
        threshold=engine.threshold_for(retriever),
        confidence_thresholds=engine.confidence_thresholds(),
        checker=checker,
        seconds=time.perf_counter() - started,
    )
    return metrics, outcomes
