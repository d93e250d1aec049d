"""Website sources: pages listed by a sitemap, or crawled from a start URL under a path prefix.

Each page is kept as an ``.html`` file in the source's folder, with its URL, ETag and
Last-Modified in ``pages.json``; the next sync asks with ``If-None-Match`` /
``If-Modified-Since``, so an unchanged site costs one request per page and no embedding.
robots.txt is obeyed. A redirect, a 404, a timeout, a page that is not HTML or is too large
is skipped with its reason and never stops the sync.

An outage never deletes the site: a page leaves only when the site says it is gone (404 or
410 for it, or left out of a sitemap that answered). A page that fails otherwise (timeout,
5xx) is kept as last fetched, and a crawl follows its kept links; a sitemap or start page that
cannot be fetched fails the whole fetch (``SourceSyncError``) and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import urllib.parse
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from index.errors import SourceSyncError
from index.sources.http import GONE, USER_AGENT, Client, Robots, Skip, sitemap_urls
from index.types import SkippedFile
from index.units import MB

__all__ = ["USER_AGENT", "PageState", "WebSyncResult", "page_file", "read_state", "sync_web"]

log = logging.getLogger(__name__)

STATE_FILE = "pages.json"
PAGES_FOLDER = "pages"
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_PAGE_BYTES = 5 * MB
# Few requests at once: a documentation host is somebody's server, not a benchmark.
DEFAULT_CONCURRENCY = 4
_HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True, slots=True)
class PageState:
    url: str
    file: str  # relative to the pages folder
    sha256: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class WebSyncResult:
    pages: dict[str, PageState] = field(default_factory=dict)  # by file
    fetched: list[str] = field(default_factory=list)  # new or changed content
    not_modified: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    requests: int = 0


def page_file(url: str) -> str:
    """The file a page is kept in: its URL path, ending in ``.html`` (``/a/`` → ``a/index.html``)."""
    parts = urllib.parse.urlsplit(url)
    path = urllib.parse.unquote(parts.path).lstrip("/")
    path = "/".join(p for p in path.split("/") if p not in ("", ".", ".."))
    if not path or parts.path.endswith("/"):
        path = (path + "/index.html").lstrip("/")
    stem, dot, suffix = path.rpartition(".")
    if not dot or "/" in suffix or suffix.lower() not in ("html", "htm"):
        stem, suffix = path, "html"
    if parts.query:
        stem += "-" + hashlib.sha256(parts.query.encode()).hexdigest()[:8]
    return f"{stem}.{suffix}"


def read_state(folder: Path) -> dict[str, PageState]:
    try:
        raw = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        return {p["file"]: PageState(**p) for p in raw["pages"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write_state(folder: Path, pages: dict[str, PageState]) -> None:
    temporary = folder / (STATE_FILE + ".tmp")
    temporary.write_text(
        json.dumps({"pages": [asdict(p) for p in sorted(pages.values(), key=lambda p: p.file)]}, indent=1),
        encoding="utf-8",
    )
    os.replace(temporary, folder / STATE_FILE)


def _write_page(pages_folder: Path, file: str, body: bytes) -> None:
    target = pages_folder / file
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_bytes(body)
    os.replace(temporary, target)


def _under(url: str, prefix: str) -> bool:
    return url.split("#", 1)[0].startswith(prefix)


def _links(base: str, body: bytes) -> list[str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(body, "lxml")
    found = []
    for anchor in soup.find_all("a", href=True):
        url, _ = urllib.parse.urldefrag(urllib.parse.urljoin(base, str(anchor["href"])))
        if url.startswith(("http://", "https://")):
            found.append(url)
    return found


def sync_web(
    folder: Path,
    *,
    start: str,
    sitemap: bool,
    prefix: str | None = None,
    max_pages: int,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    max_bytes: int = DEFAULT_MAX_PAGE_BYTES,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> WebSyncResult:
    """Fetch what changed on the site into ``folder``; what it says is gone is removed.
    Raises ``SourceSyncError`` (the folder untouched) when the sitemap or start page fails."""
    folder.mkdir(parents=True, exist_ok=True)
    pages_folder = folder / PAGES_FOLDER
    previous = read_state(folder)
    by_url = {p.url: p for p in previous.values()}
    client = Client(timeout, max_bytes)
    robots = Robots(client)
    result = WebSyncResult()
    # A sitemap's pages are read from its own site only, unless a prefix says otherwise.
    origin = "{0.scheme}://{0.netloc}/".format(urllib.parse.urlsplit(start))
    scope = prefix or (origin if sitemap else start)
    complete = True  # every page left out of this sync is gone from the site
    if sitemap:
        listing = sitemap_urls(client, start, result.skipped)
        listed = [u for u in listing.urls if not scope or _under(u, scope)]
        complete = listing.complete
    else:
        listed = [start]
    lock = threading.Lock()
    kept: dict[str, PageState] = {}
    seen: set[str] = set()
    start_failure: list[str] = []

    def visit(url: str) -> list[str]:
        """Fetch one page; the links it offers (crawling only)."""
        if not robots.allowed(url):
            raise Skip("disallowed by robots.txt")
        old = by_url.get(url)
        headers = {}
        if old is not None and (pages_folder / old.file).is_file():
            if old.etag:
                headers["If-None-Match"] = old.etag
            if old.last_modified:
                headers["If-Modified-Since"] = old.last_modified
        response = client.get(url, headers)
        if response.status == 304 and old is not None:
            with lock:
                kept[old.file] = old
                result.not_modified.append(old.file)
            return [] if sitemap else _links(url, (pages_folder / old.file).read_bytes())
        if response.status in (301, 302, 303, 307, 308):
            target = urllib.parse.urljoin(url, response.headers.get("Location", ""))
            raise _Redirect(target)
        if response.status != 200:
            raise Skip(f"HTTP {response.status}", response.status)
        kind = (response.headers.get_content_type() or "").lower()
        if kind not in _HTML_TYPES:
            raise Skip(f"not an HTML page ({kind or 'no content type'})")
        file = page_file(url)
        digest = hashlib.sha256(response.body).hexdigest()
        state = PageState(url, file, digest, response.headers.get("ETag"), response.headers.get("Last-Modified"))
        with lock:
            if file in kept:
                raise Skip(f"same file as {kept[file].url}")
            kept[file] = state
            if old is None or old.sha256 != digest or not (pages_folder / file).is_file():
                _write_page(pages_folder, file, response.body)
                result.fetched.append(file)
            else:
                result.not_modified.append(file)
        return [] if sitemap else _links(url, response.body)

    def attempt(url: str) -> list[str]:
        try:
            return visit(url)
        except _Redirect as exc:
            with lock:
                result.skipped.append(SkippedFile(url, f"redirects to {exc.target}"))
            return [exc.target] if not sitemap else []
        except Skip as exc:
            reason, gone, crawl_on = str(exc), exc.status in GONE, not sitemap
        except Exception as exc:  # one page never stops the sync
            log.warning("page_failed", extra={"url": url}, exc_info=True)
            reason, gone, crawl_on = f"failed ({type(exc).__name__})", False, False
        with lock:
            result.skipped.append(SkippedFile(url, reason))
            if url == start and not sitemap:
                start_failure.append(reason)
            old = by_url.get(url)
            if gone or old is None or not (pages_folder / old.file).is_file():
                return []
            # A passing fault (timeout, 500): keep the page as it was, and crawl on from it.
            kept.setdefault(old.file, old)
        return _links(url, (pages_folder / old.file).read_bytes()) if crawl_on else []

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        frontier = _cap(listed, seen, max_pages, result.skipped)
        while frontier:
            found = [link for links in pool.map(attempt, frontier) for link in links]
            if start_failure:  # the first round, the start page alone: nothing was written yet
                raise SourceSyncError(f"start page {start}: {start_failure[0]}")
            frontier = _cap((u for u in found if _under(u, scope)), seen, max_pages, result.skipped)

    if not complete:  # a sitemap of the index did not answer: what it listed is not known to be gone
        for file, state in previous.items():
            if file not in kept and (pages_folder / file).is_file() and state.url not in seen:
                kept[file] = state
    for file in sorted(set(previous) - set(kept)):
        (pages_folder / file).unlink(missing_ok=True)
        result.removed.append(file)
    result.pages = kept
    result.requests = client.requests
    _write_state(folder, kept)
    log.info(
        "web_synced",
        extra={"start": start, "fetched": len(result.fetched), "requests": result.requests},
    )
    return result


class _Redirect(Exception):
    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


def _cap(urls: Iterable[str], seen: set[str], max_pages: int, skipped: list[SkippedFile]) -> list[str]:
    """The URLs not visited yet, up to the page cap (the first beyond it is reported once)."""
    out = []
    for url in urls:
        if url in seen:
            continue
        if len(seen) >= max_pages:
            skipped.append(SkippedFile(url, f"over the page cap ({max_pages} pages; set max_pages)"))
            break
        seen.add(url)
        out.append(url)
    return out
