"""The index on disk: chunk store, vectors, FAISS and BM25 indexes, and a manifest.

Layout of the index directory::

    CURRENT               name of the build that is live (replaced atomically)
    INDEX_ID              this index's own id, made by its first Qdrant build (IndexDirectory.own_id)
    builds/<id>/          one complete build
        manifest.json     model, dimension, chunking, versions, documents, file checksums
        chunks/           the chunk store: columns, text and tokens (index.chunk_store)
        vectors.npy       float32 embeddings, row i belongs to chunk i
        sentence_vectors.npy  float16 embeddings of every chunk's sentences, chunk by chunk
        dense.faiss       FAISS index over the vectors
        lexical/          BM25 index and term statistics

A build is written into ``builds/<id>.partial``, flushed, renamed, and only then is
``CURRENT`` switched with ``os.replace``. A crash at any moment therefore leaves
``CURRENT`` naming a complete build: the old one or the new one, never a mix.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from index.chunk_store import ChunkStoreError, ChunkTable
from index.errors import (
    CorruptIndexError,
    IndexMismatchError,
    IndexNotFoundError,
    ReindexInProgressError,
    VerbatimError,
)
from index.types import Chunk

log = logging.getLogger(__name__)

# 2: sentence vectors (sentence_vectors.npy) beside the chunk vectors.
# 3: the columnar chunk store (chunks/) instead of chunks.jsonl.
# 4: each sentence's ranking signals stored (chunks/signals.npy).
# 5: BM25 as term-frequency postings (lexical/terms.json...) a reindex updates, not bm25s's.
FORMAT_VERSION = 5
# Formats this version still reads: a format-2 build's chunks.jsonl is read into memory; a
# format-3 store's signals are worked out per row read, and a reindex stores them; a format-4
# build's bm25s index answers until a reindex writes the postings.
READABLE_FORMATS = (2, 3, 4, 5)
_LEGACY_CHUNKS = "chunks.jsonl"
_CURRENT = "CURRENT"
_BUILDS = "builds"
_LOCK = ".build.lock"
_INDEX_ID = "INDEX_ID"
_REBUILD_HINT = "Rebuild it with: verbatim index --rebuild"


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    path: str
    sha256: str
    title: str
    indexed_at: str
    chunks: int
    source_url: str | None = None
    # Where a citation links to: a template with {line_start}, {line_end} and {anchor} left
    # to fill per passage (the source's commit and path are filled in at build time).
    link: str | None = None
    # (offset, id) of each heading with an HTML id: a passage links to the nearest one above it.
    anchors: tuple[tuple[int, str], ...] = ()
    source: str | None = None  # the sources-file name it came from
    # The file's size and modification time when it was read (None when it had been modified
    # too shortly before to be sure a later change would show): the same pair later means
    # the same content, and the reindex does not read it.
    size: int | None = None
    mtime_ns: int | None = None

    def unmodified(self, size: int, mtime_ns: int) -> bool:
        """True when the file has the size and modification time it had when it was read:
        it need not be read again."""
        return self.mtime_ns is not None and (self.size, self.mtime_ns) == (size, mtime_ns)


@dataclass(frozen=True, slots=True)
class Manifest:
    format_version: int
    model: str
    dimension: int
    chunking: dict[str, int]
    versions: dict[str, str]
    built_at: str
    documents: dict[str, DocumentRecord]
    files: dict[str, dict[str, Any]]
    dense_index: str
    # What was indexed: each source's kind, location and (git) commit; {} before sources files.
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # file read but not indexed -> sha256
    # Where the vectors and the lexical side live (index.vector_store); {}: FAISS, in the build.
    vector_store: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        if not data["vector_store"]:
            del data["vector_store"]  # a FAISS build stays readable by the versions before the choice
        return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> Manifest:
        data = json.loads(raw)
        data["documents"] = {k: _record(v) for k, v in data["documents"].items()}
        return cls(**data)


def _record(fields: dict[str, Any]) -> DocumentRecord:
    fields["anchors"] = tuple((int(a), str(b)) for a, b in fields.get("anchors", ()))
    return DocumentRecord(**fields)


def chunk_from_json(line: str) -> Chunk:
    """A chunk as a format-2 build's chunks.jsonl holds it: one JSON array a line."""
    document, start, end, line_start, line_end, section, text, sentences, page, *rest = json.loads(line)
    # Indexes written before tokens (or code pieces) were stored have none.
    tokens = tuple(rest[0]) if rest else ()
    mid_code = tuple(rest[1]) if len(rest) > 1 else ()
    return Chunk(
        document,
        start,
        end,
        line_start,
        line_end,
        tuple(section),
        text,
        tuple((a, b) for a, b in sentences),
        page,
        tokens,
        mid_code,
    )


def file_checksum(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def file_checksums(paths: list[Path]) -> list[str]:
    """The SHA-256 of each file, several files at once (hashlib lets go of the GIL): at a
    million chunks 8 GB are hashed, and one core hashes about 1.3 GB/s. Largest first, so
    the 6 GB of sentence vectors do not start last."""
    by_size = sorted(range(len(paths)), key=lambda i: -paths[i].stat().st_size)
    workers = min(len(paths), _cpus()) or 1
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        digests = dict(zip(by_size, pool.map(file_checksum, [paths[i] for i in by_size])))
    return [digests[i] for i in range(len(paths))]


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexDirectory:
    """The index directory: finds the live build and swaps in new ones atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def builds(self) -> Path:
        return self.root / _BUILDS

    def current_build(self) -> Path:
        """The live build's folder, or :class:`IndexNotFoundError`."""
        pointer = self.root / _CURRENT
        try:
            name = pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise IndexNotFoundError(f"No index in {self.root}.", hint="Build one with: verbatim index") from None
        except OSError as exc:
            raise CorruptIndexError(f"Cannot read {pointer}: {exc.strerror}.", hint=_REBUILD_HINT) from exc
        build = self.builds / name
        if not name or "/" in name or not build.is_dir():
            raise CorruptIndexError(f"The index in {self.root} points to a missing build {name!r}.", hint=_REBUILD_HINT)
        return build

    def exists(self) -> bool:
        return (self.root / _CURRENT).exists()

    def own_id(self, *, create: bool = False) -> str | None:
        """This index's own id: it names what the index keeps outside its folder (its Qdrant
        collections), so that two indexes sharing one store never take each other's. Made
        once, with ``create`` (None before that)."""
        path = self.root / _INDEX_ID
        if not path.exists():
            if not create:
                return None
            self.root.mkdir(parents=True, exist_ok=True)
            temporary = self.root / f"{_INDEX_ID}.{os.getpid()}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_hex(6) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)  # never replaces one another process made first
            except FileExistsError:
                pass
            finally:
                temporary.unlink()
            _fsync_dir(self.root)
        own = path.read_text(encoding="utf-8").strip()
        if not re.fullmatch(r"[0-9a-f]{12}", own):
            raise CorruptIndexError(
                f"{path} does not hold an index id ({own[:20]!r}).",
                hint="Delete it: the next build makes a new one (collections of the old id are then left behind).",
            )
        return own

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Serializes builds across processes; a second builder is refused, not queued."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / _LOCK, "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ReindexInProgressError(
                    f"Another build of {self.root} is running.", hint="Wait for it to finish."
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def new_build(self) -> Iterator[Path]:
        """A fresh folder to write a build into; on clean exit it becomes the live build."""
        self.builds.mkdir(parents=True, exist_ok=True)
        self._remove_partial_builds()
        name = time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}"
        partial = self.builds / f"{name}.partial"
        partial.mkdir()
        try:
            yield partial
            _fsync_tree(partial)
            os.rename(partial, self.builds / name)
            _fsync_dir(self.builds)
            self._point_to(name)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        self._remove_old_builds(keep=name)

    def _point_to(self, name: str) -> None:
        temporary = self.root / f"{_CURRENT}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.root / _CURRENT)
        _fsync_dir(self.root)

    def remove_leftovers(self) -> None:
        """Remove what a killed builder left (a partial build, or one never made live)."""
        self._remove_partial_builds()
        self._remove_old_builds(keep=self.current_build().name)

    def _remove_partial_builds(self) -> None:
        for path in self.builds.glob("*.partial"):
            shutil.rmtree(path, ignore_errors=True)

    def _remove_old_builds(self, keep: str) -> None:
        # A reader that opened the previous build keeps reading it: its files are memory-mapped
        # or in memory, and an unlinked file stays readable while it is mapped.
        for path in self.builds.iterdir():
            if path.name != keep and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)


def write_manifest(folder: Path, manifest_fields: dict[str, Any]) -> Manifest:
    """Checksum every file in ``folder`` and write the manifest that vouches for them."""
    paths = [path for path in sorted(folder.rglob("*")) if path.is_file()]
    files = {
        path.relative_to(folder).as_posix(): {"sha256": digest, "bytes": path.stat().st_size}
        for path, digest in zip(paths, file_checksums(paths))
    }
    manifest = Manifest(format_version=FORMAT_VERSION, files=files, **manifest_fields)
    (folder / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    return manifest


def refresh_records(build: Path, documents: dict[str, DocumentRecord]) -> None:
    """Give the live ``build`` new document records that differ only in the file times they
    keep (a reindex that found nothing new): only ``manifest.json`` is replaced, atomically;
    the data files and their checksums stay as they are."""
    manifest = Manifest.from_json((build / "manifest.json").read_text(encoding="utf-8"))
    partial = build / "manifest.json.partial"
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(replace(manifest, documents=documents).to_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, build / "manifest.json")
    _fsync_dir(build)


def read_manifest(build: Path, *, expected_model: str | None, verify: bool = False) -> Manifest:
    """Read and check a build's manifest: every file is there with the size it was written
    with; with ``verify`` its checksum is read too (seconds at a million chunks)."""
    try:
        manifest = Manifest.from_json((build / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorruptIndexError(f"The index in {build} has no manifest.", hint=_REBUILD_HINT) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise CorruptIndexError(f"The index manifest in {build} is unreadable ({exc}).", hint=_REBUILD_HINT) from exc
    if manifest.format_version not in READABLE_FORMATS:
        raise IndexMismatchError(
            f"The index was written in format {manifest.format_version}; this version reads formats "
            f"{', '.join(map(str, READABLE_FORMATS))}.",
            hint=_REBUILD_HINT,
        )
    if expected_model is not None and manifest.model != expected_model:
        raise IndexMismatchError(
            f"The index was built with the model {manifest.model!r}, but {expected_model!r} is configured.",
            hint="Rebuild it with: verbatim index (it rebuilds in full when the model changes), "
            "or set VERBATIM_MODEL / VERBATIM_BACKEND back to what it was built with.",
        )
    damaged = damaged_files(build, manifest, checksums=verify)
    if damaged:
        raise CorruptIndexError(f"The index file {damaged[0]} is missing, truncated or damaged.", hint=_REBUILD_HINT)
    return manifest


def damaged_files(build: Path, manifest: Manifest, *, checksums: bool) -> list[str]:
    """The files of ``build`` that are missing or differ in size from the manifest (and, with
    ``checksums``, in content)."""
    damaged = [
        relative
        for relative, expected in manifest.files.items()
        if not (build / relative).is_file() or (build / relative).stat().st_size != expected["bytes"]
    ]
    if checksums:
        whole = [relative for relative in manifest.files if relative not in damaged]
        digests = file_checksums([build / relative for relative in whole])
        damaged += [r for r, digest in zip(whole, digests) if digest != manifest.files[r]["sha256"]]
    return sorted(damaged)


@dataclass(frozen=True, slots=True)
class Verification:
    """What ``verbatim index --verify`` checked of the live build."""

    build: str
    files: int
    bytes: int
    chunks: int
    seconds: float


def verify_index(root: Path) -> Verification:
    """Read every file of the live build against its manifest checksum and check the chunk
    store's shapes; :class:`CorruptIndexError` names what is damaged."""
    started = time.perf_counter()
    build = IndexDirectory(root).current_build()
    manifest = read_manifest(build, expected_model=None, verify=False)
    damaged = damaged_files(build, manifest, checksums=True)
    if damaged:
        shown = ", ".join(damaged[:5]) + (f" and {len(damaged) - 5} more" if len(damaged) > 5 else "")
        raise CorruptIndexError(
            f"{len(damaged)} file{'s' if len(damaged) != 1 else ''} of the index in {build} "
            f"{'fails its' if len(damaged) == 1 else 'fail their'} checksum: {shown}.",
            hint=_REBUILD_HINT,
        )
    chunks = len(read_chunks(build))
    size = sum(int(f["bytes"]) for f in manifest.files.values())
    return Verification(build.name, len(manifest.files), size, chunks, time.perf_counter() - started)


def live_sources(index_dir: Path) -> dict[str, dict[str, Any]]:
    """What the live build says it indexes ({} without an index, or one built before sources
    were recorded). A quick read: no checksums, no model check."""
    try:
        directory = IndexDirectory(index_dir)
        if not directory.exists():
            return {}
        return read_manifest(directory.current_build(), expected_model=None, verify=False).sources
    except (VerbatimError, OSError):
        return {}


def write_chunks(folder: Path, chunks: Sequence[Chunk]) -> None:
    ChunkTable.from_chunks(chunks).save(folder)


def read_chunks(build: Path) -> ChunkTable:
    """The chunks of ``build``, memory-mapped (a format-2 build's chunks.jsonl is read whole);
    :class:`CorruptIndexError` when the store is damaged."""
    try:
        if (build / _LEGACY_CHUNKS).is_file() and not (build / "chunks").is_dir():
            log.warning("legacy_chunk_store", extra={"build": build.name, "hint": _REBUILD_HINT})
            with open(build / _LEGACY_CHUNKS, encoding="utf-8") as handle:
                return ChunkTable.from_chunks([chunk_from_json(line) for line in handle if line.strip()])
        return ChunkTable.load(build)
    except (ChunkStoreError, ValueError, TypeError) as exc:
        raise CorruptIndexError(f"The chunk store in {build} is damaged: {exc}.", hint=_REBUILD_HINT) from exc


def write_vectors(folder: Path, vectors: np.ndarray) -> None:
    np.save(folder / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)


def read_vectors(build: Path, *, mmap: bool = False) -> np.ndarray:
    return np.load(build / "vectors.npy", mmap_mode="r" if mmap else None, allow_pickle=False)


def write_sentence_vectors(folder: Path, vectors: np.ndarray) -> None:
    np.save(folder / "sentence_vectors.npy", np.ascontiguousarray(vectors, dtype=np.float16), allow_pickle=False)


def read_sentence_vectors(build: Path, *, mmap: bool = False) -> np.ndarray | None:
    """The sentence vectors, or None for a build written without them."""
    path = build / "sentence_vectors.npy"
    if not path.is_file():
        return None
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def sentence_offsets(chunks: Sequence[Chunk]) -> np.ndarray:
    """Row ``offsets[i]`` of the sentence vectors is chunk i's first sentence; ``offsets[-1]`` their count."""
    if isinstance(chunks, ChunkTable):
        return chunks.sentence_offsets
    offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
    np.cumsum([len(c.sentences) for c in chunks], out=offsets[1:])
    return offsets
