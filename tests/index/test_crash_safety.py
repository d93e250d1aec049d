"""A build that fails or dies at any step leaves the index whole: the old one or the new one.

Faults are injected at named steps (each file of a build, the flush, the rename, the switch of
``CURRENT``), so every step is exercised on every run; a SIGKILL at random moments adds the
moments nobody thought of.
"""

import builtins
import errno
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index import Engine, EngineConfig, build_index
from index.ingest import ChunkingParams
from index.store import IndexDirectory
from tests.conftest import REPO, HashingEmbedder

BUILDER = """
import sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from tests.conftest import HashingEmbedder
from index import EngineConfig, build_index
from index.ingest import ChunkingParams

class Slow(HashingEmbedder):
    def embed_documents(self, texts, *, batch_size=32):
        time.sleep(0.002 * len(texts))
        return super().embed_documents(texts, batch_size=batch_size)

config = EngineConfig(documents_dir=Path({docs!r}), index_dir=Path({index!r}),
                      chunking=ChunkingParams(max_chars=200, overlap=0))
print("started", flush=True)
build_index(config, Slow(), rebuild=True)
print("finished", flush=True)
"""

# A builder that kills itself (SIGKILL: no clean-up runs) at one named step of writing a build.
KILLED_BUILDER = """
import os, signal, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
import index.build
import index.vector_store
from index.lexical import LexicalIndex
from index.store import IndexDirectory
from tests.conftest import HashingEmbedder
from index import EngineConfig, build_index
from index.ingest import ChunkingParams

owner, attribute, when = {{
    "chunks written": (index.build, "write_chunks", "after"),
    "vectors written": (index.vector_store, "write_vectors", "after"),
    "FAISS index written": (index.vector_store, "save_dense_index", "after"),
    "BM25 index written": (LexicalIndex, "save", "after"),
    "manifest written": (index.build, "write_manifest", "after"),
    "before CURRENT is switched": (IndexDirectory, "_point_to", "before"),
    "after CURRENT is switched": (IndexDirectory, "_point_to", "after"),
    "while old builds are removed": (IndexDirectory, "_remove_old_builds", "before"),
}}[{point!r}]
step = getattr(owner, attribute)

def dying(*args, **kwargs):
    if when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    result = step(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
    return result

setattr(owner, attribute, dying)
config = EngineConfig(documents_dir=Path({docs!r}), index_dir=Path({index!r}),
                      chunking=ChunkingParams(max_chars=200, overlap=0))
build_index(config, HashingEmbedder())
print("survived", flush=True)
"""
KILL_POINTS = {  # step -> which build must be live after the kill
    "chunks written": "old",
    "vectors written": "old",
    "FAISS index written": "old",
    "BM25 index written": "old",
    "manifest written": "old",
    "before CURRENT is switched": "old",
    "after CURRENT is switched": "new",
    "while old builds are removed": "new",
}


def _write_corpus(docs: Path, marker: str, documents: int = 12) -> None:
    for i in range(documents):
        body = " ".join(f"Document {i} sentence {j} mentions {marker} clearly." for j in range(60))
        (docs / f"doc{i:02d}.md").write_text(f"# Doc {i}\n\n{body}\n", encoding="utf-8")


def _live_marker(config: EngineConfig, documents: int = 12) -> str:
    """The one marker the live index quotes, after checking every file's checksum."""
    engine = Engine.load(config, HashingEmbedder(), verify=True)
    texts = {engine.ask(f"Document {i} sentence 5 mentions", k=1).passages[0].text for i in range(0, documents, 3)}
    words = {w for t in texts for w in t.split() if "marker" in w}
    assert len(words) == 1, f"mixed index {words}"
    return words.pop()


@pytest.fixture
def small_index(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    config = EngineConfig(
        documents_dir=docs, index_dir=tmp_path / "index", chunking=ChunkingParams(max_chars=200, overlap=0)
    )
    _write_corpus(docs, "oldmarker", documents=4)
    build_index(config, HashingEmbedder())
    _write_corpus(docs, "newmarker", documents=4)
    return config


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


WRITE_STEPS = {
    "chunks": ("index.build", "write_chunks"),
    "vectors": ("index.vector_store", "write_vectors"),
    "FAISS index": ("index.vector_store", "save_dense_index"),
    "BM25 index": ("index.lexical.LexicalIndex", "save"),
    "manifest": ("index.build", "write_manifest"),
    "flush to disk": ("index.store", "_fsync_tree"),
    "rename": ("index.store.os", "rename"),
}


@pytest.mark.parametrize("step", WRITE_STEPS)
def test_a_failing_write_step_leaves_the_old_index_answering(small_index, monkeypatch, step):
    config = small_index
    target, attribute = WRITE_STEPS[step]
    monkeypatch.setattr(f"{target}.{attribute}", _disk_full)
    with pytest.raises(OSError, match="No space left"):
        build_index(config, HashingEmbedder())
    monkeypatch.undo()
    assert _live_marker(config, documents=4) == "oldmarker"
    assert not list(IndexDirectory(config.index_dir).builds.glob("*.partial"))
    build_index(config, HashingEmbedder())  # with room again, the next build goes through
    assert _live_marker(config, documents=4) == "newmarker"


class _FullDisk:
    """An opened (so already truncated) file whose writes fail as on a full disk."""

    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._handle.close()

    def __getattr__(self, name):
        return getattr(self._handle, name)


def test_a_full_disk_while_switching_keeps_the_old_index_live(small_index, monkeypatch):
    """The build's own files are written; then the disk fills up, just as ``CURRENT`` is to name it."""
    config = small_index
    root = Path(config.index_dir)
    real_open = builtins.open

    def open_on_a_full_disk(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)) and Path(file).parent == root and set(mode) & set("wax+"):
            return _FullDisk(handle)
        return handle

    monkeypatch.setattr(builtins, "open", open_on_a_full_disk)
    monkeypatch.setattr(io, "open", open_on_a_full_disk)  # what pathlib's write_text uses
    with pytest.raises(OSError, match="No space left"):
        build_index(config, HashingEmbedder())
    monkeypatch.undo()
    assert _live_marker(config, documents=4) == "oldmarker"
    build_index(config, HashingEmbedder())
    assert _live_marker(config, documents=4) == "newmarker"
    assert len([p for p in IndexDirectory(root).builds.iterdir()]) == 1  # the orphaned build was cleared


@pytest.mark.slow
def test_a_builder_killed_at_each_step_leaves_the_old_or_the_new_index_whole(small_index):
    config = small_index
    for point, expected in KILL_POINTS.items():
        script = KILLED_BUILDER.format(
            repo=str(REPO), docs=str(config.documents_dir), index=str(config.index_dir), point=point
        )
        killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert killed.returncode == -signal.SIGKILL, f"{point}: {killed.stdout}{killed.stderr}"
        assert _live_marker(config, documents=4) == f"{expected}marker", f"killed when {point}"
        # The next build runs (the dead builder's lock is gone) and clears what it left behind.
        _write_corpus(config.documents_dir, "oldmarker", documents=4)
        build_index(config, HashingEmbedder())
        assert _live_marker(config, documents=4) == "oldmarker"
        assert len(list(IndexDirectory(config.index_dir).builds.iterdir())) == 1
        _write_corpus(config.documents_dir, "newmarker", documents=4)


@pytest.mark.slow
def test_sigkill_at_random_points_never_leaves_a_broken_or_mixed_index(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    index_dir = tmp_path / "index"
    config = EngineConfig(documents_dir=docs, index_dir=index_dir, chunking=ChunkingParams(max_chars=200, overlap=0))
    _write_corpus(docs, "oldmarker")
    build_index(config, HashingEmbedder())
    script = BUILDER.format(repo=str(REPO), docs=str(docs), index=str(index_dir))
    rng = random.Random(20261127)
    outcomes = {"old": 0, "new": 0}
    for run in range(20):
        marker = f"newmarker{run}"
        _write_corpus(docs, marker)
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "started"
        time.sleep(rng.uniform(0.0, 1.2))
        process.send_signal(signal.SIGKILL)
        process.wait()
        finished = "finished" in process.stdout.read()
        live = _live_marker(config)
        assert live in (marker, "oldmarker"), f"run {run}: {live}"
        # A build that reported success before the kill must be the live one.
        assert live == marker or not finished, f"run {run}: the finished build is not live"
        outcomes["new" if live == marker else "old"] += 1
        _write_corpus(docs, "oldmarker")
        build_index(config, HashingEmbedder(), rebuild=True)
    print(json.dumps(outcomes))
