"""A change of chunking re-chunks every document: an index is never half cut one way and
half the other, and a reindex after the change holds what a fresh build would."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import index.build as build
from index import build_index
from index.config import EngineConfig
from index.ingest import ChunkingParams
from index.store import IndexDirectory, read_chunks


def chunk_spans(config: EngineConfig) -> list[tuple[str, int, int]]:
    return [(c.document, c.start, c.end) for c in read_chunks(IndexDirectory(config.index_dir).current_build())]


@pytest.mark.parametrize(
    "chunking",
    [ChunkingParams(max_chars=250, overlap=1), ChunkingParams(max_chars=400, overlap=0)],
    ids=["chunk-size", "overlap"],
)
def test_a_new_chunk_size_or_overlap_rechunks_every_document(config, embedder, tmp_path: Path, chunking) -> None:
    build_index(config, embedder)
    before = chunk_spans(config)
    changed = replace(config, chunking=chunking)
    report = build_index(changed, embedder)
    fresh = replace(changed, index_dir=tmp_path / "fresh")
    build_index(fresh, embedder)
    assert chunk_spans(fresh) != before  # the change does cut the documents otherwise
    assert chunk_spans(changed) == chunk_spans(fresh)
    assert report.embedded_chunks == report.chunks  # no vector of an old chunk kept


def test_a_new_sentence_splitter_rechunks_every_document(config, embedder, monkeypatch) -> None:
    """An index cut by the previous splitter (its version in the manifest) is cut again."""
    with monkeypatch.context() as older:
        older.setattr(build, "SENTENCE_SPLITTER", build.SENTENCE_SPLITTER - 1)
        build_index(config, embedder)
    report = build_index(config, embedder)
    assert report.rebuilt and report.embedded_chunks == report.chunks > 0
