"""The FAISS side: an inner-product index over normalized vectors (cosine similarity).

The index type follows the corpus size. Up to :data:`EXACT_LIMIT` chunks, exact search
(``IndexFlatIP``): a query reads every vector, about 2 ms per 10k on one core. Above it,
inverted lists over 8-bit scalar-quantized vectors (IVF-SQ8, about 4 sqrt(n) lists, probing
1/32 of them and at least 128): a query reads a few percent of the vectors, and the index
takes a quarter of the float32 memory. Its recall@10 against exact search was 0.984 at 100k
and 0.982 at 1M vectors derived from real embeddings (``bench/ann.py``), where HNSW (also
offered, ``hnsw-sq8``) reached 0.982 at 100k but only 0.827 at 1M with efSearch 1024, after
a longer build.

A single query runs on one OpenMP thread: FAISS splits one query's scan across threads
that spin-wait for each other, and on a busy 2-core machine that made a flat search 3-4x
slower (92.7 instead of 24.7 ms at 100k vectors; bench/ann.py prints both).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

# Below this many vectors search is exact.
EXACT_LIMIT = 50_000
# HNSW: links per node, candidate list while building and while searching.
HNSW_LINKS = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 1024
# IVF: at least this many lists probed per query, and at least 1/32 of them.
IVF_MIN_NPROBE = 128


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def choose_kind(count: int) -> str:
    """``flat`` (exact) for small corpora, ``ivf-sq8`` for large ones."""
    return "flat" if count < EXACT_LIMIT else "ivf-sq8"


def build_dense_index(vectors: np.ndarray, kind: str | None = None):  # type: ignore[no-untyped-def]
    """An inner-product index over ``vectors``, of ``kind`` or the one that suits their number."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dimension = int(vectors.shape[1])
    kind = kind or choose_kind(len(vectors))
    index: Any
    if kind == "flat":
        index = faiss.IndexFlatIP(dimension)
    elif kind == "hnsw-sq8":
        index = faiss.IndexHNSWSQ(
            dimension,
            faiss.ScalarQuantizer.QT_8bit,  # type: ignore[arg-type]
            HNSW_LINKS,
            faiss.METRIC_INNER_PRODUCT,
        )
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    elif kind == "ivf-sq8":
        lists = ivf_lists(len(vectors))
        index = faiss.index_factory(dimension, f"IVF{lists},SQ8", faiss.METRIC_INNER_PRODUCT)
        index.nprobe = ivf_nprobe(lists)
    else:
        raise ValueError(f"unknown dense index kind {kind!r}")
    if len(vectors):
        faiss.omp_set_num_threads(_cpus())  # building parallelizes well
        try:
            if not index.is_trained:
                sample = min(len(vectors), 40 * getattr(index, "nlist", 1_000))
                rows = np.random.default_rng(0).choice(len(vectors), sample, replace=False)
                index.train(vectors[np.sort(rows)])
            index.add(vectors)
        finally:
            faiss.omp_set_num_threads(1)
    return index


def updated_dense_index(index, vectors: np.ndarray, previous_rows: np.ndarray):  # type: ignore[no-untyped-def]
    """``index`` (an IVF index over the previous build's vectors) brought to the new build
    without training it again: row i of the new build is row ``previous_rows[i]`` of the
    previous one, or (where that is -1) new, with its vector in ``vectors``. The rows of
    removed chunks are dropped, the others renumbered in place, the new ones added to the
    lists of their nearest centroids: the index holds what adding every vector to the same
    trained index would, without the 168 s that training took at a million vectors."""
    import faiss

    previous_rows = np.asarray(previous_rows, dtype=np.int64)
    kept = np.flatnonzero(previous_rows >= 0)
    added = np.flatnonzero(previous_rows < 0)
    moved_to = np.full(index.ntotal, -1, dtype=np.int64)
    moved_to[previous_rows[kept]] = kept
    faiss.omp_set_num_threads(_cpus())
    try:
        gone = np.flatnonzero(moved_to < 0)
        if len(gone):
            index.remove_ids(gone)
        lists = index.invlists
        for number in range(index.nlist):
            size = lists.list_size(number)
            if size:
                # The list's own id array, renumbered where it lies.
                ids = faiss.rev_swig_ptr(lists.get_ids(number), size)
                ids[:] = moved_to[ids]
        if len(added):
            index.add_with_ids(np.ascontiguousarray(vectors[added], dtype=np.float32), added)
    finally:
        faiss.omp_set_num_threads(1)
    if index.ntotal != len(previous_rows):
        raise RuntimeError(f"the updated index holds {index.ntotal} vectors, not {len(previous_rows)}")
    return index


def ivf_lists(count: int) -> int:
    """About 4 sqrt(n) inverted lists, a power of two: 1024 at 100k vectors, 4096 at 1M."""
    return int(min(65536, max(64, 2 ** round(np.log2(4 * np.sqrt(max(count, 1)))))))


def ivf_nprobe(lists: int) -> int:
    return min(lists, max(IVF_MIN_NPROBE, lists // 32))


def describe(index) -> str:  # type: ignore[no-untyped-def]
    return type(index).__name__


def search_dense(index, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Ids and cosine scores of the ``k`` nearest chunks, best first."""
    import faiss

    if index.ntotal == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    faiss.omp_set_num_threads(1)
    k = min(k, index.ntotal)
    scores, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
    keep = ids[0] >= 0
    return ids[0][keep].astype(np.int64), scores[0][keep]


def save_dense_index(index, path: Path) -> None:  # type: ignore[no-untyped-def]
    import faiss

    faiss.write_index(index, str(path))


def load_dense_index(path: Path):  # type: ignore[no-untyped-def]
    import faiss

    index = faiss.read_index(str(path))
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = max(index.hnsw.efSearch, HNSW_EF_SEARCH)
    if hasattr(index, "nprobe"):
        index.nprobe = max(index.nprobe, ivf_nprobe(getattr(index, "nlist", 1)))
    return index
