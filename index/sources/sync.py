"""Syncing sources: each source's documents fetched into a local folder, then one incremental build.

Git checkouts and website pages live in ``<index_dir>/sources/<name>/``; a folder source is
read where it is. Fetching never touches the live index: only the build that follows
replaces it, and only once complete, so a sync cut short (even by ``kill -9``) leaves the
previous index answering.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.build import FOLDER_SOURCE, Progress, build_index
from index.config import EngineConfig
from index.embedding import Embedder
from index.errors import NoDocumentsError, SourceSyncError, VerbatimError
from index.ingest.documents import DocumentRoot, DocumentSkipped, discover_roots, read_bytes
from index.sources.git import checkout_commit, sync_git
from index.sources.spec import SourceSpec
from index.sources.uploads import UPLOADS, list_uploads, uploads_folder
from index.sources.web import PAGES_FOLDER, read_state, sync_web
from index.store import Manifest
from index.types import BuildReport, SkippedFile

log = logging.getLogger(__name__)

SOURCES_FOLDER = "sources"
_STATUS_FILE = "sync.json"


@dataclass(frozen=True, slots=True)
class SourceSync:
    """What fetching one source did (before the build)."""

    name: str
    kind: str
    seconds: float
    commit: str | None = None
    fetched: int = 0  # pages downloaded with new content (web)
    not_modified: int = 0
    requests: int = 0
    skipped: tuple[SkippedFile, ...] = ()
    error: str | None = None  # the fetch failed; the last synced copy is indexed
    synced_at: str = ""  # when it was fetched (or tried)
    good_at: str | None = None  # when it was last fetched without error

    @property
    def summary(self) -> str:
        if self.error:
            kept = f"the copy synced {self.good_at} is still served" if self.good_at else "it was never synced"
            return f"{self.name}: fetch failed ({self.error}); {kept}"
        if self.kind == "git":
            return f"{self.name}: at commit {(self.commit or '?')[:12]} in {self.seconds:.1f} s"
        if self.kind == "web":
            return (
                f"{self.name}: {self.fetched} pages fetched, {self.not_modified} not modified, "
                f"{len(self.skipped)} skipped; {self.requests} requests in {self.seconds:.1f} s"
            )
        return f"{self.name}: folder, read in place"


@dataclass(frozen=True, slots=True)
class SyncReport:
    syncs: tuple[SourceSync, ...]
    build: BuildReport
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)


def sources_folder(config: EngineConfig) -> Path:
    return Path(config.index_dir) / SOURCES_FOLDER


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def fetch_source(spec: SourceSpec, folder: Path) -> SourceSync:
    """Fetch one source into ``folder`` (its own folder under ``sources/``)."""
    started = time.perf_counter()
    try:
        if spec.kind == "git":
            commit = sync_git(spec.location, spec.branch, folder / "checkout")
            result = SourceSync(spec.name, "git", time.perf_counter() - started, commit=commit)
        elif spec.kind == "web":
            web = sync_web(
                folder, start=spec.location, sitemap=spec.sitemap, prefix=spec.prefix, max_pages=spec.max_pages
            )
            result = SourceSync(
                spec.name,
                "web",
                time.perf_counter() - started,
                fetched=len(web.fetched),
                not_modified=len(web.not_modified),
                requests=web.requests,
                skipped=tuple(web.skipped),
            )
        else:
            result = SourceSync(spec.name, "folder", time.perf_counter() - started)
    except (SourceSyncError, OSError) as exc:
        message = exc.message if isinstance(exc, VerbatimError) else str(exc)
        # INFO: the failure is in what this returns, and each front end reports it once (the
        # command line as its error line, the bot in its log and the mod log).
        log.info("source_fetch_failed", extra={"source": spec.name, "reason": message})
        previous = _read_status(folder)
        failed = SourceSync(
            spec.name,
            spec.kind,
            time.perf_counter() - started,
            error=message,
            synced_at=_now(),
            good_at=_good_at(previous),
        )
        # Recorded too: a failing source is tried again after its refresh period, not every minute.
        _write_status(folder, failed, commit=previous.get("commit"))
        return failed
    result = _with_time(result)
    _write_status(folder, result)
    return result


def _with_time(sync: SourceSync) -> SourceSync:
    fields = asdict(sync)
    fields["synced_at"] = fields["good_at"] = _now()
    fields["skipped"] = sync.skipped
    return SourceSync(**fields)


def _read_status(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / _STATUS_FILE).read_text("utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _good_at(record: dict[str, Any]) -> str | None:
    """When the source was last fetched without error, by its status record (older records
    have no ``good_at``: their ``synced_at`` is one, unless that fetch failed)."""
    good = record.get("good_at") or (None if record.get("error") else record.get("synced_at"))
    return str(good) if good else None


def _write_status(folder: Path, sync: SourceSync, *, commit: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / (_STATUS_FILE + ".tmp")
    data = {
        "synced_at": sync.synced_at,
        "good_at": sync.good_at,
        "commit": sync.commit or commit,
        "summary": sync.summary,
        "error": sync.error,
    }
    temporary.write_text(json.dumps(data), encoding="utf-8")
    os.replace(temporary, folder / _STATUS_FILE)


def last_sync(config: EngineConfig, name: str) -> dict[str, Any] | None:
    """When a source was last fetched, and what came of it; None if never."""
    try:
        data: dict[str, Any] = json.loads((sources_folder(config) / name / _STATUS_FILE).read_text("utf-8"))
        return data
    except (OSError, ValueError):
        return None


def document_roots(specs: Sequence[SourceSpec], config: EngineConfig) -> list[DocumentRoot]:
    """Where each source's documents are on disk now, named ``<source>/...`` in the index."""
    roots = []
    for spec in specs:
        folder = sources_folder(config) / spec.name
        if spec.kind == "folder":
            roots.append(DocumentRoot(Path(spec.location), f"{spec.name}/", spec.name, spec.include, spec.link))
        elif spec.kind == "git":
            checkout = folder / "checkout"
            commit = checkout_commit(checkout)
            roots.append(DocumentRoot(checkout, f"{spec.name}/", spec.name, spec.include, spec.link, commit))
        else:
            urls = {p.file: p.url for p in read_state(folder).values()}
            roots.append(DocumentRoot(folder / PAGES_FOLDER, f"{spec.name}/", spec.name, urls=urls))
    return roots


def _uploads_root(config: EngineConfig) -> list[DocumentRoot]:
    """The uploads folder as a root, once something was uploaded."""
    folder = uploads_folder(config)
    return [DocumentRoot(folder, f"{UPLOADS}/", UPLOADS)] if list_uploads(config) else []


def describe_sources(specs: Sequence[SourceSpec], roots: Sequence[DocumentRoot]) -> dict[str, dict[str, Any]]:
    """What the manifest records of each source: kind, location, commit."""
    return {
        spec.name: {"kind": spec.kind, "location": spec.location, "commit": root.commit}
        for spec, root in zip(specs, roots, strict=True)
    }


def sync_sources(
    specs: Sequence[SourceSpec],
    config: EngineConfig,
    embedder: Embedder,
    *,
    only: str | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> SyncReport:
    """Fetch every source (or only the one named), then build the index from all of them."""
    syncs = tuple(fetch_source(spec, sources_folder(config) / spec.name) for spec in specs if only in (None, spec.name))
    roots = document_roots(specs, config)
    sources = describe_sources(specs, roots)
    roots += _uploads_root(config)
    try:
        build = build_index(config, embedder, rebuild=rebuild, progress=progress, roots=roots, sources=sources)
    except NoDocumentsError:
        failed = [s.summary for s in syncs if s.error]
        if not failed:
            raise
        # Nothing to index because a fetch failed (a first sync): that is what to fix.
        raise SourceSyncError("; ".join(failed) + ".") from None
    return SyncReport(syncs, build, sources)


def check_source_name(config: EngineConfig, only: str | None) -> None:
    """Refuse a source name the sources file does not have, saying which it has."""
    if only is None or only == UPLOADS:
        return
    if config.sources is None:
        raise VerbatimError(
            f"There is no sources file, so no source named {only!r}.",
            hint="List sources in verbatim.toml (see README, 'Sources').",
        )
    if all(s.name != only for s in config.sources):
        names = ", ".join(s.name for s in config.sources)
        raise VerbatimError(f"No source is named {only!r}.", hint=f"The sources are: {names}.")


def update_index(
    config: EngineConfig,
    embedder: Embedder,
    *,
    only: str | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
    fetch: bool = True,
) -> BuildReport:
    """Bring the index up to date with what it indexes: every source of ``config.sources``
    fetched first (or only the one named; none without ``fetch``), else the documents folder."""
    check_source_name(config, only)
    if config.sources is None:
        folder = DocumentRoot(Path(config.documents_dir))
        roots = [folder, *_uploads_root(config)]
        if len(roots) == 1:  # as before uploads: the folder checks and messages of build_index
            return build_index(config, embedder, rebuild=rebuild, progress=progress)
        if not folder.folder.is_dir():
            raise NoDocumentsError(
                f"The documents folder {folder.folder} does not exist.", hint="Set VERBATIM_DOCS_DIR."
            )
        sources = {FOLDER_SOURCE: {"kind": "folder", "location": str(folder.folder.resolve())}}
        return build_index(config, embedder, rebuild=rebuild, progress=progress, roots=roots, sources=sources)
    report = sync_sources(config.sources, config, embedder, only=only, rebuild=rebuild, progress=progress)
    skipped = tuple(s for sync in report.syncs for s in sync.skipped)
    return replace(
        report.build,
        fetches=tuple(s.summary for s in report.syncs if not s.error),
        failed_fetches=tuple(s.summary for s in report.syncs if s.error),
        skipped=report.build.skipped + skipped,
    )


def local_roots(config: EngineConfig) -> tuple[list[DocumentRoot], dict[str, dict[str, Any]]]:
    """What the index is built from, as it is on disk now (nothing fetched), and its record."""
    if config.sources is None:
        folder = Path(config.documents_dir)
        sources = {FOLDER_SOURCE: {"kind": "folder", "location": str(folder.resolve())}}
        return [DocumentRoot(folder), *_uploads_root(config)], sources
    roots = document_roots(config.sources, config)
    return roots + _uploads_root(config), describe_sources(config.sources, roots)


def changed_since_build(config: EngineConfig, manifest: Manifest) -> list[str]:
    """Documents added, changed or removed on disk since ``manifest`` was built (by content
    hash; files it skipped count only if they changed). A quick look: nothing is parsed, and
    a file with the size and time it had when it was indexed is not read."""
    roots, _ = local_roots(config)
    candidates, _ = discover_roots(roots)
    known = {name: record.sha256 for name, record in manifest.documents.items()} | manifest.skipped
    changed = []
    seen = set()
    for candidate in candidates:
        seen.add(candidate.relative)
        record = manifest.documents.get(candidate.relative)
        if record is not None and record.unmodified(candidate.size, candidate.mtime_ns):
            continue
        try:
            digest = hashlib.sha256(read_bytes(candidate, config.max_document_bytes)).hexdigest()
        except DocumentSkipped:
            continue
        if known.get(candidate.relative) != digest:
            changed.append(candidate.relative)
    changed += sorted(set(manifest.documents) - seen)
    return changed


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """One source of the sources file as ``/sources`` and ``verbatim sources`` show it."""

    name: str
    kind: str
    synced_at: str | None
    age_seconds: float | None  # since the last fetch; None if never fetched
    commit: str | None
    refresh_seconds: int | None
    error: str | None = None  # the last fetch failed: why
    good_at: str | None = None  # the last fetch without error (what is served)


def sync_age_seconds(synced_at: str | None, now: datetime | None = None) -> float | None:
    """Seconds since an ISO time, or None for none (or an unreadable one)."""
    if not synced_at:
        return None
    try:
        then = datetime.fromisoformat(synced_at)
    except ValueError:
        return None
    return ((now or datetime.now(UTC)) - then).total_seconds()


def source_statuses(config: EngineConfig) -> list[SourceStatus]:
    statuses = []
    for spec in config.sources or ():
        record = last_sync(config, spec.name) or {}
        synced_at = record.get("synced_at")
        statuses.append(
            SourceStatus(
                spec.name,
                spec.kind,
                synced_at,
                sync_age_seconds(synced_at),
                record.get("commit"),
                spec.refresh_seconds,
                record.get("error"),
                _good_at(record),
            )
        )
    return statuses
