"""Shared fixtures: a deterministic fake embedder and small document folders."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from index import EngineConfig
from index.ingest import ChunkingParams

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SEED = REPO / "docs" / "anthropic-dod-standoff.txt"
# Nothing here may create files at import time: subprocesses (the crash-safety test's
# builders, killed with SIGKILL) import this module too, and would leave them behind.


@pytest.fixture(scope="session", autouse=True)
def user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's user cache directory (XDG_CACHE_HOME), inherited by subprocesses: tests
    never write to the developer's ~/.cache, and pytest cleans it up like any tmp_path."""
    folder = tmp_path_factory.mktemp("user-cache")
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="session")
def model_cache(user_cache: Path) -> Path:
    """One ONNX export of the packaged model for every real-model test of the session, in
    the session's user cache (where the CLI and the library look by default); exported here,
    so no test sees the one-time export."""
    from index import make_embedder
    from index.onnx_embedding import default_cache_dir

    folder = default_cache_dir()
    assert folder.is_relative_to(user_cache)
    _ = make_embedder(backend="onnx-int8", cache_dir=folder).dimension
    return folder


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def shared_data(relative: str) -> Path:
    """``../shared/<relative>``, the read-only evaluation data. Where it is missing the test is
    skipped on a developer's machine, but fails in CI (``CI=true``), which always provides it:
    a skip there would hide that the test never ran."""
    path = SHARED / relative
    if not path.exists():
        if in_ci():
            pytest.fail(f"{path} is missing: CI must provide ../shared next to the repository.", pytrace=False)
        pytest.skip(f"needs {path} (../shared)")
    return path


class HashingEmbedder:
    """Bag of words hashed into 256 dimensions, L2-normalized: fast, deterministic, and
    similar texts really are similar, so ranking tests mean something."""

    name = "test-hashing-embedder"
    dimension = 256

    def __init__(self) -> None:
        self.embedded: list[str] = []
        self.fail_after: int | None = None  # raise after this many texts (failure injection)

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            vector[int.from_bytes(digest[:4], "little") % self.dimension] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def embed_documents(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        if self.fail_after is not None and len(self.embedded) + len(texts) > self.fail_after:
            raise RuntimeError("injected embedding failure")
        self.embedded.extend(texts)
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "seed.txt").write_bytes(SEED.read_bytes())
    (folder / "guide.md").write_text(
        "# Guide\n\nIntro text about the guide.\n\n## Installing\n\nRun the installer. It takes two minutes.\n\n"
        "## Llamas\n\nLlamas eat grass and hay. A llama can carry 25 kg over 20 km.\n",
        encoding="utf-8",
    )
    return folder


VECTOR_STORES = ("faiss", "qdrant")


@pytest.fixture(params=VECTOR_STORES)
def vector_store(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each vector store in turn: a module runs its engine tests on both by overriding
    ``config`` with :func:`on_vector_store`."""
    yield request.param
    if request.param == "qdrant":
        from index.qdrant_store import close_clients

        close_clients()  # local mode holds its folder (and its points in memory) until closed


def on_vector_store(config: EngineConfig, kind: str, folder: Path) -> EngineConfig:
    """``config`` with the vectors and the lexical side in ``kind``: Qdrant in local mode in ``folder``."""
    if kind == "faiss":
        return config
    from index.config import QdrantConfig

    return dataclasses.replace(config, vector_store="qdrant", qdrant=QdrantConfig(path=folder / "qdrant"))


@pytest.fixture
def config(tmp_path: Path, docs_dir: Path) -> EngineConfig:
    return EngineConfig(
        documents_dir=docs_dir,
        index_dir=tmp_path / "index",
        model=HashingEmbedder.name,
        chunking=ChunkingParams(max_chars=400, overlap=1),
        threshold=0.15,
    )
