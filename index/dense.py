"""The FAISS side: an inner-product index over normalized vectors (cosine similarity)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def build_dense_index(vectors: np.ndarray):  # type: ignore[no-untyped-def]
    """Exact inner-product search over ``vectors``."""
    import faiss

    dimension = int(vectors.shape[1])
    index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def describe(index) -> str:  # type: ignore[no-untyped-def]
    return type(index).__name__


def search_dense(index, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Ids and cosine scores of the ``k`` nearest chunks, best first."""
    if index.ntotal == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    k = min(k, index.ntotal)
    scores, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
    keep = ids[0] >= 0
    return ids[0][keep].astype(np.int64), scores[0][keep]


def save_dense_index(index, path: Path) -> None:  # type: ignore[no-untyped-def]
    import faiss

    faiss.write_index(index, str(path))


def load_dense_index(path: Path):  # type: ignore[no-untyped-def]
    import faiss

    return faiss.read_index(str(path))
