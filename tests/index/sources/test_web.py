import contextlib
from dataclasses import replace
from pathlib import Path

import pytest

from index import Engine, build_index
from index.errors import SourceSyncError
from index.ingest import DocumentRoot
from index.sources.spec import SourceSpec
from index.sources.sync import source_statuses, sync_sources, update_index
from index.sources.web import USER_AGENT, page_file, read_state, sync_web
from tests.index.sources.site import default_site, outage, page, serve


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


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fault", ["down", "HTTP 503", "HTTP 404", "timeout", "not XML"])
def test_a_sitemap_that_cannot_be_fetched_fails_the_fetch_in_one_line_and_keeps_every_page(site, tmp_path, fault):
    folder = tmp_path / "site"
    _sync(site, folder)
    before = _snapshot(folder)
    assert "pages/guide/llamas.html" in before
    if fault == "timeout":
        site.slow["/sitemap.xml"] = 2.0
    elif fault == "not XML":
        site.html("/sitemap.xml", page("Down for maintenance", "<p>Back soon.</p>"))
    elif fault != "down":
        site.errors["/sitemap.xml"] = int(fault.removeprefix("HTTP "))
    with outage(site) if fault == "down" else contextlib.nullcontext():
        with pytest.raises(SourceSyncError) as failed:
            _sync(site, folder)
    message = str(failed.value)
    assert message.startswith(f"sitemap {site.base}/sitemap.xml: ") and "\n" not in message
    assert {"down": "cannot connect", "timeout": "timed out", "not XML": "not valid XML"}.get(fault, fault) in message
    assert _snapshot(folder) == before


def test_a_crawl_whose_start_page_cannot_be_fetched_fails_and_keeps_every_page(site, tmp_path):
    folder = tmp_path / "crawl"
    crawl = {"start": site.base + "/guide/", "sitemap": False, "max_pages": 10, "timeout": 0.5}
    assert len(sync_web(folder, **crawl).fetched) == 3
    before = _snapshot(folder)
    with outage(site), pytest.raises(SourceSyncError, match=f"^start page {site.base}/guide/: cannot connect"):
        sync_web(folder, **crawl)
    site.errors["/guide/"] = 502
    with pytest.raises(SourceSyncError, match="HTTP 502$"):
        sync_web(folder, **crawl)
    assert _snapshot(folder) == before


@pytest.mark.parametrize(
    ("fault", "kept"), [("HTTP 500", True), ("timeout", True), ("HTTP 404", False), ("HTTP 410", False)]
)
def test_one_page_that_fails_is_kept_unless_the_site_says_it_is_gone(site, tmp_path, fault, kept):
    folder = tmp_path / "site"
    _sync(site, folder)
    text = (folder / "pages/guide/llamas.html").read_bytes()
    if fault == "timeout":
        site.slow["/guide/llamas.html"] = 2.0
    else:
        site.errors["/guide/llamas.html"] = int(fault.removeprefix("HTTP "))
    again = _sync(site, folder)
    assert ("guide/llamas.html" in again.pages) is kept
    assert ("guide/llamas.html" in again.removed) is not kept
    assert (folder / "pages/guide/llamas.html").exists() is kept
    if kept:
        assert (folder / "pages/guide/llamas.html").read_bytes() == text
        assert "guide/llamas.html" in {p.file for p in read_state(folder).values()}
    assert "guide/alpacas.html" in again.pages, "the other pages are synced as usual"


def test_a_crawl_goes_on_from_the_kept_copy_of_a_page_that_failed(site, tmp_path):
    site.html("/guide/alpacas.html", page("Alpacas", '<p>Alpaca wool is soft.</p><a href="/guide/wool.html">Wool</a>'))
    site.html("/guide/wool.html", page("Wool", "<p>Wool is shorn in spring.</p>"))
    folder = tmp_path / "crawl"
    crawl = {"start": site.base + "/guide/", "sitemap": False, "max_pages": 10, "timeout": 0.5}
    assert "guide/wool.html" in sync_web(folder, **crawl).fetched
    site.errors["/guide/alpacas.html"] = 503
    site.html("/guide/wool.html", page("Wool", "<p>Wool is shorn in May.</p>"))
    again = sync_web(folder, **crawl)
    assert again.removed == [] and again.fetched == ["guide/wool.html"]
    assert sorted(again.pages) == ["guide/alpacas.html", "guide/index.html", "guide/llamas.html", "guide/wool.html"]


def test_a_page_left_out_of_a_sitemap_that_answered_is_removed_but_not_when_part_of_the_index_failed(site, tmp_path):
    folder = tmp_path / "site"
    first = _sync(site, folder)
    site.errors["/sitemap-pages.xml"] = 503  # the sitemap index answers; the sitemap it lists does not
    partial = _sync(site, folder)
    assert partial.removed == [] and sorted(partial.pages) == sorted(read_state(folder))
    assert sorted(partial.pages) == sorted(first.pages) and len(first.pages) == 3
    assert any(s.reason == "sitemap: HTTP 503" for s in partial.skipped)
    del site.errors["/sitemap-pages.xml"]
    listed = site.pages["/sitemap-pages.xml"]
    site.pages["/sitemap-pages.xml"] = (
        listed[0],
        listed[1].replace(f"<url><loc>{site.base}/guide/alpacas.html</loc></url>", ""),
    )
    complete = _sync(site, folder)
    assert complete.removed == ["guide/alpacas.html"]


def test_robots_rules_for_verbatim_by_name_are_obeyed(site, tmp_path):
    site.pages["/robots.txt"] = (
        "text/plain",
        "User-agent: Verbatim\nDisallow: /guide/alpacas.html\n\nUser-agent: *\nDisallow: /private/\n",
    )
    result = _sync(site, tmp_path / "site")
    assert "guide/alpacas.html" not in result.fetched and "guide/llamas.html" in result.fetched
    assert not any(p == "/guide/alpacas.html" for _, p, _ in site.requests), "robots.txt for Verbatim was not obeyed"
    assert any(
        s.path.endswith("/guide/alpacas.html") and s.reason == "disallowed by robots.txt" for s in result.skipped
    )


def test_an_outage_keeps_the_site_answerable_beside_another_source_and_says_which_copy_is_served(
    site, config, embedder, docs_dir
):
    web = SourceSpec("site", "web", site.base + "/sitemap.xml", sitemap=True)
    specs = (SourceSpec("notes", "folder", str(docs_dir)), web)
    config = replace(config, sources=specs)
    site.slow.clear()
    first = update_index(config, embedder)
    assert first.failed_fetches == () and "site/guide/llamas.html" in first.added
    [good] = [s for s in source_statuses(config) if s.name == "site"]

    with outage(site):
        during = update_index(config, embedder, only="site")
    [failure] = during.failed_fetches
    assert failure.startswith(f"site: fetch failed (sitemap {site.base}/sitemap.xml: cannot connect")
    assert failure.endswith(f"the copy synced {good.synced_at} is still served")
    assert during.removed == () and not any(line.startswith("site:") for line in during.fetches)
    passage = Engine.load(config, embedder).ask("How much can a llama carry?").passages[0]
    assert passage.text == "A llama can carry 25 kg over 20 km." and passage.document == "site/guide/llamas.html"
    [status] = [s for s in source_statuses(config) if s.name == "site"]
    assert status.good_at == good.synced_at and status.error and "cannot connect" in status.error


def test_a_first_sync_of_a_site_that_is_down_says_the_fetch_failed_not_that_there_is_nothing(site, config, embedder):
    config = replace(config, sources=(SourceSpec("site", "web", site.base + "/sitemap.xml", sitemap=True),))
    with outage(site), pytest.raises(SourceSyncError, match="^site: fetch failed .*it was never synced") as failed:
        sync_sources(config.sources, config, embedder)
    assert "VERBATIM_DOCS_DIR" not in str(failed.value)
