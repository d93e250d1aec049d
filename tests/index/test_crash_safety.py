"""SIGKILL a reindex at random moments: the index must load and be the old or the new one."""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index import Engine, EngineConfig, build_index
from index.chunking import ChunkingParams
from tests.conftest import REPO, HashingEmbedder

BUILDER = """
import sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from tests.conftest import HashingEmbedder
from index import EngineConfig, build_index
from index.chunking import ChunkingParams

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


def _write_corpus(docs: Path, marker: str) -> None:
    for i in range(12):
        body = " ".join(f"Document {i} sentence {j} mentions {marker} clearly." for j in range(60))
        (docs / f"doc{i:02d}.md").write_text(f"# Doc {i}\n\n{body}\n", encoding="utf-8")


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
        engine = Engine.load(config, HashingEmbedder())  # verifies every checksum
        texts = {engine.ask(f"Document {i} sentence 5 mentions", k=1).passages[0].text for i in range(0, 12, 3)}
        words = {w for t in texts for w in t.split() if "marker" in w}
        assert len(words) == 1, f"run {run}: mixed index {words}"
        outcomes["new" if marker in words.pop() else "old"] += 1
        _write_corpus(docs, "oldmarker")
        build_index(config, HashingEmbedder(), rebuild=True)
    print(json.dumps(outcomes))
    assert sum(outcomes.values()) == 20
