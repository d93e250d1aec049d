"""The two vector stores side by side on one question set: answer quality and warm ask latency.

The set's documents are indexed once on FAISS (the real model, the default backend); the index
is then moved to Qdrant's local mode by an incremental build (no chunk is embedded again). Every
question (or the first --limit) is asked of both engines in turn, so both see the same machine
load: hit@1/3/5 and outcomes per store, how many answers quote the same passages, and the
median / p95 of a warm Engine.ask.

    python bench/vector_stores.py ../shared/eval/squad-v1.1-dev [--limit 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

from common import machine_header, stats_ms

from index import Engine, EngineConfig, build_index, make_embedder
from index.config import QdrantConfig
from index.evaluation import default_documents_dir, read_questions, score
from index.evaluation import run_questions as judged_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", type=Path, help="a question set folder (questions.jsonl and docs/) or file")
    parser.add_argument("--docs", type=Path, help="its documents folder, if not beside it")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    args = parser.parse_args()
    path = args.questions / "questions.jsonl" if args.questions.is_dir() else args.questions
    documents = args.docs or default_documents_dir(args.questions)
    questions = read_questions(path)[: args.limit]
    embedder = make_embedder()
    print(machine_header(f"Vector stores on {args.questions.name}: {len(questions)} questions"))
    with tempfile.TemporaryDirectory(prefix="verbatim-stores-") as work:
        faiss = EngineConfig(documents_dir=documents, index_dir=Path(work) / "faiss")
        built = build_index(faiss, embedder)
        shutil.copytree(faiss.index_dir, Path(work) / "qdrant")
        qdrant = dataclasses.replace(
            faiss,
            index_dir=Path(work) / "qdrant",
            vector_store="qdrant",
            qdrant=QdrantConfig(path=Path(work) / "qdrant-store"),
        )
        started = time.perf_counter()
        moved = build_index(qdrant, embedder)
        print(
            f"index: {built.chunks} chunks, FAISS build {built.seconds:.1f} s; moved to Qdrant in "
            f"{time.perf_counter() - started:.1f} s ({moved.embedded_chunks} chunks embedded again)\n"
        )
        engines = {"faiss": Engine.load(faiss, embedder), "qdrant": Engine.load(qdrant, embedder)}
        for engine in engines.values():
            for question in questions[:5]:
                engine.ask(question.question)  # warm: caches, the reader's session
        seconds: dict[str, list[float]] = {name: [] for name in engines}
        for question in questions:
            for name, engine in engines.items():
                started = time.perf_counter()
                engine.ask(question.question)
                seconds[name].append(time.perf_counter() - started)
        results = {name: judged_results(engine, questions, retriever="hybrid") for name, engine in engines.items()}
        same = sum(
            [p.text for p in a.passages] == [p.text for p in b.passages]
            for a, b in zip(results["faiss"], results["qdrant"])
        )
        print("store   hit@1  hit@3  hit@5  answered/not sure/not found  ask median ms  ask p95 ms")
        for name, engine in engines.items():
            metrics = score(
                results[name],
                retriever="hybrid",
                threshold=engine.threshold_for("hybrid"),
                confidence_thresholds=engine.confidence_thresholds(),
            )
            hits = "  ".join(f"{100 * metrics.hit_at[k]:5.1f}" for k in (1, 3, 5))
            outcomes = "/".join(str(metrics.outcomes[o]) for o in ("answered", "not_sure", "not_found"))
            timing = stats_ms(seconds[name])
            print(f"{name:<7} {hits}  {outcomes:>27}  {timing['median']:13.1f}  {timing['p95']:10.1f}")
        print(f"\nthe same passages, in the same order, for {same} of {len(questions)} questions")
        from index.qdrant_store import close_clients

        close_clients()


if __name__ == "__main__":
    main()
