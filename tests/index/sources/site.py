"""A small documentation website on 127.0.0.1 for the web-source tests.

Its pages can be changed between two syncs; it answers ETag / If-None-Match with 304,
logs every request, and has one of each thing a sync must survive: a path robots.txt
disallows, a redirect, a 404, a page that is not HTML, an oversized page and a slow one.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!doctype html><html><head><title>{title}</title></head><body>
<nav><a href="/guide/">Home</a></nav>
<main><h1 id="top">{title}</h1>{body}</main></body></html>"""


def page(title: str, body: str) -> str:
    return PAGE.format(title=title, body=body)


@dataclass
class Site:
    pages: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (content type, body)
    redirects: dict[str, str] = field(default_factory=dict)
    slow: dict[str, float] = field(default_factory=dict)  # path -> seconds before answering
    errors: dict[str, int] = field(default_factory=dict)  # path -> the status it answers (a 5xx, 410...)
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status)
    user_agents: set[str] = field(default_factory=set)
    # Pages answered with Last-Modified / If-Modified-Since instead of an ETag (as http.server does).
    dated: set[str] = field(default_factory=set)
    base: str = ""
    servers: list[_Server] = field(default_factory=list)

    def html(self, path: str, body: str) -> None:
        self.pages[path] = ("text/html; charset=utf-8", body)

    def page_requests(self) -> list[tuple[str, int]]:
        return [(p, s) for _, p, s in self.requests if not p.startswith(("/robots.txt", "/sitemap"))]


def default_site(site: Site) -> Site:
    site.pages["/robots.txt"] = ("text/plain", "User-agent: *\nDisallow: /private/\n")
    site.html(
        "/guide/",
        page(
            "Guide",
            '<p>Welcome to the guide.</p><p><a href="/guide/llamas.html">Llamas</a> '
            '<a href="/guide/alpacas.html">Alpacas</a> <a href="/elsewhere.html">Elsewhere</a></p>',
        ),
    )
    site.html(
        "/guide/llamas.html",
        page(
            "Llamas",
            '<section id="feeding"><h2>Feeding<a class="headerlink" href="#feeding">¶</a></h2>'
            "<p>Llamas eat grass and hay every day.</p></section>"
            '<section id="carrying"><h2>Carrying</h2><p>A llama can carry 25 kg over 20 km.</p></section>',
        ),
    )
    site.html("/guide/alpacas.html", page("Alpacas", "<h2 id='wool'>Wool</h2><p>Alpaca wool is soft and warm.</p>"))
    site.html("/elsewhere.html", page("Elsewhere", "<p>Outside the prefix.</p>"))
    site.html("/private/secret.html", page("Secret", "<p>Robots may not read this.</p>"))
    site.pages["/data.json"] = ("application/json", '{"not": "html"}')
    site.html("/guide/big.html", page("Big", "<p>" + "Very long page. " * 5000 + "</p>"))
    site.html("/guide/slow.html", page("Slow", "<p>A slow page.</p>"))
    site.slow["/guide/slow.html"] = 2.0
    site.redirects["/old.html"] = "/guide/llamas.html"
    listed = [
        "/guide/",
        "/guide/llamas.html",
        "/guide/alpacas.html",
        "/old.html",
        "/missing.html",
        "/private/secret.html",
        "/data.json",
        "/guide/big.html",
        "/guide/slow.html",
        "http://127.0.0.2:1/page.html",  # another site (still loopback)
    ]
    urls = "".join(f"<url><loc>{p if p.startswith('http') else site.base + p}</loc></url>" for p in listed)
    site.pages["/sitemap-pages.xml"] = (
        "application/xml",
        f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>',
    )
    site.pages["/sitemap.xml"] = (
        "application/xml",
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{site.base}/sitemap-pages.xml</loc></sitemap></sitemapindex>",
    )
    return site


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            path = self.path.split("?", 1)[0]
            if path in site.slow:
                time.sleep(site.slow[path])
            if path in site.errors:
                return self._send(site.errors[path], "text/html", b"<p>Error</p>")
            if path in site.redirects:
                return self._send(301, "text/plain", b"", {"Location": site.redirects[path]})
            if path not in site.pages:
                return self._send(404, "text/html", b"<p>Not found</p>")
            kind, body = site.pages[path]
            data = body.encode("utf-8")
            if path in site.dated:
                stamp = "Tue, 01 Dec 2026 10:00:00 GMT"
                if self.headers.get("If-Modified-Since") == stamp:
                    return self._send(304, kind, b"", {"Last-Modified": stamp})
                return self._send(200, kind, data, {"Last-Modified": stamp})
            etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                return self._send(304, kind, b"", {"ETag": etag})
            return self._send(200, kind, data, {"ETag": etag})

        def _send(self, status: int, kind: str, data: bytes, headers: dict[str, str] | None = None) -> None:
            site.requests.append(("GET", self.path, status))
            site.user_agents.add(self.headers.get("User-Agent", ""))
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if data:
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on purpose (too large, too slow)

    return Handler


class _Server:
    """The site's HTTP server, which can be stopped and started again on the same port."""

    def __init__(self, site: Site, port: int = 0) -> None:
        self.site = site
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(site))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def serve(site: Site | None = None) -> Iterator[Site]:
    site = site or Site()
    running = _Server(site)
    site.base = f"http://127.0.0.1:{running.port}"
    site.servers.append(running)
    try:
        yield site
    finally:
        site.servers[-1].stop()


@contextmanager
def outage(site: Site) -> Iterator[None]:
    """The site is down (every connection refused) inside the block, then back on its port."""
    running = site.servers[-1]
    running.stop()
    try:
        yield
    finally:
        site.servers.append(_Server(site, running.port))
