"""Embedding backends side by side: torch fp32 (baseline), ONNX Runtime fp32, ONNX Runtime int8.

For each: documents per second on real chunks of the Debian documentation corpus, query
latency on SQuAD questions, mean cosine to torch fp32, and answer quality (hybrid hit@1 /
hit@5) on SQuAD v1.1 dev with an index built by that backend.

    python bench/embedders.py [--sample 384] [--questions 0] [--backends torch,onnx,onnx-int8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import (
    SQUAD,
    corpus_chunks,
    embedding_texts,
    machine_header,
    make_bench_embedder,
    save_result,
    stats_ms,
    table,
    timed,
)


def quality(embedder, limit: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from index import EngineConfig, build_index
    from index.engine import Engine
    from index.evaluation import evaluate, read_questions

    questions = read_questions(SQUAD / "questions.jsonl")
    if limit:
        questions = questions[:limit]
    with tempfile.TemporaryDirectory() as scratch:
        config = EngineConfig(documents_dir=SQUAD / "docs", index_dir=Path(scratch) / "index")
        started = time.perf_counter()
        report = build_index(config, embedder)
        build_s = time.perf_counter() - started
        engine = Engine.load(config, embedder)
        metrics, _ = evaluate(engine, questions, retriever="hybrid")
    return {
        "hit@1": metrics.hit_at[1],
        "hit@5": metrics.hit_at[5],
        "squad_chunks": report.chunks,
        "squad_build_s": build_s,
        "eval_s": metrics.seconds,
        "questions": metrics.questions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=384, help="Debian chunks embedded for throughput")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--questions", type=int, default=0, help="SQuAD questions for quality (0: all 5,665)")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    args = parser.parse_args()
    print(machine_header("Embedding backends (baseline: torch fp32)"), flush=True)

    chunks, titles = corpus_chunks()
    rng = np.random.default_rng(0)
    sample = [chunks[i] for i in sorted(rng.choice(len(chunks), args.sample, replace=False))]
    texts = embedding_texts(sample, titles)
    from index.evaluation import read_questions

    queries = [q.question for q in read_questions(SQUAD / "questions.jsonl")[: args.queries]]
    results: dict[str, dict[str, float]] = {}
    reference = None
    for backend in args.backends.split(","):
        embedder = make_bench_embedder(backend)
        started = time.perf_counter()
        embedder.embed_query("warm up")
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        vectors = embedder.embed_documents(texts, batch_size=32)
        per_s = len(texts) / (time.perf_counter() - started)
        if reference is None:
            reference = vectors
        cosine = float((vectors * reference).sum(axis=1).mean())
        latency = stats_ms(timed(lambda q=iter(queries * 3): embedder.embed_query(next(q)), len(queries)))  # noqa: B023
        if backend == "torch":
            # torch's default (one OpenMP thread a core) spin-waits badly when the CPU is shared;
            # one thread is its best single-query setting, and is used for the quality run.
            import torch

            default = latency["median"]
            torch.set_num_threads(1)
            latency = stats_ms(timed(lambda q=iter(queries * 3): embedder.embed_query(next(q)), len(queries)))  # noqa: B023
            print(
                f"torch query median: {default:.2f} ms with {torch.get_num_interop_threads()} threads, "
                f"{latency['median']:.2f} ms with 1 thread (used below)",
                flush=True,
            )
        row = {
            "load_s": load_s,
            "chunks_per_s": per_s,
            "query_median_ms": latency["median"],
            "query_p95_ms": latency["p95"],
            "cosine_to_torch": cosine,
        }
        print(f"{backend}: {row}", flush=True)
        row.update(quality(embedder, args.questions))
        print(f"{backend}: {row}", flush=True)
        results[backend] = row
    base = results[args.backends.split(",")[0]]
    rows = [
        [
            name,
            f"{r['chunks_per_s']:.1f}",
            f"{r['chunks_per_s'] / base['chunks_per_s']:.2f}x",
            f"{r['query_median_ms']:.2f}",
            f"{r['query_p95_ms']:.2f}",
            f"{base['query_median_ms'] / r['query_median_ms']:.2f}x",
            f"{r['cosine_to_torch']:.4f}",
            f"{100 * r['hit@1']:.1f}",
            f"{100 * r['hit@5']:.1f}",
            f"{100 * (r['hit@1'] - base['hit@1']):+.1f}",
            f"{r['load_s']:.1f}",
        ]
        for name, r in results.items()
    ]
    print()
    print(
        f"{args.sample} Debian chunks (median 733 characters) for throughput; {args.queries} SQuAD questions for "
        f"latency; quality on SQuAD v1.1 dev ({base['questions']} questions, {base['squad_chunks']} chunks), hybrid."
    )
    print(
        table(
            [
                "backend",
                "chunks/s",
                "vs torch",
                "query ms median",
                "p95",
                "query speed-up",
                "cosine to fp32",
                "hit@1 %",
                "hit@5 %",
                "Δ hit@1 pts",
                "load/export s",
            ],
            rows,
        )
    )
    save_result("embedders", results)


if __name__ == "__main__":
    main()
