"""Plain-text rendering of answers and reports for the terminal.

Quotes are printed as Markdown-style block quotes; their text is written as is (never
through a markup parser, so brackets or asterisks in a document cannot change it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from bot.citation import citation
from bot.errors import NOT_IN_DOCUMENTS, NOT_SURE, NOT_SURE_DETAIL
from index import Answer, BuildReport, Passage


def quote_block(passage: Passage) -> str:
    quoted = "\n".join("> " + line if line else ">" for line in passage.text.splitlines())
    link = f"\n    {passage.source_url}" if passage.source_url else ""
    return f"{quoted}\n  — {citation(passage)}{link}"


def render_answer(answer: Answer) -> str:
    if answer.abstained:
        lines = [NOT_IN_DOCUMENTS]
        if answer.suggestions:
            lines.append("Nearest sections:")
            lines += [f"  • {s.label}" for s in answer.suggestions]
        return "\n".join(lines)
    quotes = "\n\n".join(quote_block(p) for p in answer.passages)
    if answer.outcome == "not_sure":
        return f"{NOT_SURE} {NOT_SURE_DETAIL}\n\n{quotes}"
    return quotes


# ``ask --json`` and ``search --json`` print one shape (README, Command line): an object with the
# question, the retriever, when the index was built and the passages, each with its citation;
# an answer adds its outcome, confidence and suggestions.


def _passage_json(passage: Passage) -> dict[str, Any]:
    return asdict(passage) | {"citation": citation(passage)}


def answer_json(answer: Answer) -> str:
    data = asdict(answer) | {"passages": [_passage_json(p) for p in answer.passages]}
    return json.dumps(data, ensure_ascii=False, indent=2)


def search_json(question: str, passages: Sequence[Passage], retriever: str, index_built_at: str) -> str:
    data = {
        "question": question,
        "retriever": retriever,
        "index_built_at": index_built_at,
        "passages": [_passage_json(p) for p in passages],
    }
    return json.dumps(data, ensure_ascii=False, indent=2)


def render_build_report(report: BuildReport, verbose: bool = False) -> str:
    documents = len(report.added) + len(report.changed) + len(report.unchanged)
    lines = [
        f"Indexed {report.chunks} chunks from {documents} document{'s' if documents != 1 else ''} "
        f"in {report.seconds:.1f} s ({report.embedded_chunks} embedded).",
        f"  added {len(report.added)}, changed {len(report.changed)}, removed {len(report.removed)}, "
        f"unchanged {len(report.unchanged)}, skipped {len(report.skipped)}",
    ]
    lines[0:0] = [f"Synced {line}" for line in report.fetches]
    limit = None if verbose else 10
    for label, names in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        for name in names[:limit]:
            lines.append(f"  {label}: {name}")
        if limit is not None and len(names) > limit:
            lines.append(f"  … and {len(names) - limit} more {label} (use --verbose)")
    for item in report.skipped[:limit]:
        lines.append(f"  skipped: {item.path} ({item.reason})")
    if limit is not None and len(report.skipped) > limit:
        lines.append(f"  … and {len(report.skipped) - limit} more skipped (use --verbose)")
    lines.append(f"Index: {report.index_dir}")
    return "\n".join(lines)
