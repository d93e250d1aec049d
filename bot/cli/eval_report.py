"""``verbatim eval``: run a question set and print a table (or JSON) of the metrics."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from bot.cli.progress import build_progress
from bot.engine_factory import make_embedder, open_index
from bot.settings import Settings
from index import RETRIEVERS
from index.errors import NoDocumentsError
from index.evaluation import (
    Metrics,
    QuestionResult,
    VerbatimChecker,
    default_documents_dir,
    outcomes_of,
    question_details,
    read_questions,
    run_questions,
    score,
)

SWEEP = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def metrics_table(rows: list[Metrics]) -> str:
    header = (
        "retriever",
        "hit@1",
        "hit@3",
        "hit@5",
        "MRR@10",
        "shown@1",
        "shown@5",
        "abst.P",
        "abst.R",
        "notfound.P",
        "notfound.R",
        "answered/not sure/not found",
        "verbatim",
    )
    body = [
        (
            m.retriever,
            _percent(m.hit_at[1]),
            _percent(m.hit_at[3]),
            _percent(m.hit_at[5]),
            f"{m.mrr_at_10:.3f}",
            _percent(m.hit_at_shown[1]),
            _percent(m.hit_at_shown[5]),
            _percent(m.abstain_precision),
            _percent(m.abstain_recall),
            _percent(m.not_found_precision),
            _percent(m.not_found_recall),
            "/".join(str(m.outcomes[o]) for o in ("answered", "not_sure", "not_found")),
            f"{m.quotes_checked - m.quotes_not_verbatim}/{m.quotes_checked}",
        )
        for m in rows
    ]
    widths = [max(len(str(r[i])) for r in (header, *body)) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, body)])


def sweep_table(outcomes: list[QuestionResult], retriever: str, confidence: tuple[float, float]) -> str:
    """Abstain precision/recall across relevance floors (the learned cuts held fixed)."""
    lines = ["threshold  hit@1  abstained(answerable)  abst.P  abst.R"]
    for t in SWEEP:
        m = score(outcomes, retriever=retriever, threshold=t, confidence_thresholds=confidence)
        lines.append(
            f"{t:9.2f}  {_percent(m.hit_at[1]):>5}  {m.answerable_abstained:>21}  "
            f"{_percent(m.abstain_precision):>6}  {_percent(m.abstain_recall):>6}"
        )
    return "\n".join(lines)


def eval_index_dir(settings: Settings, documents: Path) -> Path:
    """A separate, reusable index per evaluated documents folder."""
    key = hashlib.sha256(str(documents.resolve()).encode()).hexdigest()[:10]
    return settings.index_dir.parent / "eval" / f"{documents.resolve().name}-{key}"


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    questions = read_questions(args.questions)
    if args.limit:
        questions = questions[: args.limit]
    # Like ask: the folder named, else the question set's own, else the one the index was built from.
    documents = args.docs or default_documents_dir(args.questions) or settings.documents_dir()
    if not Path(documents).is_dir():
        raise NoDocumentsError(f"The documents folder {documents} does not exist.", hint="Pass it with --docs DIR.")
    overrides = {
        "docs_dir": documents,
        "index_dir": args.index_dir or eval_index_dir(settings, Path(documents)),
    }
    settings = settings.model_copy(update=overrides)
    config = settings.engine_config()
    embedder = make_embedder(settings)
    with build_progress() as progress:
        engine, report = open_index(config, embedder, build="always", progress=progress)
    assert report is not None
    print(f"Index: {report.chunks} chunks from {documents} ({report.summary})", file=sys.stderr)
    checker = VerbatimChecker(Path(documents))
    retrievers = RETRIEVERS if args.retriever == "all" else (args.retriever,)
    rows: list[Metrics] = []
    sweeps: list[str] = []
    details: list[dict[str, object]] = []
    for retriever in retrievers:
        import time

        started = time.perf_counter()
        outcomes = run_questions(engine, questions, retriever=retriever)
        threshold = args.threshold if args.threshold is not None else engine.threshold_for(retriever)
        confidence = engine.confidence_thresholds()
        rows.append(
            score(
                outcomes,
                retriever=retriever,
                threshold=threshold,
                confidence_thresholds=confidence,
                checker=checker,
                seconds=time.perf_counter() - started,
            )
        )
        if args.details:
            details.extend(
                {"retriever": retriever, **record}
                for record in question_details(
                    questions,
                    outcomes,
                    outcomes_of(outcomes, threshold=threshold, confidence_thresholds=confidence),
                )
            )
        if args.sweep:
            sweeps.append(f"\n{retriever}:\n{sweep_table(outcomes, retriever, confidence)}")
    if args.details:
        with open(args.details, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in details)
        print(f"Wrote {len(details)} question records to {args.details}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {"questions": str(args.questions), "documents": str(documents), "results": [m.to_dict() for m in rows]},
                indent=2,
            )
        )
    else:
        print(f"{len(questions)} questions ({rows[0].answerable} answerable) on {documents}\n")
        print(metrics_table(rows))
        print(
            '\nhit@k: confident answers only; shown@k: with the passages shown as "not sure"; '
            "abst.: not found + not sure; notfound.: not found only."
        )
        for sweep in sweeps:
            print(sweep)
    return 0 if all(m.quotes_not_verbatim == 0 for m in rows) else 3
