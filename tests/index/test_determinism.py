"""The same question gets the same quotes in every process, and a reindex gives what a rebuild
of the same documents gives: two shards, or the bot before and after a restart, quote the
same passage. On the real model (the int8 ONNX backend, the default)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index import EngineConfig, build_index
from index.engine import Engine
from index.onnx_embedding import make_embedder
from index.store import IndexDirectory, read_chunks, read_sentence_vectors, read_vectors
from tests.conftest import REPO, SEED

pytestmark = pytest.mark.slow

PAGES = REPO / "tests" / "index" / "pages"
QUESTIONS = (
    "What did the Department of Defense demand from Anthropic?",
    "How do I split a path into a pair?",
    "What is a virtual table?",
    "Is libffi thread safe?",
)
# Pasted text: more distinct words than a question's coverage counts (62), so which of them
# count must not depend on the process.
PASTED = " ".join(SEED.read_text(encoding="utf-8").split()[:160]) + " What happened next?"


def _ask_in_a_fresh_process(docs: Path, index_dir: Path, question: str, seed: int, cwd: Path) -> dict:  # type: ignore[type-arg]
    env = {name: value for name, value in os.environ.items() if not name.startswith("VERBATIM_")}
    env |= {"PYTHONHASHSEED": str(seed), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "bot.cli", "--docs", str(docs), "--index-dir", str(index_dir)]
    out = subprocess.run(
        [*command, "ask", "--json", "-k", "3", question], capture_output=True, text=True, env=env, cwd=cwd, check=True
    )
    answer: dict = json.loads(out.stdout)  # type: ignore[type-arg]
    return answer


def test_verbatim_ask_quotes_the_same_passages_under_any_hash_seed(tmp_path: Path, model_cache: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copyfile(SEED, docs / SEED.name)
    shutil.copyfile(PAGES / "sphinx-python-os-path.html", docs / "os-path.html")
    shutil.copyfile(PAGES / "sqlite-vtab.html", docs / "sqlite-vtab.html")
    config = EngineConfig(documents_dir=docs, index_dir=tmp_path / "index")
    build_index(config, make_embedder(backend="onnx-int8", cache_dir=model_cache))
    for question in (*QUESTIONS[:3], PASTED):
        answers = [_ask_in_a_fresh_process(docs, config.index_dir, question, seed, tmp_path) for seed in (12, 14, 16)]
        assert answers[0]["passages"], question
        # Every field: the passages, their order, their scores and the confidence.
        assert answers[1] == answers[0] and answers[2] == answers[0], question


def _stored(config: EngineConfig) -> tuple[list[tuple[str, int, int]], np.ndarray, np.ndarray | None]:
    build = IndexDirectory(config.index_dir).current_build()
    spans = [(c.document, c.start, c.end) for c in read_chunks(build)]
    return spans, read_vectors(build), read_sentence_vectors(build)


def test_a_reindex_stores_and_quotes_what_a_rebuild_would(tmp_path: Path, model_cache: Path) -> None:
    """Only new documents are embedded by a reindex, in other batches than a full build
    makes: their vectors, and so the passages quoted, must not depend on that."""
    embedder = make_embedder(backend="onnx-int8", cache_dir=model_cache)
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copyfile(SEED, docs / SEED.name)
    shutil.copyfile(PAGES / "sqlite-vtab.html", docs / "sqlite-vtab.html")
    updated = EngineConfig(documents_dir=docs, index_dir=tmp_path / "updated")
    build_index(updated, embedder)
    for page in ("sphinx-python-os-path.html", "texinfo-libffi-thread-safety.html"):
        shutil.copyfile(PAGES / page, docs / page)
    report = build_index(updated, embedder)
    assert 0 < report.embedded_chunks < report.chunks  # a reindex: the first documents were kept
    rebuilt = EngineConfig(documents_dir=docs, index_dir=tmp_path / "rebuilt")
    build_index(rebuilt, embedder, rebuild=True)

    spans, vectors, sentences = _stored(updated)
    fresh_spans, fresh_vectors, fresh_sentences = _stored(rebuilt)
    assert spans == fresh_spans
    assert np.array_equal(vectors, fresh_vectors)
    assert sentences is not None and fresh_sentences is not None and np.array_equal(sentences, fresh_sentences)
    for question in QUESTIONS:
        quoted = Engine.load(updated, embedder).ask(question).passages
        assert quoted and quoted == Engine.load(rebuilt, embedder).ask(question).passages, question


def test_the_torch_backend_gives_a_text_the_same_vector_in_any_batch() -> None:
    from index import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    lines = [line for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [" ".join(lines[i : i + 1 + i % 4]) for i in range(12)]
    vectors = embedder.embed_documents(texts, batch_size=6)
    assert np.array_equal(embedder.embed_documents(["A short one.", *texts[::-1]], batch_size=4)[1:][::-1], vectors)
    assert np.array_equal(embedder.embed_query(texts[5]), vectors[5])
