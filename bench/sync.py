"""A website source synced twice from a local HTTP server: what the first sync costs, and that
the second, with nothing changed, costs one conditional request a page and no embedding.

The pages (e.g. the Python documentation of ``../shared/eval/conala-pydocs-dev/fetch-docs.sh``)
are served by ``python -m http.server`` on 127.0.0.1 (it answers If-Modified-Since with 304),
with a generated sitemap. Each sync runs ``verbatim index`` in a fresh process, as a user would.

    python bench/sync.py PAGES_DIR [--pages N] [--no-index]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine_header, table

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _site(pages: Path, count: int | None, root: Path) -> list[str]:
    """A site folder: the pages under library/, a sitemap of the first ``count``, robots.txt."""
    library = root / "library"
    library.mkdir(parents=True)
    names = sorted(p.name for p in pages.glob("*.html"))[:count]
    for name in names:
        (library / name).write_bytes((pages / name).read_bytes())
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", type=Path, help="a folder of .html pages")
    parser.add_argument("--pages", dest="count", type=int, help="only the first N pages (sorted by name)")
    parser.add_argument("--no-index", action="store_true", help="fetch only (sync_web), no build")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="verbatim-sync-"))
    site = work / "site"
    site.mkdir()
    names = _site(args.pages, args.count, site)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    urls = "".join(f"<url><loc>{base}/library/{n}</loc></url>\n" for n in names)
    (site / "sitemap.xml").write_text(
        f'<?xml version="1.0"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{urls}</urlset>\n'
    )
    (site / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rows = []
    try:
        time.sleep(1.0)
        (work / "verbatim.toml").write_text(f'[[source]]\nname = "pydocs"\nsitemap = "{base}/sitemap.xml"\n')
        for run in ("first sync", "second sync, nothing changed"):
            started = time.perf_counter()
            if args.no_index:
                code = (
                    "import json, sys; sys.path.insert(0, {!r})\n"
                    "from pathlib import Path\nfrom index.sources.web import sync_web\n"
                    "r = sync_web(Path('state'), start={!r}, sitemap=True, max_pages=100000)\n"
                    "print(json.dumps({{'fetched': len(r.fetched), 'not_modified': len(r.not_modified),"
                    " 'requests': r.requests, 'skipped': len(r.skipped)}}))"
                ).format(str(REPO), f"{base}/sitemap.xml")
                done = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True)
                facts = json.loads(done.stdout)
                rows.append(
                    [
                        run,
                        facts["fetched"],
                        facts["not_modified"],
                        facts["requests"],
                        "—",
                        f"{time.perf_counter() - started:.1f}",
                    ]
                )
            else:
                done = subprocess.run(
                    [sys.executable, "-m", "bot.cli", "index"],
                    cwd=work,
                    capture_output=True,
                    text=True,
                    env={**os.environ, "PYTHONPATH": str(REPO)},
                )
                out = done.stdout
                print(out, done.stderr[-2000:], file=sys.stderr)
                synced = next(line for line in out.splitlines() if line.startswith("Synced pydocs:"))
                embedded = out.split(" embedded).")[0].rsplit("(", 1)[-1]
                fetched = synced.split(": ", 1)[1].split(" pages fetched")[0]
                not_modified = synced.split("fetched, ")[1].split(" not modified")[0]
                requests = synced.split("; ")[1].split(" requests")[0]
                rows.append([run, fetched, not_modified, requests, embedded, f"{time.perf_counter() - started:.1f}"])
    finally:
        server.terminate()
        server.wait()
    print(machine_header(f"Website source sync, {len(names)} pages served from 127.0.0.1"))
    print(table(["run", "pages fetched", "not modified (304)", "requests", "chunks embedded", "seconds"], rows))


if __name__ == "__main__":
    main()
