"""Determinism: the same question gets the same quotes in every process, and an index
updated document by document answers as a rebuild of the same documents does.

1. Incremental against rebuilt. A folder of the SQuAD v1.1 dev articles and the seed corpus:
   half of the articles are indexed, then the other half and the seed document are added and
   the index is updated (only the new documents are embedded, in other batches than a full
   build makes); the same folder is then indexed afresh (``verbatim index --rebuild``).
   Compared: chunk and sentence vectors, bit for bit, and the passages both indexes quote for
   every question of ``seed_dev.jsonl`` and ``--squad-questions`` SQuAD questions (spread over
   the set).
2. Hash seeds. ``verbatim ask --json`` in a fresh process under each ``--seeds``
   ``PYTHONHASHSEED`` value, for every seed_dev question; the SQuAD questions by one fresh
   process a seed (which loads the model once). Compared: the passages and their order.

Each build's embedding throughput is printed too, but the fair before/after comparison of a
change to the embedder is ``bench/build.py`` run alternately on both commits
(``bench/results/determinism-throughput.json``). ``determinism-before.json`` is this script on
the commit before each text was embedded alone.

    python bench/determinism.py [--squad-questions 200] [--seeds 12,14,16]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import REPO, SHARED, SQUAD, machine_header, save_result

SEED_QUESTIONS = SHARED / "eval" / "seed_dev.jsonl"
SEED_DOCUMENT = SHARED / "corpus" / "anthropic-dod-standoff.txt"
K = 3


def passages_of(answer: dict) -> list[list[object]]:  # type: ignore[type-arg]
    """What a reader sees of an answer: each passage's document and span, in order."""
    return [[p["document"], p["start"], p["end"]] for p in answer["passages"]]


def answers(index_dir: Path, docs: Path, questions: list[str]) -> list[list[list[object]]]:
    """The passages one engine quotes for each question (best first; empty when it abstains)."""
    from index import EngineConfig
    from index.engine import Engine
    from index.onnx_embedding import make_embedder

    engine = Engine.load(EngineConfig(documents_dir=docs, index_dir=index_dir), make_embedder(backend="onnx-int8"))
    return [[[p.document, p.start, p.end] for p in engine.ask(q, k=K).passages] for q in questions]


def build(docs: Path, index_dir: Path, *, rebuild: bool) -> dict[str, float]:
    from index import EngineConfig, build_index
    from index.onnx_embedding import make_embedder

    embedder = make_embedder(backend="onnx-int8")
    embedder.embed_query("load")
    started = time.perf_counter()
    report = build_index(EngineConfig(documents_dir=docs, index_dir=index_dir), embedder, rebuild=rebuild)
    seconds = time.perf_counter() - started
    return {
        "chunks": report.chunks,
        "embedded": report.embedded_chunks,
        "seconds": seconds,
        "embedded_per_s": report.embedded_chunks / seconds,
    }


def stored(index_dir: Path) -> tuple[list[tuple[str, int, int]], np.ndarray, np.ndarray]:
    from index.store import IndexDirectory, read_chunks, read_sentence_vectors, read_vectors

    build_dir = IndexDirectory(index_dir).current_build()
    chunks = read_chunks(build_dir)
    keys = [(c.document, c.start, c.end) for c in chunks]
    sentences = read_sentence_vectors(build_dir)
    assert sentences is not None
    return keys, np.asarray(read_vectors(build_dir)), np.asarray(sentences)


def compare_vectors(incremental: Path, rebuilt: Path) -> dict[str, object]:
    keys_a, vectors_a, sentences_a = stored(incremental)
    keys_b, vectors_b, sentences_b = stored(rebuilt)
    if keys_a != keys_b:
        return {"same_chunks": False}
    same = (vectors_a == vectors_b).all(axis=1)
    return {
        "same_chunks": True,
        "chunks": len(keys_a),
        "identical_vectors": int(same.sum()),
        "max_vector_difference": float(np.abs(vectors_a - vectors_b).max()),
        "sentences": len(sentences_a),
        "identical_sentence_vectors": int((sentences_a == sentences_b).all(axis=1).sum()),
    }


def ask_cli(docs: Path, index_dir: Path, question: str, seed: int, cwd: Path) -> list[list[object]]:
    env = {**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "bot.cli", "--docs", str(docs), "--index-dir", str(index_dir)]
    out = subprocess.run(
        [*command, "ask", "--json", "-k", str(K), question], capture_output=True, text=True, env=env, cwd=cwd
    )
    if out.returncode != 0:
        raise SystemExit(f"verbatim ask failed ({out.returncode}): {out.stderr.strip()[-500:]}")
    return passages_of(json.loads(out.stdout))


def ask_child(docs: Path, index_dir: Path, questions_file: Path, seed: int, cwd: Path) -> list[list[list[object]]]:
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    command = [sys.executable, __file__, "--answers", str(index_dir), str(docs), str(questions_file)]
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, check=True)
    result: list[list[list[object]]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def differing(a: list[list[list[object]]], b: list[list[list[object]]]) -> dict[str, int]:
    """How many questions got another first passage, and other passages or order, in ``b``."""
    return {
        "top_passage_differs": sum(1 for x, y in zip(a, b) if x[:1] != y[:1]),
        "passages_differ": sum(1 for x, y in zip(a, b) if x != y),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad-questions", type=int, default=200)
    parser.add_argument("--seeds", default="12,14,16")
    parser.add_argument("--result", default="determinism", help="bench/results/<name>.json")
    parser.add_argument("--answers", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.answers:
        index_dir, docs, questions_file = map(Path, args.answers)
        print(json.dumps(answers(index_dir, docs, json.loads(questions_file.read_text(encoding="utf-8")))))
        return
    print(machine_header("Determinism"), flush=True)
    from index.evaluation import read_questions

    seed_questions = [q.question for q in read_questions(SEED_QUESTIONS)]
    squad = read_questions(SQUAD / "questions.jsonl")
    step = max(1, len(squad) // max(args.squad_questions, 1))
    squad_questions = [q.question for q in squad[::step][: args.squad_questions]]
    questions = seed_questions + squad_questions
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, object] = {"questions": {"seed_dev": len(seed_questions), "squad": len(squad_questions)}}

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        docs = scratch / "docs"
        docs.mkdir()
        articles = sorted((SQUAD / "docs").iterdir())
        for article in articles[::2]:
            shutil.copyfile(article, docs / article.name)
        first = build(docs, scratch / "incremental", rebuild=False)
        for article in articles[1::2]:
            shutil.copyfile(article, docs / article.name)
        shutil.copyfile(SEED_DOCUMENT, docs / SEED_DOCUMENT.name)
        update = build(docs, scratch / "incremental", rebuild=False)
        rebuilt = build(docs, scratch / "rebuilt", rebuild=True)
        print(f"first half: {first}\nupdate: {update}\nrebuild: {rebuilt}", flush=True)
        vectors = compare_vectors(scratch / "incremental", scratch / "rebuilt")
        print(f"vectors: {vectors}", flush=True)
        incremental_answers = answers(scratch / "incremental", docs, questions)
        rebuilt_answers = answers(scratch / "rebuilt", docs, questions)
        n = len(seed_questions)
        index_check = {
            "seed_dev": differing(incremental_answers[:n], rebuilt_answers[:n]),
            "squad": differing(incremental_answers[n:], rebuilt_answers[n:]),
        }
        print(f"incremental against rebuilt: {index_check}", flush=True)
        results["incremental_against_rebuilt"] = {
            "builds": {"first_half": first, "update": update, "rebuild": rebuilt},
            "vectors": vectors,
            "answers": index_check,
        }

        questions_file = scratch / "squad-questions.json"
        questions_file.write_text(json.dumps(squad_questions), encoding="utf-8")
        by_seed: dict[int, dict[str, list[list[list[object]]]]] = {}
        for seed in seeds:
            started = time.perf_counter()
            by_seed[seed] = {
                "seed_dev": [ask_cli(docs, scratch / "rebuilt", q, seed, scratch) for q in seed_questions],
                "squad": ask_child(docs, scratch / "rebuilt", questions_file, seed, scratch),
            }
            print(f"PYTHONHASHSEED={seed}: asked in {time.perf_counter() - started:.0f} s", flush=True)
        reference = by_seed[seeds[0]]
        seed_check = {
            f"{seeds[0]} against {seed}": {
                part: differing(reference[part], by_seed[seed][part]) for part in ("seed_dev", "squad")
            }
            for seed in seeds[1:]
        }
        # The engine in this process and the CLI in fresh ones must agree too.
        seed_check["this process against the CLI"] = differing(rebuilt_answers[:n], reference["seed_dev"])
        print(f"hash seeds: {seed_check}", flush=True)
        results["hash_seeds"] = seed_check
    save_result(args.result, results)


if __name__ == "__main__":
    main()
