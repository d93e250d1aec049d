"""Check that every gold answer of a question set occurs in the text the engine reads.

Usage: python bench/eval/neartopic/check_answers.py QUESTIONS.jsonl DOCS_DIR

Each page is read with the engine's own reader (``index.ingest.documents.parse_document``), so
an answer counts only if a quote could contain it. A question with a ``docs`` list must
be answered on one of those pages; one without, on any page. Prints the counts and the
answers that are missing; exits 1 if any answer is missing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from index.ingest import parse_document


def read_pages(docs: Path) -> dict[str, str]:
    pages = {}
    for path in sorted(p for p in docs.rglob("*") if p.is_file()):
        relative = path.relative_to(docs).as_posix()
        try:
            pages[relative] = parse_document(relative, path.read_bytes()).text
        except Exception as exc:  # noqa: BLE001 - a skipped page is reported, not fatal
            print(f"skipped {relative}: {exc}", file=sys.stderr)
    return pages


def check(questions: Path, docs: Path) -> dict[str, object]:
    pages = read_pages(docs)
    records = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    answers = found = questions_all_found = 0
    missing: list[tuple[str, str]] = []
    for record in records:
        where = [pages[d] for d in record.get("docs", []) if d in pages] if record.get("docs") else list(pages.values())
        ok = True
        for answer in record.get("answers", []):
            answers += 1
            if any(answer in text for text in where):
                found += 1
            else:
                ok = False
                missing.append((record["id"], answer))
        questions_all_found += ok and bool(record.get("answers"))
    answerable = sum(1 for r in records if r.get("answers"))
    return {
        "pages": len(pages),
        "questions": len(records),
        "answerable": answerable,
        "answers": answers,
        "answers_found": found,
        "questions_with_every_answer": questions_all_found,
        "missing": missing,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    result = check(Path(argv[1]), Path(argv[2]))
    missing = result.pop("missing")
    print(json.dumps(result))
    for qid, answer in missing:  # type: ignore[union-attr]
        print(f"missing {qid}: {answer!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
