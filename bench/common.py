"""Shared helpers for the hand-run benchmarks: timing statistics, machine facts, corpora.

Every script prints which machine, how many CPUs and which library versions it ran on, and
reports medians and 95th percentiles with ratios against a baseline measured in the same run.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("VERBATIM_BENCH_SHARED") or REPO.parent / "shared")  # the eval sets
SQUAD = SHARED / "eval" / "squad-v1.1-dev"
DEBIAN = Path(os.environ.get("VERBATIM_BENCH_DEBIAN", "/work/data/debian-docs"))
CACHE = Path(os.environ.get("VERBATIM_BENCH_CACHE", REPO / "bench" / ".cache"))
RESULTS = REPO / "bench" / "results"

_LIBS = (
    "verbatim",
    "torch",
    "sentence-transformers",
    "transformers",
    "onnxruntime",
    "faiss-cpu",
    "bm25s",
    "numpy",
    "tokenizers",
    "txtai",
    "langchain-community",
    "langchain-huggingface",
    "openvino",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_header(title: str) -> str:
    versions = []
    for name in _LIBS:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16") if f in flags]
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (
        f"# {title}\n"
        f"machine: {cpu_model()} ({', '.join(isa)}), {len(os.sched_getaffinity(0))} CPUs, {mem:.0f} GB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, load avg {load:.2f} at start\n"
        f"libraries: {', '.join(versions)}\n"
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
    )


def stats_ms(seconds: Iterable[float]) -> dict[str, float]:
    values = sorted(s * 1000 for s in seconds)
    if not values:
        return {"median": float("nan"), "p95": float("nan"), "n": 0}
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return {"median": statistics.median(values), "p95": p95, "n": len(values)}


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def memory_mb(field: str) -> float | None:
    """One memory figure of this process from /proc/self/status (``VmHWM``, ``VmRSS``,
    ``RssAnon``, ``RssFile``), in MB; None where the kernel does not report it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


def peak_rss_mb() -> float:
    """Peak resident memory of this process since it started (VmHWM; getrusage's maxrss
    would carry the parent's peak over a fork + exec)."""
    peak = memory_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(headers: list[str], rows: list[list[object]]) -> str:
    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


RUN_KEY = "_run"  # where a results file says when, where and under what load it was measured


def save_result(name: str, data: dict[str, object]) -> Path:
    """Write ``data`` to bench/results/<name>.json with the machine, date and load of the run
    under :data:`RUN_KEY`, so a chart or table drawn from it can say where it comes from."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    run = {
        "machine": f"{cpu_model()}, {len(os.sched_getaffinity(0))} CPUs",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load_at_end": os.getloadavg(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    path.write_text(json.dumps({RUN_KEY: run, **data}, indent=2, default=str), encoding="utf-8")
    return path


def make_bench_embedder(backend: str, cache_dir: Path | None = None):  # type: ignore[no-untyped-def]
    """An embedder of the bundled model for ``backend`` (torch, onnx, onnx-int8)."""
    from index.onnx_embedding import make_embedder

    return make_embedder(backend=backend, cache_dir=cache_dir or CACHE / "models")


def derive_vectors(
    seed: np.ndarray, count: int, *, rng_seed: int = 0, mix: int = 3, noise: float = 0.005
) -> np.ndarray:
    """``count`` unit vectors derived from real embeddings: a random convex mix (Dirichlet
    weights) of ``mix`` real vectors plus a little Gaussian noise. It keeps the shape of real
    text embeddings better than random vectors, on which approximate search looks far worse
    than it is on text; with only a few thousand seeds it is still harder than real text
    (many near-ties), so recall measured on it is a pessimistic estimate."""
    rng = np.random.default_rng(rng_seed)
    out = np.empty((count, seed.shape[1]), dtype=np.float32)
    step = 50_000
    for start in range(0, count, step):
        n = min(step, count - start)
        rows = rng.integers(0, len(seed), (n, mix))
        weights = rng.dirichlet(np.ones(mix), n).astype(np.float32)
        x = np.einsum("nm,nmd->nd", weights, seed[rows]) + rng.normal(0, noise, (n, seed.shape[1])).astype(np.float32)
        out[start : start + n] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def corpus_chunks(root: Path = DEBIAN, *, limit: int | None = None):  # type: ignore[no-untyped-def]
    """(chunks, titles) of the documents under ``root`` with the default chunking, in a
    stable order, cached as a pickle: parsing 2,729 HTML pages takes a while."""
    import hashlib
    import pickle

    from index.build import chunking_manifest
    from index.ingest import ChunkingParams
    from index.loading import load_chunks
    from index.types import SkippedFile

    # v2: chunks carry their sentences' BM25 tokens, as the indexer stores them; the
    # manifest's chunking versions the sentence splitter (older pickles lack mid_code).
    key = hashlib.sha1(f"v2|{root.resolve()}|{chunking_manifest(ChunkingParams())}".encode()).hexdigest()[:12]
    path = CACHE / f"chunks-{key}.pickle"
    if path.exists():
        chunks, titles = pickle.loads(path.read_bytes())
    else:
        chunks, titles = [], {}
        for item in load_chunks(root, ChunkingParams()):
            if isinstance(item, SkippedFile):  # the indexer skips these too
                continue
            document, document_chunks = item
            titles[document.path] = document.title
            chunks.extend(document_chunks)
        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps((chunks, titles)))
    return (chunks[:limit] if limit else chunks), titles


def embedding_texts(chunks, titles) -> list[str]:  # type: ignore[no-untyped-def]
    from index.build import embedding_input

    return [embedding_input(c, titles[c.document]) for c in chunks]
