"""Write the off-topic question sets: real questions asked of documents about something else.

``seed.jsonl``: 150 SQuAD v1.1 and 150 CoNaLa questions asked of the bundled article (``docs/``).
``pydocs.jsonl``: 300 SQuAD v1.1 questions (Wikipedia: sport, history, science) asked of the
Python library pages of ``../shared/eval/conala-pydocs-dev``. None can be answered there; the right
outcome for each is "not found" (or at least "not sure"). Drawn with a fixed seed from the shared
sets, so the files are the same on every machine:

    python bench/eval/offtopic/make.py
    verbatim eval bench/eval/offtopic/seed.jsonl --docs docs
    verbatim eval bench/eval/offtopic/pydocs.jsonl --docs PYDOCS
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2].parent / "shared" / "eval"
SEED = 7

sys.path.insert(0, str(HERE.parents[2]))
from index.evaluation import Question, read_questions  # noqa: E402


def _unanswerable(questions: list[Question], tag: str) -> list[dict]:
    return [{"id": f"{tag}-{q.id}", "question": q.question, "answers": [], "answerable": False} for q in questions]


def main() -> None:
    rng = random.Random(SEED)
    squad = read_questions(SHARED / "squad-v1.1-dev" / "questions.jsonl")
    conala = read_questions(SHARED / "conala-pydocs-dev" / "questions.jsonl")
    sets = {
        "seed": _unanswerable(rng.sample(squad, 150), "squad") + _unanswerable(rng.sample(conala, 150), "conala"),
        "pydocs": _unanswerable(rng.sample(squad, 300), "squad"),
    }
    for name, rows in sets.items():
        text = "".join(json.dumps(r) + "\n" for r in rows)
        (HERE / f"{name}.jsonl").write_text(text, encoding="utf-8")
        print(f"{name}.jsonl: {len(rows)} questions")


if __name__ == "__main__":
    main()
