"""Index build throughput and peak memory, and the time of an incremental reindex.

1. Full builds of the same pages of the Debian documentation corpus (copied to a scratch
   folder, --chunks chunks or a little more) with each backend, each in a fresh process
   (peak memory is the process's own). The ONNX export is done before timing (it happens
   once per index, cached in <index>/models/) and its time is printed separately.
   A backend may name its threads: ``torch@1`` is torch on one thread (``torch.set_num_threads``),
   ``torch@2`` on two. The builds are interleaved over --rounds rounds (every backend once a
   round, in turn), so each sees the same load on a shared machine; the table shows the median
   chunks/s over the rounds and the median of each round's ratio to the fastest torch setting
   of that round (the baseline: torch at its best measured thread setting).
2. Incremental reindex: pages adding up to --incremental chunks (about 20k) are indexed
   once, with vectors derived from real embeddings instead of embedded (that would take
   half an hour here; a reindex reuses stored vectors anyway), then one page changes and
   ``build_index`` runs again with a warm embedder, as the bot's /reindex does.

    python bench/build.py [--chunks 1500] [--incremental 20000] [--rounds 3]
                          [--backends torch@1,torch@2,onnx-int8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import CACHE, DEBIAN, corpus_chunks, derive_vectors, machine_header, make_bench_embedder, peak_rss_mb, table


def pages_for(count: int) -> list[str]:
    """Pages (relative paths) in a fixed shuffled order whose chunks add up to ``count``."""
    chunks, _ = corpus_chunks()
    per_page: dict[str, int] = {}
    for c in chunks:
        per_page[c.document] = per_page.get(c.document, 0) + 1
    names = sorted(per_page)
    order = np.random.default_rng(0).permutation(len(names))
    out, total = [], 0
    for i in order:
        if total >= count:
            break
        out.append(names[i])
        total += per_page[names[i]]
    return out


def copy_pages(pages: list[str], target: Path) -> None:
    for page in pages:
        (target / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEBIAN / page, target / page)


def split_threads(spec: str) -> tuple[str, int | None]:
    """``torch@2`` -> ("torch", 2); ``onnx-int8`` -> ("onnx-int8", None): the library's default."""
    backend, _, threads = spec.partition("@")
    return backend, int(threads) if threads else None


def child_build(spec: str, docs: str, index: str) -> None:
    from index import EngineConfig, build_index

    backend, threads = split_threads(spec)
    if threads is not None:
        if backend != "torch":
            raise SystemExit(f"only torch takes a thread count, not {spec!r}")
        import torch

        torch.set_num_threads(threads)
    embedder = make_bench_embedder(backend)
    started = time.perf_counter()
    embedder.embed_query("load")
    load_s = time.perf_counter() - started
    config = EngineConfig(documents_dir=Path(docs), index_dir=Path(index))
    started = time.perf_counter()
    report = build_index(config, embedder, rebuild=True)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "chunks": report.chunks,
                "seconds": seconds,
                "chunks_per_s": report.chunks / seconds,
                "load_s": load_s,
                "peak_rss_mb": peak_rss_mb(),
                "threads": threads or len(os.sched_getaffinity(0)),
            }
        )
    )


class _Precomputed:
    """Stands in for the real embedder in the first build of the incremental test: same name,
    vectors derived from real embeddings."""

    def __init__(self, name: str, seed: np.ndarray) -> None:
        self.name, self._seed, self.dimension, self._n = name, seed, seed.shape[1], 0

    def embed_documents(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        self._n += 1
        return derive_vectors(self._seed, len(texts), rng_seed=self._n)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


def incremental(backend: str, count: int, scratch: Path) -> dict[str, float]:
    import logging

    from latency import seed_vectors

    from index import EngineConfig, build_index

    docs = scratch / "docs-incremental"
    pages = pages_for(count)
    copy_pages(pages, docs)
    embedder = make_bench_embedder(backend)
    chunks, titles = corpus_chunks()
    seed = seed_vectors(backend, chunks, titles, 1000)
    config = EngineConfig(documents_dir=docs, index_dir=scratch / "index-incremental")
    first = build_index(config, _Precomputed(embedder.name, seed))
    embedder.embed_query("warm up")
    changed = docs / pages[len(pages) // 2]
    times = []
    for n in range(3):
        with open(changed, "ab") as handle:
            handle.write(f"\n\nA new closing paragraph, edit number {n}, about incremental reindexing.\n".encode())
        logging.getLogger("index").setLevel(logging.WARNING)
        started = time.perf_counter()
        report = build_index(config, embedder)
        times.append(time.perf_counter() - started)
        assert report.changed and report.embedded_chunks < 200, report.summary
    return {
        "pages": len(pages),
        "chunks": first.chunks,
        "changed_page": changed.name,
        "embedded": report.embedded_chunks,
        "seconds": sorted(times)[1],
        "runs": times,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=1500)
    parser.add_argument("--incremental", type=int, default=20000)
    parser.add_argument("--backends", default="torch@1,torch@2,onnx-int8")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_build(*args.child)
        return
    print(machine_header("Index build"), flush=True)
    backends = args.backends.split(",")
    for backend in dict.fromkeys(split_threads(b)[0] for b in backends):  # export once, outside the timed builds
        started = time.perf_counter()
        make_bench_embedder(backend).embed_query("export")
        print(
            f"{backend}: model ready in {time.perf_counter() - started:.1f} s (ONNX: export + quantization if not "
            f"cached in {CACHE / 'models'})",
            flush=True,
        )
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        docs = scratch / "docs"
        pages = pages_for(args.chunks)
        copy_pages(pages, docs)
        runs: dict[str, list[dict[str, float]]] = {b: [] for b in backends}
        for round_number in range(1, args.rounds + 1):
            for backend in backends:
                load = os.getloadavg()[0]
                out = subprocess.run(
                    [sys.executable, __file__, "--child", backend, str(docs), str(scratch / f"index-{backend}")],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                run = {**json.loads(out.stdout.strip().splitlines()[-1]), "load_before": load}
                runs[backend].append(run)
                print(f"round {round_number}, {backend}: {run}", flush=True)
        torches = [b for b in backends if split_threads(b)[0] == "torch"]
        rows = []
        for backend, measured in runs.items():
            ratios = [
                m["chunks_per_s"] / max(runs[t][n]["chunks_per_s"] for t in torches)
                for n, m in enumerate(measured)
                if torches
            ]
            summary = {
                "chunks": measured[0]["chunks"],
                "chunks_per_s": statistics.median(m["chunks_per_s"] for m in measured),
                "seconds": statistics.median(m["seconds"] for m in measured),
                "peak_rss_mb": max(m["peak_rss_mb"] for m in measured),
                "threads": measured[0]["threads"],
                "vs_best_torch": statistics.median(ratios) if ratios else float("nan"),
                "runs": measured,
            }
            results[backend] = summary
            rows.append(
                [
                    backend,
                    summary["threads"],
                    summary["chunks"],
                    f"{summary['seconds']:.1f}",
                    f"{summary['chunks_per_s']:.2f}",
                    f"{summary['vs_best_torch']:.2f}x ({', '.join(f'{r:.2f}' for r in ratios)})",
                    f"{summary['peak_rss_mb']:.0f}",
                ]
            )
        loads = [m["load_before"] for measured in runs.values() for m in measured]
        print(
            f"\nFull build of {len(pages)} Debian documentation pages (parse, chunk, embed, BM25, FAISS, write), "
            f"{args.rounds} interleaved rounds, load average {min(loads):.1f} to {max(loads):.1f} before the builds; "
            "medians over the rounds:"
        )
        headers = ["backend", "threads", "chunks", "seconds", "chunks/s", "vs best torch (each round)", "peak RSS MB"]
        print(table(headers, rows), flush=True)
        last = split_threads(backends[-1])[0]
        inc = {last: incremental(last, args.incremental, scratch / last)} if args.incremental else {}
        for b, r in inc.items():
            print(
                f"\nIncremental reindex, {r['pages']} pages / {r['chunks']:,} chunks, one page changed "
                f"({r['changed_page']}, {r['embedded']} chunks embedded), {b}: median of 3 "
                f"{r['seconds']:.2f} s (runs: {', '.join(f'{t:.2f}' for t in r['runs'])})"
            )
        results["incremental"] = inc
    from common import save_result

    save_result("build", results)


if __name__ == "__main__":
    main()
