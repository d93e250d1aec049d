"""HTTP for website sources: one client (no redirects followed, bounded reads, every request
counted), robots.txt through the standard library's parser, and sitemaps (and sitemap indexes).
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
import urllib.robotparser
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from email.message import Message
from typing import IO, Any

from index.errors import SourceSyncError
from index.types import SkippedFile

USER_AGENT = "Verbatim/0.1 (documentation bot; +https://github.com/verbatim)"
_MAX_SITEMAPS = 50


class Skip(Exception):
    """One URL passed over; the message is the reason, ``status`` the HTTP status it answered."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


# The answers that say a page is gone: only these drop a page kept from an earlier sync.
GONE = (404, 410)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect comes back as an HTTPError with its Location


@dataclass
class _Response:
    status: int
    headers: Message
    body: bytes


class Client:
    def __init__(self, timeout: float, max_bytes: int) -> None:
        self._opener = urllib.request.build_opener(_NoRedirects())
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self.requests = 0

    def get(self, url: str, headers: dict[str, str] | None = None) -> _Response:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
        with self._lock:
            self.requests += 1
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                return _Response(response.status, response.headers, self._read(response))
        except urllib.error.HTTPError as exc:
            return _Response(exc.code, exc.headers, b"")
        except TimeoutError:
            raise Skip(f"timed out after {self._timeout:g} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise Skip(f"timed out after {self._timeout:g} s") from None
            raise Skip(f"cannot connect ({exc.reason})") from None
        except (ConnectionError, OSError) as exc:
            raise Skip(f"connection failed ({exc})") from None

    def _read(self, response: IO[bytes]) -> bytes:
        length = getattr(response, "headers", {}).get("Content-Length")
        if length and length.isdigit() and int(length) > self._max_bytes:
            raise Skip(f"too large ({_size(int(length))}; the limit is {_size(self._max_bytes)})")
        data = response.read(self._max_bytes + 1)
        if len(data) > self._max_bytes:
            raise Skip(f"too large (over {_size(self._max_bytes)})")
        return data


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


class Robots:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._parsers: dict[str, urllib.robotparser.RobotFileParser | None] = {}
        self._lock = threading.Lock()

    def allowed(self, url: str) -> bool:
        parts = urllib.parse.urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            if origin not in self._parsers:
                self._parsers[origin] = self._fetch(origin)
            parser = self._parsers[origin]
        return parser is None or parser.can_fetch(USER_AGENT, url)

    def _fetch(self, origin: str) -> urllib.robotparser.RobotFileParser | None:
        try:
            response = self._client.get(origin + "/robots.txt")
        except Skip:
            return None
        if response.status != 200:
            return None  # no robots.txt: everything is allowed
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(response.body.decode("utf-8", "replace").splitlines())
        return parser


@dataclass
class Sitemap:
    urls: list[str]
    complete: bool  # every sitemap of the index answered: a page it leaves out is gone


def sitemap_urls(client: Client, sitemap: str, skipped: list[SkippedFile]) -> Sitemap:
    """Page URLs of a sitemap, following a sitemap index. The sitemap itself failing (no
    answer, an error status, not XML) is a failed fetch: without it nothing says what is gone."""
    urls: list[str] = []
    queue, seen = [sitemap], set[str]()
    complete = True
    while queue and len(seen) < _MAX_SITEMAPS:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        try:
            root = ET.fromstring(_sitemap_body(client, current))
        except (Skip, ET.ParseError) as exc:
            what = str(exc) if isinstance(exc, Skip) else f"not valid XML ({exc})"
            if current == sitemap:
                raise SourceSyncError(f"sitemap {current}: {what}") from None
            skipped.append(SkippedFile(current, f"sitemap: {what}"))
            complete = False
            continue
        for element in root.iter():
            text = (element.text or "").strip()
            if element.tag.rsplit("}", 1)[-1] != "loc" or not text:
                continue
            location = urllib.parse.urljoin(current, text)
            if root.tag.endswith("sitemapindex"):
                queue.append(location)
            else:
                urls.append(location)
    return Sitemap(list(dict.fromkeys(urls)), complete and not queue)


def _sitemap_body(client: Client, url: str) -> bytes:
    response = client.get(url)
    if response.status != 200:
        raise Skip(f"HTTP {response.status}", response.status)
    return response.body
