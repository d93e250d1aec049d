"""A reindex updates the live build's IVF lists and BM25 postings instead of building them
again, and they answer what freshly built ones would: the rows they return are the new
build's rows, so the chunk quoted is the chunk that matched."""

from __future__ import annotations

import dataclasses
import json
import shutil

import bm25s
import faiss
import numpy as np
import pytest

from index import Engine, build_index
from index.chunk_store import bm25_tokens
from index.dense import search_dense
from index.lexical import Bm25sIndex, LexicalIndex
from index.store import IndexDirectory, read_chunks, read_manifest, read_vectors, write_manifest

LISTS = 4


@pytest.fixture
def inverted_lists(monkeypatch):
    """IVF at any size, with few lists (all of them probed), as at a million chunks."""
    monkeypatch.setattr("index.dense.EXACT_LIMIT", 0)
    monkeypatch.setattr("index.dense.ivf_lists", lambda count: LISTS)
    monkeypatch.setattr("index.vector_store.ivf_lists", lambda count: LISTS)


def _only_pages(folder, names):
    for path in folder.iterdir():
        path.unlink()
    _pages(folder, names)


def _pages(folder, names):
    for i in names:
        body = " ".join(f"Page {i} line {j} is about subject{i} and detail{j % 7}." for j in range(12))
        (folder / f"page{i:02d}.md").write_text(f"# Page {i}\n\n{body}\n", encoding="utf-8")


def _live(config):
    return IndexDirectory(config.index_dir).current_build()


def _by_score(rows, scores):
    """Rows grouped by score, the group at the cut left out (which of equals makes it is arbitrary)."""
    groups: dict[float, set[int]] = {}
    for r, s in zip(rows.tolist(), scores.tolist()):
        groups.setdefault(round(s, 5), set()).add(r)
    return [groups[s] for s in sorted(groups, reverse=True)][:-1]


def _training(config):
    store = read_manifest(_live(config), expected_model=None).vector_store
    return store["ivf_trained_on"], store["ivf_added_since"]


def test_a_reindex_updates_the_lists_and_postings_to_answer_as_fresh_ones_would(
    config, embedder, docs_dir, inverted_lists
):
    _only_pages(docs_dir, range(12))
    build_index(config, embedder)
    first = _live(config)
    trained_on, added = _training(config)
    assert added == 0 and trained_on == len(read_chunks(first))
    trained = faiss.read_index(str(first / "dense.faiss"))

    (docs_dir / "page03.md").write_text("# Page 3\n\nRewritten: walruses sleep on ice floes.\n", encoding="utf-8")
    (docs_dir / "page07.md").unlink()
    _pages(docs_dir, [20])
    report = build_index(config, embedder)
    assert report.changed == ("page03.md",) and report.removed == ("page07.md",) and report.added == ("page20.md",)
    # Updated, not trained again.
    assert _training(config) == (trained_on, report.embedded_chunks)

    build = _live(config)
    table, vectors = read_chunks(build), read_vectors(build)
    store = Engine.load(config, embedder).searcher.store
    anew = faiss.clone_index(trained)
    anew.reset()
    anew.add(vectors)
    fresh_bm25 = LexicalIndex.from_tokens(bm25_tokens(table))
    for row in range(len(table)):
        found = store.propose(vectors[row], table[row].sentence_tokens[0].split(), 5)
        expected_rows, expected_cosines = search_dense(anew, vectors[row], 5)
        np.testing.assert_allclose(found.dense_cosines, expected_cosines, rtol=1e-6)
        # The same rows, in the same order but among equal cosines (these pages are much alike).
        assert _by_score(found.dense_rows, found.dense_cosines) == _by_score(expected_rows, expected_cosines)
        expected_rows, expected_scores = fresh_bm25.search(table[row].sentence_tokens[0].split(), 5)
        assert found.lexical_rows.tolist() == expected_rows.tolist()
        np.testing.assert_array_equal(found.lexical_scores, expected_scores)
    answer = Engine.load(config, embedder).ask("Where do walruses sleep?")
    assert answer.passages[0].document == "page03.md" and "walruses" in answer.passages[0].text


def test_the_lists_are_trained_again_once_half_their_vectors_are_new(config, embedder, docs_dir, inverted_lists):
    _only_pages(docs_dir, range(10))
    build_index(config, embedder)
    trained_on, _ = _training(config)
    for page in docs_dir.glob("page0[0-5].md"):
        page.unlink()
    _pages(docs_dir, range(30, 33))
    report = build_index(config, embedder)
    assert report.embedded_chunks < trained_on / 2 and _training(config) == (trained_on, report.embedded_chunks)
    _pages(docs_dir, range(33, 36))
    report = build_index(config, embedder)
    count = len(read_chunks(_live(config)))
    assert _training(config) == (count, 0)


def test_a_build_with_a_bm25s_index_answers_and_its_next_reindex_writes_postings(config, embedder, docs_dir, tmp_path):
    _pages(docs_dir, range(6))
    build_index(config, embedder)
    build = _live(config)
    question = "What is page 4 line 3 about?"
    expected = [p.text for p in Engine.load(config, embedder).ask(question).passages]
    # The build as the previous version wrote it: bm25s's files, format 4.
    tokens = bm25_tokens(read_chunks(build))
    manifest = read_manifest(build, expected_model=None)
    shutil.rmtree(build / "lexical")
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    retriever.save(str(build / "lexical" / "bm25"))
    df: dict[str, int] = {}
    for chunk in tokens:
        for token in set(chunk):
            df[token] = df.get(token, 0) + 1
    (build / "lexical" / "document_frequency.json").write_text(json.dumps({"size": len(tokens), "df": df}), "utf-8")
    (build / "manifest.json").unlink()
    fields = {k: getattr(manifest, k) for k in ("model", "dimension", "chunking", "versions", "built_at")}
    write_manifest(build, fields | {"documents": manifest.documents, "dense_index": manifest.dense_index})
    data = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    (build / "manifest.json").write_text(json.dumps(data | {"format_version": 4}), encoding="utf-8")

    engine = Engine.load(config, embedder, verify=True)
    assert isinstance(engine.searcher.store.lexical, Bm25sIndex)
    assert [p.text for p in engine.ask(question).passages] == expected
    (docs_dir / "page02.md").write_text("# Page 2\n\nRewritten: otters hold hands.\n", encoding="utf-8")
    build_index(config, embedder)
    engine = Engine.load(config, embedder)
    assert isinstance(engine.searcher.store.lexical, LexicalIndex)
    fresh = dataclasses.replace(config, index_dir=tmp_path / "fresh")
    build_index(fresh, embedder)
    assert [p.text for p in engine.ask(question).passages] == [
        p.text for p in Engine.load(fresh, embedder).ask(question).passages
    ]
