"""Where candidate chunks come from: one build's vectors and lexical side, behind one interface.

Two stores implement it. FAISS (the default) keeps ``vectors.npy``, ``dense.faiss`` and the
BM25 postings (:mod:`index.lexical`) in the build folder. Qdrant (:mod:`index.qdrant_store`) keeps the vectors and
BM25 term weights in one collection per build, for several machines sharing one store. Either
way the chunk store, the sentence vectors and the term statistics stay in the build folder,
and a build names its store in the manifest (``vector_store``).

A :class:`VectorBackend` writes a build's side and makes it live; the :class:`VectorStore`
it opens answers queries.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from index.chunk_store import bm25_tokens
from index.config import EngineConfig, VectorStoreKind
from index.dense import (
    build_dense_index,
    choose_kind,
    describe,
    ivf_lists,
    load_dense_index,
    save_dense_index,
    search_dense,
    updated_dense_index,
)
from index.errors import CorruptIndexError, VectorStoreMismatchError
from index.lexical import Bm25sIndex, LexicalIndex
from index.store import Manifest, read_vectors, write_vectors
from index.types import Chunk

log = logging.getLogger(__name__)

_NO_ROWS = np.zeros(0, dtype=np.int64)
_NO_SCORES = np.zeros(0, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Proposals:
    """The chunk rows a store proposes for a query, best first within each retriever."""

    dense_rows: np.ndarray
    dense_cosines: np.ndarray
    lexical_rows: np.ndarray
    lexical_scores: np.ndarray  # BM25
    # The true cosine of each lexical row's vector with the query's (zeros without a vector):
    # the abstain decision reads cosines, never a rank or a fused score.
    lexical_cosines: np.ndarray


@dataclass(frozen=True, slots=True)
class PreviousBuild:
    """The live build a reindex starts from, and where each row of the new build comes from:
    row i is this build's row ``rows[i]``, or new where that is -1."""

    folder: Path
    manifest: Manifest
    chunks: int  # in the previous build
    rows: np.ndarray

    @property
    def new_rows(self) -> np.ndarray:
        return np.flatnonzero(self.rows < 0)


class VectorStore(Protocol):
    """One loaded build's vectors and lexical side. Thread-safe for reads."""

    kind: VectorStoreKind

    def __len__(self) -> int: ...

    def propose(self, vector: np.ndarray | None, tokens: Sequence[str] | None, k: int) -> Proposals:
        """The ``k`` nearest chunks to ``vector`` (unless None) and the ``k`` best BM25
        matches of ``tokens`` (unless None)."""
        ...

    def idf(self, token: str) -> float: ...

    def knows(self, token: str) -> bool:
        """True when some chunk holds ``token``."""
        ...


class VectorBackend(Protocol):
    """Writes one build's vectors and lexical side, makes them live, and opens them."""

    kind: VectorStoreKind

    def write(
        self,
        folder: Path,
        build: str,
        vectors: np.ndarray,
        chunks: Sequence[Chunk],
        previous: PreviousBuild | None = None,
    ) -> dict[str, Any]:
        """Store the build's side (``folder`` is the build being written), updating
        ``previous``'s where it can; returns the manifest's ``vector_store`` entry, with
        ``dense_index`` describing the dense index."""
        ...

    def publish(self, build: str) -> None:
        """Called once the build is live (``CURRENT`` names it)."""
        ...

    def discard(self, build: str) -> None:
        """Called when the build failed before it went live."""
        ...

    def open(self, build_dir: Path, manifest: Manifest) -> VectorStore: ...

    def stored_vectors(self, build_dir: Path, manifest: Manifest) -> np.ndarray:
        """Every chunk vector of a build, row i for chunk i (an incremental build reuses them)."""
        ...


def store_kind(manifest: Manifest) -> VectorStoreKind:
    """The store a build was written to (builds from before the choice existed: FAISS)."""
    kind = manifest.vector_store.get("kind", "faiss")
    return "qdrant" if kind == "qdrant" else "faiss"


def vector_backend(config: EngineConfig, kind: VectorStoreKind | None = None) -> VectorBackend:
    """The backend of the configured store (or of ``kind``, for reading an older build)."""
    kind = kind or config.vector_store
    if kind == "qdrant":
        from index.qdrant_store import QdrantBackend

        return QdrantBackend.from_config(config)
    return FaissBackend()


def check_store(manifest: Manifest, config: EngineConfig) -> None:
    """Refuse a build written to another store than the configured one."""
    built = store_kind(manifest)
    if built != config.vector_store:
        raise VectorStoreMismatchError(
            f"The index was built with the {built} vector store, but VERBATIM_VECTOR_STORE={config.vector_store}.",
            hint="Run: verbatim index (it moves the index to the configured store, reusing its vectors), "
            f"or set VERBATIM_VECTOR_STORE={built}.",
        )


# Train the IVF lists again once this share of their training count was added since.
RETRAIN_SHARE = 0.5


class FaissStore:
    """FAISS over the memory-mapped ``vectors.npy``, and the BM25 postings."""

    kind: VectorStoreKind = "faiss"

    def __init__(self, vectors: np.ndarray, dense: Any, lexical: LexicalIndex | Bm25sIndex) -> None:
        self.vectors = vectors
        self.dense = dense
        self.lexical = lexical

    def __len__(self) -> int:
        return len(self.vectors)

    def propose(self, vector: np.ndarray | None, tokens: Sequence[str] | None, k: int) -> Proposals:
        dense_rows, dense_cosines = (
            search_dense(self.dense, vector, k) if vector is not None else (_NO_ROWS, _NO_SCORES)
        )
        lexical_rows, lexical_scores = (
            self.lexical.search(list(tokens), k) if tokens is not None else (_NO_ROWS, _NO_SCORES)
        )
        if vector is not None and len(lexical_rows):
            # Memory-mapped: only these rows are read.
            lexical_cosines = np.asarray(self.vectors[lexical_rows], dtype=np.float32) @ vector
        else:
            lexical_cosines = np.zeros(len(lexical_rows), dtype=np.float32)
        return Proposals(dense_rows, dense_cosines, lexical_rows, lexical_scores, lexical_cosines)

    def idf(self, token: str) -> float:
        return self.lexical.idf(token)

    def knows(self, token: str) -> bool:
        return self.lexical.knows(token)


class FaissBackend:
    """vectors.npy, dense.faiss and lexical/ in the build folder; the folder swap makes them live.

    A reindex updates the previous build's IVF index and BM25 postings instead of building
    them again: at a million chunks, training the IVF lists took 168 s and BM25 102 s. The
    IVF lists are trained again once the vectors added since their training reach
    :data:`RETRAIN_SHARE` of those they were trained on, or the corpus size calls for
    another number of lists."""

    kind: VectorStoreKind = "faiss"

    def __init__(self, dense_kind: str | None = None) -> None:
        self.dense_kind = dense_kind  # None: the kind that suits the corpus size (index.dense)

    def write(
        self,
        folder: Path,
        build: str,
        vectors: np.ndarray,
        chunks: Sequence[Chunk],
        previous: PreviousBuild | None = None,
    ) -> dict[str, Any]:
        if previous is not None and store_kind(previous.manifest) != "faiss":
            previous = None  # moving from another store: nothing here to update
        write_vectors(folder, vectors)
        dense, training = self._dense_index(vectors, previous)
        save_dense_index(dense, folder / "dense.faiss")
        self._lexical_index(chunks, previous).save(folder / "lexical")
        # No "kind": FAISS (store_kind).
        return {"dense_index": describe(dense), **training}

    def _dense_index(self, vectors: np.ndarray, previous: PreviousBuild | None) -> tuple[Any, dict[str, int]]:
        """The dense index and, for IVF, how many vectors its lists were trained on and
        how many were added since."""
        kind = self.dense_kind or choose_kind(len(vectors))
        if kind == "ivf-sq8" and previous is not None and (previous.folder / "dense.faiss").exists():
            trained_on = int(previous.manifest.vector_store.get("ivf_trained_on", previous.chunks))
            added = int(previous.manifest.vector_store.get("ivf_added_since", 0)) + len(previous.new_rows)
            old = _readable(load_dense_index, previous.folder / "dense.faiss")
            if (
                getattr(old, "nlist", None) == ivf_lists(len(vectors))
                and old.ntotal == previous.chunks
                and added < RETRAIN_SHARE * trained_on
            ):
                log.info("dense_index_updated", extra={"added": len(previous.new_rows), "added_since_training": added})
                dense = updated_dense_index(old, vectors, previous.rows)
                return dense, {"ivf_trained_on": trained_on, "ivf_added_since": added}
        dense = build_dense_index(vectors, kind)
        return dense, ({"ivf_trained_on": len(vectors), "ivf_added_since": 0} if kind == "ivf-sq8" else {})

    def _lexical_index(self, chunks: Sequence[Chunk], previous: PreviousBuild | None) -> LexicalIndex:
        if previous is not None:
            old = _readable(LexicalIndex.load, previous.folder / "lexical")
            # A build from before the postings (bm25s) is built afresh, once.
            if isinstance(old, LexicalIndex) and len(old) == previous.chunks:
                return old.updated(previous.rows, bm25_tokens(chunks, previous.new_rows.tolist()))
        return LexicalIndex.from_tokens(bm25_tokens(chunks))

    def publish(self, build: str) -> None:
        return None

    def discard(self, build: str) -> None:
        return None

    def open(self, build_dir: Path, manifest: Manifest) -> FaissStore:
        # Memory-mapped: only the rows of BM25-only candidates are ever read.
        vectors = read_vectors(build_dir, mmap=True)
        dense = load_dense_index(build_dir / "dense.faiss")
        try:
            lexical = LexicalIndex.load(build_dir / "lexical")
        except (OSError, ValueError, KeyError) as exc:
            raise CorruptIndexError(
                f"The BM25 index in {build_dir} cannot be read ({exc}).",
                hint="Rebuild it with: verbatim index --rebuild",
            ) from exc
        if not len(vectors) == dense.ntotal == len(lexical):
            raise CorruptIndexError(
                f"The index in {build_dir} is inconsistent (vector, FAISS and BM25 counts differ).",
                hint="Rebuild it with: verbatim index --rebuild",
            )
        return FaissStore(vectors, dense, lexical)

    def stored_vectors(self, build_dir: Path, manifest: Manifest) -> np.ndarray:
        # Mapped: a reindex copies the rows it keeps once (1.5 GB at a million chunks).
        return read_vectors(build_dir, mmap=True)


def _readable(load: Any, path: Path) -> Any:
    """What ``load`` reads from ``path``, or None when it cannot (the reindex then builds
    that part afresh, as from no previous build)."""
    try:
        return load(path)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:  # FAISS raises RuntimeError
        log.warning("previous_part_unreadable_rebuilt", extra={"path": str(path), "reason": str(exc)[:200]})
        return None
