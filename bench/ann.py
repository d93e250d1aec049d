"""Which FAISS index at which size: recall@10 against exact search, latency, memory.

Vectors are derived from real embeddings (the first 1,000 Debian documentation chunks,
embedded by the default backend; see bench/common.py derive_vectors): no real text of a
million chunks exists here, and on random vectors approximate indexes look far worse than
on text. Queries are real: sentences from other chunks of the corpus, embedded by the same model. Each index is
measured in a fresh process so its peak memory is its own.

    python bench/ann.py [--sizes 100000,1000000] [--queries 200]
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
from common import (
    CACHE,
    corpus_chunks,
    derive_vectors,
    machine_header,
    make_bench_embedder,
    save_result,
    stats_ms,
    table,
)

KINDS = ("flat", "hnsw-sq8", "ivf-sq8")


def probe(index_path: str, queries_path: str, truth_path: str, ef: int) -> None:
    """Child process: load one index, search one query at a time, print JSON."""
    import faiss
    from common import peak_rss_mb

    from index.dense import load_dense_index, search_dense

    before = peak_rss_mb()
    index = load_dense_index(Path(index_path))
    if hasattr(index, "hnsw") and ef:
        index.hnsw.efSearch = ef
    if hasattr(index, "nprobe") and ef:
        index.nprobe = ef
    queries, truth = np.load(queries_path), np.load(truth_path)
    times, hits = [], 0
    for q, t in zip(queries, truth):
        start = time.perf_counter()
        rows, _ = search_dense(index, q, 10)
        times.append(time.perf_counter() - start)
        hits += len(set(rows.tolist()) & set(t[:10].tolist()))
    faiss.omp_set_num_threads(2)
    start = time.perf_counter()
    for q in queries[:50]:
        index.search(q[None], 10)
    two = (time.perf_counter() - start) / 50 * 1000
    print(
        json.dumps(
            {
                "recall@10": hits / (10 * len(queries)),
                **{f"ms_{k}": v for k, v in stats_ms(times).items()},
                "ms_2_threads": two,
                "peak_rss_mb": peak_rss_mb(),
                "python_baseline_mb": before,
            }
        )
    )


def sentence_queries(chunks, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Real sentences from chunks that are not among the seed vectors: queries that look like
    the text, as a question about it does."""
    rng = np.random.default_rng(3)
    out = []
    while len(out) < count:
        chunk = chunks[int(rng.integers(5000, len(chunks)))]
        a, b = chunk.sentences[int(rng.integers(len(chunk.sentences)))]
        sentence = chunk.text[a - chunk.start : b - chunk.start]
        if 40 < len(sentence) < 300:
            out.append(sentence)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--backend", default="onnx-int8")
    parser.add_argument("--efs", default="256,512,1024", help="HNSW efSearch values")
    parser.add_argument("--nprobes", default="64,128", help="IVF lists probed")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--probe", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(*args.probe[:3], int(args.probe[3]))
        return
    print(machine_header("FAISS index by corpus size"), flush=True)
    import faiss
    from latency import seed_vectors

    from index.dense import build_dense_index, save_dense_index

    chunks, titles = corpus_chunks()
    seed = seed_vectors(args.backend, chunks, titles, 1000)
    qpath = CACHE / f"queries-{args.backend}-{args.queries}.npy"
    if not qpath.exists():
        embedder = make_bench_embedder(args.backend)
        np.save(qpath, np.stack([embedder.embed_query(q) for q in sentence_queries(chunks, args.queries)]))
    queries = np.load(qpath)
    results = {}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in (int(s) for s in args.sizes.split(",")):
            vectors = derive_vectors(seed, size, rng_seed=size)
            exact = faiss.IndexFlatIP(vectors.shape[1])
            exact.add(vectors)
            faiss.omp_set_num_threads(2)
            _, truth = exact.search(queries, 10)  # batched: the BLAS path
            del exact
            np.save(Path(scratch) / "truth.npy", truth)
            np.save(Path(scratch) / "queries.npy", queries)
            for kind in args.kinds.split(","):
                started = time.perf_counter()
                index = build_dense_index(vectors, kind)
                build_s = time.perf_counter() - started
                path = Path(scratch) / f"{kind}.faiss"
                save_dense_index(index, path)
                del index
                knobs = {"hnsw-sq8": args.efs, "ivf-sq8": args.nprobes}.get(kind, "0")
                for ef in knobs.split(","):
                    out = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--probe",
                            str(path),
                            str(Path(scratch) / "queries.npy"),
                            str(Path(scratch) / "truth.npy"),
                            ef,
                        ],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                    r.update(build_s=build_s, file_mb=path.stat().st_size / 2**20)
                    name = kind + {"hnsw-sq8": f" ef{ef}", "ivf-sq8": f" nprobe{ef}"}.get(kind, "")
                    results[f"{size} {name}"] = r
                    rows.append(
                        [
                            f"{size:,}",
                            name,
                            f"{r['recall@10']:.3f}",
                            f"{r['ms_median']:.2f}",
                            f"{r['ms_p95']:.2f}",
                            f"{r['ms_2_threads']:.2f}",
                            f"{r['file_mb']:.0f}",
                            f"{r['peak_rss_mb']:.0f}",
                            f"{build_s:.1f}",
                        ]
                    )
                    print(rows[-1], flush=True)
            del vectors
    print(
        f"\n{args.queries} real queries, one at a time; recall@10 against exact search; vectors derived from "
        f"1,000 real embeddings ({args.backend})."
    )
    print(
        table(
            [
                "vectors",
                "index",
                "recall@10",
                "ms median (1 thread)",
                "ms p95",
                "ms median, 2 OpenMP threads",
                "index MB",
                "peak RSS MB (process)",
                "build s",
            ],
            rows,
        )
    )
    save_result("ann", results)


if __name__ == "__main__":
    main()
