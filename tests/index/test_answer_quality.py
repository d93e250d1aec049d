"""Answer quality behaviours on small documents: lists quoted with their lead-in, three
outcomes, sentence evidence kept across reindexes, stale learned models never used."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from index import Engine, build_index
from index.engine import decide
from index.ingest import ChunkingParams, chunk_document, parse_document
from index.quotes import is_lead_in, quote_windows
from index.ranker import Ranker
from index.store import IndexDirectory, read_chunks, read_sentence_vectors, sentence_offsets
from tests.conftest import on_vector_store


@pytest.fixture
def config(config, vector_store, tmp_path):
    """The engine tests run on each vector store (tests/conftest.py, VECTOR_STORES)."""
    return on_vector_store(config, vector_store, tmp_path)


TRIGGERS = (
    "# Triggers\n\n"
    "A trigger is an event that a package declares interest in. There are three kinds of triggers:\n\n"
    "- explicit triggers, which are activated by name with dpkg-trigger.\n"
    "- file triggers, which are activated when a path changes.\n"
    "- await triggers, which make the activating package wait.\n\n"
    "Triggers are processed at the end of a dpkg run.\n"
)


@pytest.fixture
def list_docs(tmp_path: Path) -> Path:
    folder = tmp_path / "list-docs"
    folder.mkdir()
    (folder / "triggers.md").write_text(TRIGGERS, encoding="utf-8")
    (folder / "other.md").write_text(
        "# Other\n\nPackages are installed with dpkg. Removal uses dpkg -r.\n", encoding="utf-8"
    )
    return folder


def test_a_list_question_gets_the_lead_in_and_every_item(list_docs, config, embedder):
    config = dataclasses.replace(config, documents_dir=list_docs)
    build_index(config, embedder)
    engine = Engine.load(config, embedder)
    top = engine.search("What kinds of triggers are there?", k=3)[0]
    assert "There are three kinds of triggers:" in top.text
    for item in ("explicit triggers", "file triggers", "await triggers"):
        assert item in top.text
    assert "processed at the end" not in top.text  # the paragraph after the list is not an item
    source = (list_docs / top.document).read_text(encoding="utf-8")
    assert source[top.start : top.end] == top.text


@pytest.mark.parametrize(
    "text",
    [
        TRIGGERS,
        "# A\n\nSteps:\n\n1. Download it.\n2. Unpack it.\n3. Run it.\n",
        "# B\n\nOne sentence here. The options are:\n\nNothing follows the colon in this one.\n",
        "# C\n\nEnds on a lead-in:",
    ],
)
def test_no_quote_ends_on_a_lead_in_followed_by_items(text):
    document = parse_document("doc.md", text.encode())
    for chunk in chunk_document(document, ChunkingParams(max_chars=800, overlap=1)):
        sentences = [chunk.text[a - chunk.start : b - chunk.start] for a, b in chunk.sentences]
        windows = quote_windows(chunk, 500)
        assert windows, "every chunk has something to quote"
        for first, last in windows:
            assert 0 <= first <= last < len(sentences)
            if is_lead_in(sentences[last]) and last + 1 < len(sentences):
                following = chunk.text[
                    chunk.sentences[last][1] - chunk.start : chunk.sentences[last + 1][0] - chunk.start
                ]
                assert "\n" not in following, f"{sentences[first : last + 1]} ends on a lead-in before its list"


ARTICLE = (
    "The council met on Monday to discuss the budget. It voted to close the old library.\n"
    "The mayor published a letter explaining the decision. She said the building was unsafe.\n"
)
WRAPPED = (
    "# Notes\n\n"
    "The council met on Monday to discuss the budget.\n"
    "It voted to close the old library. The mayor published a letter explaining\n"
    "the decision.\n\n"
    "She said the building was unsafe.\n"
)


@pytest.mark.parametrize(("text", "paragraphs"), [(ARTICLE, (2, 2)), (WRAPPED, (3, 1))])
def test_no_quote_runs_from_one_paragraph_into_the_next(text, paragraphs):
    """One paragraph a line (the bundled article) or wrapped lines with blank lines between
    paragraphs: a quote may hold a whole paragraph, never parts of two."""
    document = parse_document("doc.md", text.encode())
    (chunk,) = chunk_document(document, ChunkingParams(max_chars=800, overlap=1))
    paragraph_of = [k for k, n in enumerate(paragraphs) for _ in range(n)]
    windows = quote_windows(chunk, 500)
    for k in range(len(paragraphs)):
        held = [i for i, p in enumerate(paragraph_of) if p == k]
        assert (held[0], held[-1]) in windows, f"paragraph {k} is not quotable whole"
    for first, last in windows:
        assert paragraph_of[first] == paragraph_of[last], (first, last)


def test_the_quote_starts_with_the_paragraph_that_answers(tmp_path, config, embedder):
    folder = tmp_path / "article"
    folder.mkdir()
    (folder / "article.txt").write_text(ARTICLE, encoding="utf-8")
    config = dataclasses.replace(config, documents_dir=folder)
    build_index(config, embedder)
    top = Engine.load(config, embedder).search("What did the mayor publish about closing the library?", k=3)[0]
    assert top.text.startswith("The mayor published a letter")
    assert ARTICLE[top.start : top.end] == top.text


@pytest.mark.parametrize(
    ("relevant", "confidence", "expected"),
    [
        (False, 0.99, "not_found"),  # below the relevance floor, whatever the model says
        (True, None, "answered"),  # no learned model: the floor alone decides
        (True, 0.9, "answered"),
        (True, 0.5, "not_sure"),
        (True, 0.1, "not_found"),
        (True, 0.6, "answered"),  # a cut is inclusive for the better outcome
        (True, 0.2, "not_sure"),
    ],
)
def test_three_outcomes_follow_the_thresholds(relevant, confidence, expected):
    assert decide(relevant=relevant, confidence=confidence, thresholds=(0.6, 0.2)) == expected


def test_not_sure_shows_passages_and_not_found_shows_sections(config, embedder):
    build_index(config, embedder)
    if Ranker.load() is None:
        pytest.fail("the learned models are missing from index/models (run bench/train_ranker.py)")
    unsure = Engine.load(dataclasses.replace(config, not_sure_threshold=1.0, not_found_threshold=0.0), embedder)
    answer = unsure.ask("How much can a llama carry?")
    assert answer.outcome == "not_sure" and not answer.abstained
    assert answer.passages and answer.confidence is not None
    refused = Engine.load(dataclasses.replace(config, not_sure_threshold=1.0, not_found_threshold=1.0), embedder)
    answer = refused.ask("How much can a llama carry?")
    assert answer.outcome == "not_found" and answer.abstained
    assert not answer.passages and answer.suggestions
    sure = Engine.load(dataclasses.replace(config, not_sure_threshold=0.0, not_found_threshold=0.0), embedder)
    assert sure.ask("How much can a llama carry?").outcome == "answered"


def test_sentence_vectors_cover_every_sentence_and_survive_a_reindex(config, embedder, docs_dir):
    build_index(config, embedder)
    build = IndexDirectory(config.index_dir).current_build()
    chunks, vectors = read_chunks(build), read_sentence_vectors(build)
    offsets = sentence_offsets(chunks)
    assert vectors is not None and len(vectors) == offsets[-1] == sum(len(c.sentences) for c in chunks)
    before = {
        (c.document, c.start, c.end): vectors[offsets[i] : offsets[i + 1]].copy()
        for i, c in enumerate(chunks)
        if c.document == "seed.txt"
    }
    (docs_dir / "guide.md").write_text("# Guide\n\nA new text about something else entirely.\n", encoding="utf-8")
    report = build_index(config, embedder)
    assert report.changed == ("guide.md",)
    build = IndexDirectory(config.index_dir).current_build()
    chunks, vectors = read_chunks(build), read_sentence_vectors(build)
    offsets = sentence_offsets(chunks)
    after = {
        (c.document, c.start, c.end): vectors[offsets[i] : offsets[i + 1]]
        for i, c in enumerate(chunks)
        if c.document == "seed.txt"
    }
    assert before.keys() == after.keys()
    for key, old in before.items():
        np.testing.assert_array_equal(old, after[key])
    # Each sentence vector is the embedding of that sentence (this embedder has no token pooling).
    chunk = chunks[0]
    sentence = chunk.text[chunk.sentences[0][0] - chunk.start : chunk.sentences[0][1] - chunk.start]
    np.testing.assert_allclose(vectors[offsets[0]], embedder.embed_query(sentence), atol=1e-3)


def test_models_trained_on_other_features_are_not_used(tmp_path: Path):
    shipped = Ranker.load()
    if shipped is None:
        pytest.fail("the learned models are missing from index/models (run bench/train_ranker.py)")
    stale = tmp_path / "models"
    stale.mkdir()
    info = dict(shipped.info)
    info["span_features"] = [*info["span_features"][:-1], "a_feature_this_code_does_not_compute"]
    (stale / "models.json").write_text(json.dumps(info), encoding="utf-8")
    assert Ranker.load(stale) is None
    assert Ranker.load(tmp_path / "absent") is None
