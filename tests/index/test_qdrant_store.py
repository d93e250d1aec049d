"""The Qdrant store's own promises (local mode): a reindex moves the alias to a new collection,
a failed one leaves it where it was, BM25 scores are bm25s's, and a candidate's cosine is the
true cosine of its vector. The engine tests run on both stores elsewhere (VECTOR_STORES)."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from bot.engine_factory import open_index
from index import Engine, build_index
from index.config import QdrantConfig
from index.errors import VectorStoreError, VectorStoreMismatchError
from index.qdrant_store import QdrantBackend
from index.store import IndexDirectory, read_manifest
from index.vector_store import vector_backend
from tests.conftest import on_vector_store

QUESTIONS = ["How much can a llama carry?", "What did the Pentagon demand of Anthropic?", "installer minutes"]


@pytest.fixture
def qdrant_config(config, tmp_path):
    yield on_vector_store(config, "qdrant", tmp_path)
    from index.qdrant_store import close_clients

    close_clients()


def _live_collection(config) -> str:
    build = IndexDirectory(config.index_dir).current_build()
    return read_manifest(build, expected_model=None, verify=False).vector_store["collection"]


def _collections(config) -> set[str]:
    backend = vector_backend(config)
    assert isinstance(backend, QdrantBackend)
    return {c.name for c in backend._client.get_collections().collections}


def test_a_reindex_moves_the_alias_to_the_new_collection(qdrant_config, embedder, docs_dir):
    backend = vector_backend(qdrant_config)
    assert isinstance(backend, QdrantBackend)
    # Another index's collection, its alias starting like ours: never dropped by our builds.
    neighbour = "verbatim-docs-20260101T000000-1-000001"
    backend._client.create_collection(neighbour, vectors_config={})
    build_index(qdrant_config, embedder)
    first = _live_collection(qdrant_config)
    assert backend.alias_target() == first
    (docs_dir / "new.txt").write_text("Alpacas are smaller than llamas.", encoding="utf-8")
    build_index(qdrant_config, embedder)
    second = _live_collection(qdrant_config)
    assert second != first and backend.alias_target() == second
    assert _collections(qdrant_config) == {first, second, neighbour}  # the replaced one serves readers in transit
    build_index(qdrant_config, embedder, rebuild=True)
    third = _live_collection(qdrant_config)
    assert backend.alias_target() == third and _collections(qdrant_config) == {second, third, neighbour}
    assert Engine.load(qdrant_config, embedder).ask("Which animals are smaller than llamas?").passages


def test_the_alias_moves_in_one_request_and_never_names_nothing(qdrant_config, embedder, docs_dir, monkeypatch):
    """A reader resolving the alias between two requests of a switch finds a collection."""
    backend = vector_backend(qdrant_config)
    assert isinstance(backend, QdrantBackend)
    build_index(qdrant_config, embedder)
    client = backend._client
    seen = []
    switch = client.update_collection_aliases

    def watched(*args, **kwargs):
        done = switch(*args, **kwargs)
        seen.append(backend.alias_target())
        return done

    monkeypatch.setattr(client, "update_collection_aliases", watched)
    (docs_dir / "new.txt").write_text("Alpacas are smaller than llamas.", encoding="utf-8")
    build_index(qdrant_config, embedder)
    assert seen and None not in seen and seen[-1] == _live_collection(qdrant_config)


def test_a_shard_on_the_previous_build_answers_from_its_own_collection(qdrant_config, embedder, docs_dir):
    """After a reindex moved the alias, an engine still on the previous build quotes that
    build's passages, never the rows of the new one (whose row numbers moved)."""
    build_index(qdrant_config, embedder)
    shard = Engine.load(qdrant_config, embedder)
    question = "How much can a llama carry?"
    before = [(p.document, p.start, p.end, p.text) for p in shard.ask(question).passages]
    # Sorted first, so every chunk of the new build sits at another row than before.
    (docs_dir / "aardvarks.md").write_text(
        "# Aardvarks\n\n" + "\n\n".join(f"Aardvarks dig burrow number {n} at night." for n in range(12)) + "\n",
        encoding="utf-8",
    )
    build_index(qdrant_config, embedder)
    backend = vector_backend(qdrant_config)
    assert isinstance(backend, QdrantBackend) and backend.alias_target() != shard.manifest.vector_store["collection"]
    assert before and [(p.document, p.start, p.end, p.text) for p in shard.ask(question).passages] == before
    assert Engine.load(qdrant_config, embedder).ask(question).passages[0].text.endswith("25 kg over 20 km.")


def test_two_indexes_on_one_qdrant_both_keep_answering_after_each_reindexes_twice(
    qdrant_config, embedder, docs_dir, tmp_path
):
    """The default alias on both: neither index's builds drop the other's collections."""
    other_docs = tmp_path / "other-docs"
    shutil.copytree(docs_dir, other_docs)
    first = qdrant_config
    second = dataclasses.replace(qdrant_config, documents_dir=other_docs, index_dir=tmp_path / "other-index")
    assert first.qdrant == second.qdrant
    question = "How much can a llama carry?"
    build_index(first, embedder)
    build_index(second, embedder)
    backend = vector_backend(first)
    assert isinstance(backend, QdrantBackend)
    engines = {}
    for step, index in enumerate([second, second, first, first, second, first]):
        (index.documents_dir / f"note-{step}.txt").write_text(f"Note {step}: alpacas hum.", encoding="utf-8")
        assert build_index(index, embedder).added == (f"note-{step}.txt",)
        for config in (first, second):
            old = engines.get(config.index_dir)
            engines[config.index_dir] = Engine.load(config, embedder)
            for engine in filter(None, (old, engines[config.index_dir])):  # a shard in transit too
                assert engine.ask(question).passages[0].text.endswith("A llama can carry 25 kg over 20 km.")
        # The alias stays with the index that took it first: its readers are never switched to another.
        assert backend.alias_target() == _live_collection(first)
    for config in (first, second):
        documents = {d.path for d in Engine.load(config, embedder).documents()}
        assert {p.name for p in config.documents_dir.iterdir()} <= documents
    # Each index keeps its live collection and the one it replaced, no more.
    assert len(_collections(first)) == 4


def test_a_collection_named_before_index_ids_is_dropped_once_replaced_twice(
    qdrant_config, embedder, docs_dir, monkeypatch
):
    """An index built by the versions that named collections <alias>-<build> leaves none behind."""
    with monkeypatch.context() as patch:
        patch.setattr(QdrantBackend, "collection_for", lambda self, build: f"{self.config.collection}-{build}")
        build_index(qdrant_config, embedder)
    legacy = _live_collection(qdrant_config)
    for step in range(2):
        assert legacy in _collections(qdrant_config)  # live, then serving readers in transit
        (docs_dir / f"note-{step}.txt").write_text(f"Note {step}: alpacas hum.", encoding="utf-8")
        build_index(qdrant_config, embedder)
    assert legacy not in _collections(qdrant_config) and len(_collections(qdrant_config)) == 2


def test_asking_with_qdrant_configured_stops_on_a_faiss_index_and_changes_nothing(config, qdrant_config, embedder):
    """Moving stores is asked for with `verbatim index`; a question never does it."""
    build_index(config, embedder)
    live = IndexDirectory(config.index_dir).current_build()
    with pytest.raises(
        VectorStoreMismatchError, match="built with the faiss vector store, but VERBATIM_VECTOR_STORE=qdrant"
    ):
        open_index(qdrant_config, embedder, build="if-missing")
    assert IndexDirectory(config.index_dir).current_build() == live
    assert _collections(qdrant_config) == set()
    assert Engine.load(config, embedder).ask("How much can a llama carry?").passages


def test_a_failed_build_leaves_the_alias_serving_and_no_collection_behind(qdrant_config, embedder, docs_dir):
    build_index(qdrant_config, embedder)
    backend = vector_backend(qdrant_config)
    assert isinstance(backend, QdrantBackend)
    live = backend.alias_target()
    (docs_dir / "more.md").write_text("# More\n\nAlpacas hum when they are content.\n", encoding="utf-8")

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("index.build.write_manifest", full)  # after the collection is written
        with pytest.raises(OSError, match="No space left"):
            build_index(qdrant_config, embedder)
    assert backend.alias_target() == live and _collections(qdrant_config) == {live}
    engine = Engine.load(qdrant_config, embedder)
    assert "more.md" not in {d.path for d in engine.documents()}


def test_bm25_candidates_and_scores_are_those_of_bm25s(config, qdrant_config, embedder, tmp_path):
    qdrant_config = dataclasses.replace(qdrant_config, index_dir=tmp_path / "qdrant-index")
    # A chunk without a single BM25 token still counts in the IDF's number of chunks.
    (config.documents_dir / "stop.txt").write_text("It is, and it is; then it was.", encoding="utf-8")
    build_index(config, embedder)
    build_index(qdrant_config, embedder)
    faiss, qdrant = Engine.load(config, embedder).searcher, Engine.load(qdrant_config, embedder).searcher
    for question in QUESTIONS:
        query = faiss.query(question, "hybrid")
        # Every match (a cut at k would split ties, which the two order differently).
        expected = faiss.store.propose(None, query.tokens, 1000)
        found = qdrant.store.propose(None, query.tokens, 1000)
        assert sorted(found.lexical_rows.tolist()) == sorted(expected.lexical_rows.tolist())
        scores = dict(zip(found.lexical_rows.tolist(), found.lexical_scores.tolist()))
        for row, score in zip(expected.lexical_rows.tolist(), expected.lexical_scores.tolist()):
            assert scores[row] == pytest.approx(score, rel=1e-5)


def test_every_candidates_cosine_is_the_true_cosine_of_its_vector(
    config, embedder, tmp_path, vector_store, monkeypatch
):
    """BM25-only candidates too: the abstain decision reads it, never a rank or fused score."""
    monkeypatch.setattr("index.search.CANDIDATES", 3)  # fewer than the chunks: the retrievers differ
    config = on_vector_store(config, vector_store, tmp_path)
    build_index(config, embedder)
    engine = Engine.load(config, embedder)
    build = IndexDirectory(config.index_dir).current_build()
    vectors = vector_backend(config).stored_vectors(build, engine.manifest)
    lexical_only = 0
    for question in QUESTIONS:
        query = engine.searcher.query(question, "hybrid")
        dense_rows = set(engine.searcher.store.propose(query.vector, None, 3).dense_rows.tolist())
        for candidate in engine.searcher.candidates(query, "hybrid"):
            assert candidate.cosine == pytest.approx(float(vectors[candidate.row] @ query.vector), abs=1e-5)
            lexical_only += candidate.row not in dense_rows
    assert lexical_only, "no BM25-only candidate was checked"


def test_moving_a_faiss_index_to_qdrant_reuses_its_vectors(config, qdrant_config, embedder):
    build_index(config, embedder)
    with pytest.raises(VectorStoreMismatchError, match="faiss vector store.*verbatim index"):
        Engine.load(qdrant_config, embedder)
    embedder.embedded.clear()
    moved = build_index(qdrant_config, embedder)
    assert moved.embedded_chunks == 0 and moved.chunks > 0
    engine = Engine.load(qdrant_config, embedder)
    assert engine.ask("How much can a llama carry?").passages[0].text.endswith("A llama can carry 25 kg over 20 km.")


def test_an_unreachable_server_is_a_clear_error(config, embedder):
    unreachable = dataclasses.replace(config, vector_store="qdrant", qdrant=QdrantConfig(url="http://127.0.0.1:9"))
    with pytest.raises(VectorStoreError, match=r"Qdrant \(VERBATIM_QDRANT_URL=http://127.0.0.1:9\) cannot be used"):
        build_index(unreachable, embedder)
    assert not IndexDirectory(config.index_dir).exists()


def test_qdrant_without_a_location_is_a_clear_error(config, embedder):
    with pytest.raises(VectorStoreError, match="exactly one of VERBATIM_QDRANT_URL"):
        build_index(dataclasses.replace(config, vector_store="qdrant"), embedder)


def test_the_payload_carries_what_a_citation_needs(qdrant_config, embedder):
    build_index(qdrant_config, embedder)
    engine = Engine.load(qdrant_config, embedder)
    backend = vector_backend(qdrant_config)
    assert isinstance(backend, QdrantBackend)
    points = backend._client.retrieve(_live_collection(qdrant_config), ids=[0, 1], with_payload=True)
    for point in points:
        chunk = engine._chunks[point.id]
        assert point.payload == {
            "row": point.id,
            "document": chunk.document,
            "start": chunk.start,
            "end": chunk.end,
            "line_start": chunk.line_start,
            "line_end": chunk.line_end,
            "section": list(chunk.section),
            "page": chunk.page,
        }
