from pathlib import Path

import pytest

from index import Engine, build_index
from index.documents import DocumentRoot
from index.sources.web import USER_AGENT, page_file, read_state, sync_web
from tests.index.sources.site import default_site, page, serve


@pytest.fixture
def site():
    with serve() as running:
        yield default_site(running)


def _sync(site, folder: Path, **kwargs):
    options = {"start": site.base + "/sitemap.xml", "sitemap": True, "max_pages": 50, "timeout": 0.5}
    options.update(max_bytes=50_000, **kwargs)
    return sync_web(folder, **options)


def _roots(folder: Path) -> list[DocumentRoot]:
    urls = {p.file: p.url for p in read_state(folder).values()}
    return [DocumentRoot(folder / "pages", "site/", "site", urls=urls)]


def test_a_sitemap_sync_keeps_the_html_pages_and_says_why_it_skipped_the_others(site, tmp_path):
    result = _sync(site, tmp_path / "site")
    assert sorted(result.fetched) == ["guide/alpacas.html", "guide/index.html", "guide/llamas.html"]
    reasons = {s.path.removeprefix(site.base): s.reason for s in result.skipped}
    assert reasons == {
        "/old.html": f"redirects to {site.base}/guide/llamas.html",
        "/missing.html": "HTTP 404",
        "/private/secret.html": "disallowed by robots.txt",
        "/data.json": "not an HTML page (application/json)",
        "/guide/big.html": "too large (80 kB; the limit is 50 kB)",
        "/guide/slow.html": "timed out after 0.5 s",
    }
    assert not any(p == "/private/secret.html" for _, p, _ in site.requests), "robots.txt was not obeyed"
    assert site.user_agents == {USER_AGENT} and USER_AGENT.startswith("Verbatim/")
    assert "127.0.0.2" not in " ".join(s.path for s in result.skipped), "a page of another site was tried"
    assert (tmp_path / "site/pages/guide/llamas.html").read_text(encoding="utf-8") == site.pages["/guide/llamas.html"][
        1
    ]


def test_an_unchanged_site_costs_one_conditional_request_a_page_and_no_embedding(site, tmp_path, config, embedder):
    folder = tmp_path / "site"
    _sync(site, folder)
    build_index(config, embedder, roots=_roots(folder))
    site.requests.clear()
    embedder.embedded.clear()

    again = _sync(site, folder)
    report = build_index(config, embedder, roots=_roots(folder))
    kept = [(p, s) for p, s in site.page_requests() if p.startswith("/guide/") and "slow" not in p and "big" not in p]
    assert sorted(kept) == [("/guide/", 304), ("/guide/alpacas.html", 304), ("/guide/llamas.html", 304)]
    assert again.fetched == [] and len(again.not_modified) == 3
    assert report.embedded_chunks == 0 and embedder.embedded == []
    # robots.txt, the sitemap index, the sitemap, and one request per listed page allowed by robots
    assert again.requests == 3 + 8


def test_a_server_without_etags_is_asked_if_modified_since(site, tmp_path):
    site.dated.update({"/guide/", "/guide/llamas.html", "/guide/alpacas.html"})
    folder = tmp_path / "site"
    _sync(site, folder)
    site.requests.clear()
    again = _sync(site, folder)
    assert again.fetched == [] and sorted(again.not_modified) == [
        "guide/alpacas.html",
        "guide/index.html",
        "guide/llamas.html",
    ]
    assert {
        (p, s) for p, s in site.page_requests() if p.startswith("/guide/") and "slow" not in p and "big" not in p
    } == {
        ("/guide/", 304),
        ("/guide/llamas.html", 304),
        ("/guide/alpacas.html", 304),
    }


def test_a_page_that_changed_is_fetched_and_reembedded_alone_and_one_gone_is_removed(site, tmp_path, config, embedder):
    folder = tmp_path / "site"
    _sync(site, folder)
    build_index(config, embedder, roots=_roots(folder))
    embedder.embedded.clear()
    site.html("/guide/alpacas.html", page("Alpacas", "<h2 id='wool'>Wool</h2><p>Alpacas now hum at night.</p>"))
    del site.pages["/guide/"]

    again = _sync(site, folder)
    report = build_index(config, embedder, roots=_roots(folder))
    assert again.fetched == ["guide/alpacas.html"] and again.removed == ["guide/index.html"]
    assert report.changed == ("site/guide/alpacas.html",) and report.removed == ("site/guide/index.html",)
    assert all("Llamas" not in text for text in embedder.embedded)
    assert not (folder / "pages/guide/index.html").exists()


def test_a_passage_from_a_page_links_to_its_url_at_the_nearest_heading(site, tmp_path, config, embedder):
    folder = tmp_path / "site"
    _sync(site, folder)
    build_index(config, embedder, roots=_roots(folder))
    engine = Engine.load(config, embedder)
    passage = engine.ask("How much can a llama carry?").passages[0]
    assert passage.text == "A llama can carry 25 kg over 20 km."
    assert passage.document == "site/guide/llamas.html"
    assert passage.source_url == f"{site.base}/guide/llamas.html#carrying"
    feeding = engine.ask("What do llamas eat every day?").passages[0]
    assert feeding.source_url == f"{site.base}/guide/llamas.html#feeding"


def test_a_crawl_follows_links_under_the_prefix_only_and_stops_at_the_page_cap(site, tmp_path):
    crawled = sync_web(tmp_path / "a", start=site.base + "/guide/", sitemap=False, max_pages=10, timeout=0.5)
    assert sorted(crawled.fetched) == ["guide/alpacas.html", "guide/index.html", "guide/llamas.html"]
    assert not any(p == "/elsewhere.html" for _, p, _ in site.requests)
    capped = sync_web(tmp_path / "b", start=site.base + "/guide/", sitemap=False, max_pages=2, timeout=0.5)
    assert len(capped.fetched) == 2
    assert any("over the page cap (2 pages" in s.reason for s in capped.skipped)


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("https://d.org/", "index.html"),
        ("https://d.org/a/b/", "a/b/index.html"),
        ("https://d.org/a/os.html", "a/os.html"),
        ("https://d.org/a/page", "a/page.html"),
        ("https://d.org/../../etc/passwd", "etc/passwd.html"),
    ],
)
def test_a_page_is_kept_under_its_url_path_and_never_outside_the_folder(url, file):
    assert page_file(url) == file
