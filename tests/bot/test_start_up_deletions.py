"""A document deleted while nothing ran leaves the index at the next start-up: the CLI and
the bot (both open the index with ``open_index``) never quote a file that is gone."""

from __future__ import annotations

from bot.engine_factory import open_index
from index import build_index

QUESTION = "How much can a llama carry?"


def test_a_document_deleted_before_start_up_is_never_quoted(config, embedder, docs_dir):
    build_index(config, embedder)
    engine, _ = open_index(config, embedder)
    assert any(p.document == "guide.md" for p in engine.search(QUESTION, k=5))  # it did answer from it
    (docs_dir / "guide.md").unlink()
    told: list[list[str]] = []
    engine, report = open_index(config, embedder, on_stale=told.append)
    assert told == [["guide.md"]] and report is not None and report.removed == ("guide.md",)
    assert all(p.document != "guide.md" for p in engine.search(QUESTION, k=10))
    assert "guide.md" not in {d.path for d in engine.documents()}
