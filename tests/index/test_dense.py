"""The FAISS index chosen by corpus size: exact below the limit, HNSW over 8-bit vectors above."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from index import dense
from index.dense import build_dense_index, choose_kind, describe, load_dense_index, save_dense_index, search_dense
from tests.conftest import HashingEmbedder, shared_data


def test_small_corpora_get_exact_search_and_large_ones_a_graph() -> None:
    assert choose_kind(0) == "flat"
    assert choose_kind(dense.EXACT_LIMIT - 1) == "flat"
    assert choose_kind(dense.EXACT_LIMIT) == "ivf-sq8"
    assert choose_kind(1_000_000) == "ivf-sq8"


def test_inverted_lists_grow_with_the_corpus() -> None:
    assert dense.ivf_lists(100_000) == 1024 and dense.ivf_nprobe(1024) == 128
    assert dense.ivf_lists(1_000_000) == 4096 and dense.ivf_nprobe(65536) == 2048


def test_exact_search_returns_the_true_nearest_in_order() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(500, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = build_dense_index(vectors)
    assert describe(index) == "IndexFlatIP"
    rows, scores = search_dense(index, vectors[7], 5)
    expected = np.argsort(-(vectors @ vectors[7]))[:5]
    assert rows.tolist() == expected.tolist()
    assert scores[0] == pytest.approx(1.0, abs=1e-5)


def test_an_empty_index_finds_nothing() -> None:
    index = build_dense_index(np.zeros((0, 8), dtype=np.float32))
    rows, scores = search_dense(index, np.ones(8, dtype=np.float32), 3)
    assert len(rows) == 0 and len(scores) == 0


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        build_dense_index(np.ones((2, 4), dtype=np.float32), "annoy")


def _sentences(limit: int) -> list[str]:
    out: list[str] = []
    for path in sorted(shared_data("eval/squad-v1.1-dev/docs").glob("*.md")):
        for sentence in re.split(r"(?<=[.!?])\s+", path.read_text(encoding="utf-8")):
            if len(sentence.split()) >= 6:
                out.append(sentence)
    return out[:limit]


@pytest.mark.parametrize(
    ("kind", "type_name", "floor"),
    # Hashed bags of words are sparse, the worst case for inverted lists (clusters of dense
    # model embeddings are much tighter: 0.98 at 100k and 1M, bench/ann.py).
    [("hnsw-sq8", "IndexHNSWSQ", 0.98), ("ivf-sq8", "IndexIVFScalarQuantizer", 0.95)],
)
def test_approximate_indexes_find_what_exact_search_finds_on_real_text(
    tmp_path: Path, kind: str, type_name: str, floor: float
) -> None:
    """recall@10 against exact search, on embeddings of real sentences (hashed bag of words:
    the real model would take minutes for this many)."""
    sentences = _sentences(12_000)
    vectors = HashingEmbedder().embed_documents(sentences)
    queries, database = vectors[:100], vectors[100:]
    exact = build_dense_index(database, "flat")
    graph = build_dense_index(database, kind)
    save_dense_index(graph, tmp_path / "dense.faiss")
    graph = load_dense_index(tmp_path / "dense.faiss")
    assert describe(graph) == type_name
    found = 0
    for query in queries:
        _, truth_scores = search_dense(exact, query, 10)
        rows, _ = search_dense(graph, query, 10)
        # Bags of words tie often: a row as close as the 10th nearest is a true neighbour.
        found += int(np.sum(database[rows] @ query >= truth_scores[-1] - 1e-5))
    assert found / (10 * len(queries)) >= floor


def test_an_updated_inverted_index_holds_what_adding_every_vector_to_it_anew_would() -> None:
    """Removed rows gone, kept ones renumbered, new ones added: a renumbering slip would
    cite another chunk than the one that matched."""
    import faiss

    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = build_dense_index(vectors, "ivf-sq8")
    trained = faiss.clone_index(index)
    kept = np.array([r for r in range(3000) if r % 11])
    previous_rows = np.concatenate(
        [kept[:1000], -np.ones(30, dtype=np.int64), kept[1000:], -np.ones(7, dtype=np.int64)]
    )
    new_vectors = vectors[np.maximum(previous_rows, 0)]
    added = rng.standard_normal((37, 16)).astype(np.float32)
    new_vectors[previous_rows < 0] = added / np.linalg.norm(added, axis=1, keepdims=True)

    updated = dense.updated_dense_index(index, new_vectors, previous_rows)
    anew = faiss.clone_index(trained)
    anew.reset()
    anew.add(new_vectors)
    assert updated.ntotal == anew.ntotal == len(previous_rows)
    for query in [*new_vectors[previous_rows < 0], *rng.standard_normal((40, 16)).astype(np.float32)]:
        rows, scores = search_dense(updated, query, 10)
        expected_rows, expected_scores = search_dense(anew, query, 10)
        assert rows.tolist() == expected_rows.tolist()
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-6)
    # Each new chunk's own vector finds that chunk.
    for row in np.flatnonzero(previous_rows < 0):
        assert search_dense(updated, new_vectors[row], 1)[0][0] == row
