"""The Qdrant vector store: each build's vectors and BM25 term weights in a collection of its own.

A build ``<id>`` of an index is written to the collection ``<alias>-<index id>-<id>`` (the index's
own id: :meth:`index.store.IndexDirectory.own_id`): one point per chunk (id = the chunk's row), a
named dense vector (cosine) and a sparse vector of BM25 term weights, with Qdrant's IDF modifier
supplying the inverse document frequencies, so a sparse query scores exactly what bm25s scores.
The tokens are Verbatim's own (index.lexical.tokenize), and the payload carries what a citation
needs. Once the build is live (``CURRENT`` names it), the alias moves to its collection in one
request and this index's older collections are dropped, but for the one just replaced: a reader
still holding the previous build keeps answering until it follows CURRENT. Another index's
collections are never dropped, and its alias never taken. A build that fails drops its
collection and leaves the alias where it was.

The engine queries the collection its build names, not the alias: the chunk rows it holds
belong to that build.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.chunk_store import bm25_tokens
from index.config import EngineConfig, QdrantConfig, VectorStoreKind
from index.errors import CorruptIndexError, VectorStoreError, VerbatimError
from index.lexical import Bm25sIndex, LexicalIndex
from index.store import IndexDirectory, Manifest
from index.types import Chunk
from index.vector_store import PreviousBuild, Proposals

log = logging.getLogger(__name__)

DENSE = "dense"
LEXICAL = "lexical"
# bm25s's defaults (method "lucene"): the term-frequency saturation a sparse value carries.
BM25_K1 = 1.5
BM25_B = 0.75
# A build folder's name (index.store.IndexDirectory.new_build): time, process, nanoseconds.
_BUILD_NAME = r"-\d{8}T\d{6}-\d+-\d{6}"
_UPLOAD_BATCH = 256
_SCROLL_PAGE = 1024
_SERVER_TIMEOUT_SECONDS = 10

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _client(config: QdrantConfig) -> Any:
    """One client per location and process: local mode refuses a second client on a folder."""
    with _clients_lock:
        client = _clients.get(config.location)
        if client is None:
            try:
                from qdrant_client import QdrantClient
            except ImportError:
                raise VectorStoreError(
                    "VERBATIM_VECTOR_STORE=qdrant needs qdrant-client.",
                    hint='Install it with: pip install -e ".[qdrant]"',
                ) from None
            with _talking_to(config):
                if config.url is not None:
                    client = QdrantClient(
                        url=config.url,
                        api_key=config.api_key,
                        timeout=_SERVER_TIMEOUT_SECONDS,
                        check_compatibility=False,
                    )
                else:
                    assert config.path is not None
                    Path(config.path).mkdir(parents=True, exist_ok=True)
                    client = QdrantClient(path=str(config.path))
            if not _clients:
                atexit.register(close_clients)  # local mode flushes and unlocks its folder
            _clients[config.location] = client
        return client


def close_clients() -> None:
    """Close every client this process opened (local mode releases its folder)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


@contextlib.contextmanager
def _talking_to(config: QdrantConfig) -> Iterator[None]:
    """qdrant-client raises httpx, gRPC, HTTP-status and (local mode) runtime errors; each
    becomes one :class:`VectorStoreError` saying where Qdrant was looked for."""
    try:
        yield
    except VerbatimError:
        raise
    except Exception as exc:
        where = f"VERBATIM_QDRANT_URL={config.url}" if config.url else f"VERBATIM_QDRANT_PATH={config.path}"
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        log.warning("qdrant_request_failed", extra={"location": config.location, "error": detail})
        raise VectorStoreError(
            f"Qdrant ({where}) cannot be used: {detail.rstrip('.')}.",
            hint="Check that the server runs and the setting is right (a local-mode folder is open in one process only).",
        ) from exc


def bm25_weights(tokens: Sequence[list[str]]) -> list[tuple[list[int], list[float]]]:
    """Each chunk's sparse vector (term ids, term-frequency parts of BM25), the vocabulary
    being :func:`vocabulary` of the same chunks."""
    vocab = vocabulary(tokens)
    lengths = np.array([len(t) for t in tokens], dtype=np.float64)
    average = float(lengths.mean()) if len(lengths) and lengths.mean() > 0 else 1.0
    sparse = []
    for chunk_tokens_, length in zip(tokens, lengths.tolist()):
        counts = Counter(chunk_tokens_)
        norm = BM25_K1 * ((1 - BM25_B) + BM25_B * length / average)
        ids = [vocab[t] for t in counts]
        sparse.append((ids, [c / (norm + c) for c in counts.values()]))
    return sparse


def vocabulary(tokens: Sequence[Sequence[str]] | LexicalIndex | Bm25sIndex) -> dict[str, int]:
    """Term ids of a build: its distinct tokens, sorted (the term statistics give them back)."""
    terms = tokens.terms() if isinstance(tokens, LexicalIndex | Bm25sIndex) else {t for chunk in tokens for t in chunk}
    return {term: i for i, term in enumerate(sorted(terms))}


class QdrantStore:
    """One build's collection, queried for candidates; term statistics from the build folder."""

    kind: VectorStoreKind = "qdrant"

    def __init__(
        self,
        client: Any,
        config: QdrantConfig,
        collection: str,
        terms: LexicalIndex | Bm25sIndex,
        count: int,
        local: bool,
    ) -> None:
        self._client = client
        self._config = config
        self.collection = collection
        self._terms = terms
        self._vocabulary = vocabulary(terms)
        self._count = count
        # Local mode is an in-process Python engine; its calls are serialized.
        self._lock: contextlib.AbstractContextManager[Any] = threading.Lock() if local else contextlib.nullcontext()

    def __len__(self) -> int:
        return self._count

    def propose(self, vector: np.ndarray | None, tokens: Sequence[str] | None, k: int) -> Proposals:
        from qdrant_client import models

        requests = []
        if vector is not None:
            requests.append(models.QueryRequest(query=vector.tolist(), using=DENSE, limit=k))
        sparse = self._sparse_query(tokens) if tokens is not None else None
        if sparse is not None:
            # The dense vectors of the BM25 matches come back with them: their true cosine.
            with_vector = [DENSE] if vector is not None else False
            requests.append(models.QueryRequest(query=sparse, using=LEXICAL, limit=k, with_vector=with_vector))
        responses = []
        if requests:
            with self._lock, _talking_to(self._config):
                responses = self._client.query_batch_points(self.collection, requests=requests)
        dense = responses[0].points if vector is not None else []
        lexical = responses[-1].points if sparse is not None else []
        if vector is not None and lexical:
            matrix = np.array([p.vector[DENSE] for p in lexical], dtype=np.float32)
            lexical_cosines = matrix @ vector
        else:
            lexical_cosines = np.zeros(len(lexical), dtype=np.float32)
        return Proposals(
            np.array([p.id for p in dense], dtype=np.int64),
            np.array([p.score for p in dense], dtype=np.float32),
            np.array([p.id for p in lexical], dtype=np.int64),
            np.array([p.score for p in lexical], dtype=np.float32),
            lexical_cosines.astype(np.float32),
        )

    def _sparse_query(self, tokens: Sequence[str]) -> Any:
        from qdrant_client import models

        counts = Counter(t for t in tokens if t in self._vocabulary)
        if not counts:
            return None
        return models.SparseVector(
            indices=[self._vocabulary[t] for t in counts], values=[float(c) for c in counts.values()]
        )

    def idf(self, token: str) -> float:
        return self._terms.idf(token)

    def knows(self, token: str) -> bool:
        return self._terms.knows(token)


class QdrantBackend:
    """Writes a build's collection, moves the alias to it, and opens it."""

    kind: VectorStoreKind = "qdrant"

    def __init__(self, config: QdrantConfig, index_dir: Path) -> None:
        self.config = config
        self.directory = IndexDirectory(index_dir)
        # Build being written -> (the collection it replaces, the one that one replaced).
        self._replacing: dict[str, tuple[str | None, str | None]] = {}

    @classmethod
    def from_config(cls, config: EngineConfig) -> QdrantBackend:
        qdrant = config.qdrant
        if qdrant is None or (qdrant.url is None) == (qdrant.path is None):
            raise VectorStoreError(
                "VERBATIM_VECTOR_STORE=qdrant needs exactly one of VERBATIM_QDRANT_URL (a server or cluster) "
                "and VERBATIM_QDRANT_PATH (a local-mode folder)."
            )
        return cls(qdrant, Path(config.index_dir))

    def collection_for(self, build: str) -> str:
        return f"{self.config.collection}-{self.directory.own_id(create=True)}-{build}"

    def is_own_collection(self, name: str) -> bool:
        """Is ``name`` one of this index's build collections? Never another index's, whether it
        shares the alias ("verbatim-<its id>-<build>") or has one that starts the same
        ("verbatim-docs-...")."""
        own = self.directory.own_id()
        return (
            own is not None
            and re.fullmatch(re.escape(f"{self.config.collection}-{own}") + _BUILD_NAME, name) is not None
        )

    @property
    def _client(self) -> Any:
        return _client(self.config)

    @property
    def _local(self) -> bool:
        return self.config.url is None

    def write(
        self,
        folder: Path,
        build: str,
        vectors: np.ndarray,
        chunks: Sequence[Chunk],
        previous: PreviousBuild | None = None,
    ) -> dict[str, Any]:
        # Each build has a collection of its own, written whole: ``previous`` is not needed.
        from qdrant_client import models

        replaced, retired = self._live_collections()
        self._replacing[build] = (replaced, retired)
        tokens = bm25_tokens(chunks)
        # Term statistics (IDF weights for quote selection) stay in the build; Qdrant scores BM25.
        LexicalIndex.from_tokens(tokens).save(folder / "lexical")
        collection = self.collection_for(build)
        client = self._client
        with _talking_to(self.config):
            if client.collection_exists(collection):
                client.delete_collection(collection)
            client.create_collection(
                collection,
                vectors_config={
                    DENSE: models.VectorParams(size=int(vectors.shape[1]), distance=models.Distance.COSINE)
                },
                sparse_vectors_config={LEXICAL: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            )
            sparse = bm25_weights(tokens)
            for begin in range(0, len(chunks), _UPLOAD_BATCH):
                rows = range(begin, min(begin + _UPLOAD_BATCH, len(chunks)))
                points = [
                    models.PointStruct(
                        id=row,
                        vector={
                            DENSE: vectors[row].tolist(),
                            # Every chunk has one, empty or not: Qdrant counts them for the IDF.
                            LEXICAL: models.SparseVector(indices=sparse[row][0], values=sparse[row][1]),
                        },
                        payload=citation_payload(row, chunks[row]),
                    )
                    for row in rows
                ]
                client.upsert(collection, points=points, wait=True)
        log.info("qdrant_collection_written", extra={"collection": collection, "points": len(chunks)})
        entry = {
            "kind": self.kind,
            "dense_index": f"Qdrant {collection}",
            "collection": collection,
            "alias": self.config.collection,
        }
        # The next build drops it: it may be named as before index ids, which no pattern finds.
        return entry | ({"replaces": replaced} if replaced else {})

    def _live_collections(self) -> tuple[str | None, str | None]:
        """The collection of this index's live build, and the one that build replaced (None:
        no live build in Qdrant)."""
        try:
            build = self.directory.current_build()
            entry = json.loads((build / "manifest.json").read_text(encoding="utf-8")).get("vector_store", {})
        except (VerbatimError, OSError, ValueError, AttributeError):
            return None, None
        if not isinstance(entry, dict) or entry.get("kind") != self.kind:
            return None, None
        return entry.get("collection") or None, entry.get("replaces") or None

    def publish(self, build: str) -> None:
        """Move the alias to the build's collection (one request: atomic for the server's
        readers), unless another index holds it; then drop this index's older collections but
        the one it replaces. The build is live already: a failure here is logged, and the next
        build moves the alias."""
        from qdrant_client import models

        alias, collection = self.config.collection, self.collection_for(build)
        replaced, retired = self._replacing.pop(build, (None, None))
        client = self._client
        try:
            with _talking_to(self.config):
                target = self.alias_target()
                if target is None or target == replaced or self.is_own_collection(target):
                    operations: list[Any] = []
                    if target is not None:
                        operations.append(
                            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))
                        )
                    operations.append(
                        models.CreateAliasOperation(
                            create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)
                        )
                    )
                    client.update_collection_aliases(change_aliases_operations=operations)
                else:
                    log.warning("qdrant_alias_held_by_another_index", extra={"alias": alias, "collection": target})
                kept = {collection, replaced}
                for old in client.get_collections().collections:
                    if old.name not in kept and (old.name == retired or self.is_own_collection(old.name)):
                        client.delete_collection(old.name)
        except VectorStoreError as exc:
            log.error("qdrant_alias_not_switched", extra={"alias": alias, "collection": collection, "error": str(exc)})
            return
        log.info("qdrant_alias_switched", extra={"alias": alias, "collection": collection, "replaced": replaced})

    def alias_target(self) -> str | None:
        """The collection the alias names now (None before the first build)."""
        with _talking_to(self.config):
            for item in self._client.get_aliases().aliases:
                if item.alias_name == self.config.collection:
                    return str(item.collection_name)
        return None

    def discard(self, build: str) -> None:
        self._replacing.pop(build, None)
        collection = self.collection_for(build)
        try:
            with _talking_to(self.config):
                if self._client.collection_exists(collection):
                    self._client.delete_collection(collection)
        except VectorStoreError:  # the failure being reported matters more; the next build cleans up
            log.warning("qdrant_partial_collection_left", extra={"collection": collection})

    def open(self, build_dir: Path, manifest: Manifest) -> QdrantStore:
        collection = str(manifest.vector_store.get("collection", ""))
        client = self._client
        with _talking_to(self.config):
            if not collection or not client.collection_exists(collection):
                raise CorruptIndexError(
                    f"Qdrant ({self.config.location}) has no collection {collection!r} for the build {build_dir.name}.",
                    hint="Rebuild it with: verbatim index --rebuild (or point VERBATIM_QDRANT_URL/PATH at the store it was built in).",
                )
            count = int(client.count(collection, exact=True).count)
        target = self.alias_target()
        if target != collection and (target is None or self.is_own_collection(target)):
            # A crash between CURRENT and the alias switch (another index's alias is not ours to follow).
            log.warning("qdrant_alias_behind", extra={"alias": self.config.collection, "collection": collection})
        terms = LexicalIndex.load(build_dir / "lexical")
        return QdrantStore(client, self.config, collection, terms, count, self._local)

    def stored_vectors(self, build_dir: Path, manifest: Manifest) -> np.ndarray:
        collection = str(manifest.vector_store.get("collection", ""))
        offset = None
        with _talking_to(self.config):
            count = int(self._client.count(collection, exact=True).count)
            vectors = np.zeros((count, manifest.dimension), dtype=np.float32)
            while True:
                points, offset = self._client.scroll(
                    collection, limit=_SCROLL_PAGE, offset=offset, with_vectors=[DENSE], with_payload=False
                )
                for point in points:
                    vectors[int(point.id)] = point.vector[DENSE]
                if offset is None:
                    return vectors


def citation_payload(row: int, chunk: Chunk) -> dict[str, Any]:
    """What a citation needs of a chunk, for whoever reads the collection without Verbatim."""
    return {
        "row": row,
        "document": chunk.document,
        "start": chunk.start,
        "end": chunk.end,
        "line_start": chunk.line_start,
        "line_end": chunk.line_end,
        "section": list(chunk.section),
        "page": chunk.page,
    }
