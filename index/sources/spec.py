"""The sources file (``verbatim.toml``): the single record of what is indexed.

Each ``[[source]]`` table names one place documents live: a local folder (``path``), a git
repository (``git``), or a website (``sitemap``, or ``url`` with a path ``prefix``). A
mistake in the file is one readable line naming the source and the key, never a traceback.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from index.errors import VerbatimError

SourceKind = Literal["folder", "git", "web"]
DEFAULT_MAX_PAGES = 500
RESERVED_NAME = "uploads"  # the documents moderators add from Discord (index.sources.uploads)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_KEYS = {
    "folder": {"name", "path", "include", "link", "refresh"},
    "git": {"name", "git", "branch", "include", "link", "refresh"},
    "web": {"name", "sitemap", "url", "prefix", "max_pages", "refresh"},
}


class SourcesFileError(VerbatimError):
    """The sources file cannot be read or says something Verbatim cannot do."""


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One ``[[source]]`` of the sources file, checked."""

    name: str
    kind: SourceKind
    location: str  # the folder, the git URL, or the sitemap / start URL
    branch: str | None = None
    include: tuple[str, ...] = ()
    link: str | None = None  # {commit} {path} {line_start} {line_end}
    sitemap: bool = False
    prefix: str | None = None
    max_pages: int = DEFAULT_MAX_PAGES
    refresh_seconds: int | None = None


def parse_duration(text: str) -> int:
    """``"6h"`` → 21600; units s, m, h, d."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration like 30m, 6h or 1d")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def read_sources_file(path: Path) -> tuple[SourceSpec, ...]:
    """The sources in ``path``, in file order; relative folders are read from the file's folder."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SourcesFileError(f"Cannot read the sources file {path}: {exc.strerror}.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SourcesFileError(f"The sources file {path} is not valid TOML: {exc}.") from None
    tables = data.get("source")
    if not isinstance(tables, list) or not tables:
        raise SourcesFileError(
            f"The sources file {path} lists no sources.",
            hint="Add a [[source]] table with a name and a path, git or url.",
        )
    specs: list[SourceSpec] = []
    for number, table in enumerate(tables, 1):
        spec = _source(table, number, path.parent)
        if spec.name == RESERVED_NAME:
            raise SourcesFileError(f"{path}: the name {RESERVED_NAME!r} is kept for documents added from Discord.")
        if any(s.name == spec.name for s in specs):
            raise SourcesFileError(f"{path}: two sources are named {spec.name!r}; names must be unique.")
        specs.append(spec)
    return tuple(specs)


def _source(table: Any, number: int, base: Path) -> SourceSpec:
    if not isinstance(table, dict):
        raise SourcesFileError(f"Source {number} is not a table.")
    name = table.get("name")
    where = f"source {name!r}" if isinstance(name, str) else f"source {number}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise SourcesFileError(
            f"{where.capitalize()} needs a name of letters, digits, '-', '_' or '.' (up to 40 characters)."
        )
    kinds = [k for k, key in (("folder", "path"), ("git", "git"), ("web", "sitemap"), ("web", "url")) if key in table]
    if len(kinds) != 1:
        raise SourcesFileError(f"{where.capitalize()} needs exactly one of path, git, sitemap or url.")
    kind: SourceKind = kinds[0]  # type: ignore[assignment]
    unknown = sorted(set(table) - _KEYS[kind])
    if unknown:
        raise SourcesFileError(f"{where.capitalize()} has a key a {kind} source does not take: {', '.join(unknown)}.")

    def text(key: str) -> str | None:
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise SourcesFileError(f"{where.capitalize()}: {key} must be a non-empty string.")
        return value

    include = table.get("include", [])
    if not isinstance(include, list) or not all(isinstance(p, str) and p for p in include):
        raise SourcesFileError(f"{where.capitalize()}: include must be a list of glob patterns.")
    refresh = None
    if (value := text("refresh")) is not None:
        try:
            refresh = parse_duration(value)
        except ValueError as exc:
            raise SourcesFileError(f"{where.capitalize()}: refresh {exc}.") from None
    max_pages = table.get("max_pages", DEFAULT_MAX_PAGES)
    if not isinstance(max_pages, int) or max_pages < 1:
        raise SourcesFileError(f"{where.capitalize()}: max_pages must be a whole number from 1.")
    if kind == "folder":
        location = str((base / str(text("path"))).resolve())
    elif kind == "git":
        location = str(text("git"))
    else:
        location = str(text("sitemap") or text("url"))
        if not location.startswith(("http://", "https://")):
            raise SourcesFileError(f"{where.capitalize()}: {location!r} is not an http(s) URL.")
    return SourceSpec(
        name=name,
        kind=kind,
        location=location,
        branch=text("branch"),
        include=tuple(include),
        link=text("link"),
        sitemap="sitemap" in table,
        prefix=text("prefix"),
        max_pages=max_pages,
        refresh_seconds=refresh,
    )
