"""``verbatim index`` with a sources file, and an index that remembers its folder.

The fake embedder stands in for the model: what is tested is which documents are read."""

import json
import os

import pytest

from bot.cli import main
from tests.conftest import REPO, HashingEmbedder
from tests.index.sources.site import default_site, outage, page, serve
from tests.index.sources.test_git import git


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "anthropic-dod-standoff.txt").write_bytes(
        (REPO / "docs" / "anthropic-dod-standoff.txt").read_bytes()
    )
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("VERBATIM_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr("bot.cli.commands.make_embedder", lambda settings: HashingEmbedder())
    monkeypatch.setenv("VERBATIM_LEARNED_RANKING", "false")
    return tmp_path


def test_a_plain_index_keeps_the_folder_it_was_last_pointed_at(workdir, capsys):
    (workdir / "other").mkdir()
    (workdir / "other" / "llamas.md").write_text("# Llamas\n\nLlamas eat grass and hay.\n", encoding="utf-8")
    main(["index"])
    capsys.readouterr()
    assert main(["index", "other"]) == 0
    switched = capsys.readouterr()
    assert f"Indexing other instead of {workdir / 'docs'}" in switched.err
    assert "added 1, changed 0, removed 1, unchanged 0" in switched.out
    assert main(["index"]) == 0
    again = capsys.readouterr()
    assert "added 0, changed 0, removed 0, unchanged 1" in again.out and again.err == ""


def test_index_syncs_every_source_of_the_sources_file_and_links_to_the_commit(workdir, capsys):
    upstream = workdir / "upstream"
    (upstream / "docs").mkdir(parents=True)
    (upstream / "docs" / "llamas.md").write_text(
        "# Llamas\n\n## Carrying\n\nA llama can carry 25 kg over 20 km.\n", encoding="utf-8"
    )
    git(upstream, "init", "-q")
    git(upstream, "add", ".")
    git(upstream, "commit", "-qm", "first")
    commit = git(upstream, "rev-parse", "HEAD")
    (workdir / "verbatim.toml").write_text(
        f"""
[[source]]
name = "handbook"
path = "docs"

[[source]]
name = "guide"
git = "{upstream.as_uri()}"
include = ["docs/**/*.md"]
link = "https://git.example/blob/{{commit}}/{{path}}#L{{line_start}}-L{{line_end}}"
""",
        encoding="utf-8",
    )
    assert main(["index"]) == 0
    out = capsys.readouterr().out
    assert f"Synced guide: at commit {commit[:12]}" in out
    assert "added: handbook/anthropic-dod-standoff.txt" in out and "added: guide/docs/llamas.md" in out
    assert main(["ask", "--json", "How much can a llama carry?"]) == 0
    passage = json.loads(capsys.readouterr().out)["passages"][0]
    assert passage["source_url"] == f"https://git.example/blob/{commit}/docs/llamas.md#L5-L5"

    assert main(["index", "--source", "guide"]) == 0
    assert "(0 embedded)" in capsys.readouterr().out
    assert main(["sources"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[-2].startswith("source handbook (folder): synced ") and listed[-2].endswith(" s ago)")
    assert listed[-1].startswith("source guide (git): synced ") and listed[-1].endswith(f", commit {commit[:12]}")
    assert main(["index", "--source", "nope"]) == 1
    assert capsys.readouterr().err == "error: No source is named 'nope'. The sources are: handbook, guide.\n"
    assert main(["index", "docs"]) == 1
    assert "verbatim.toml says what is indexed; a folder argument would replace all of it." in capsys.readouterr().err


def test_ask_notices_documents_changed_since_the_last_build_and_updates_first(workdir, capsys):
    main(["index"])
    capsys.readouterr()
    (workdir / "docs" / "llamas.md").write_text("# Llamas\n\nLlamas hum when they are calm.\n", encoding="utf-8")
    (workdir / "docs" / "binary.txt").write_bytes(b"\x00\x01\x02")  # read, never indexed
    assert main(["ask", "When do llamas hum?"]) == 0
    first = capsys.readouterr()
    assert "2 documents changed since the last build (binary.txt, llamas.md): updating the index first." in first.err
    assert "> Llamas hum when they are calm." in first.out
    assert main(["ask", "When do llamas hum?"]) == 0
    assert "changed since the last build" not in capsys.readouterr().err, "a skipped file counted as news again"


def test_a_site_down_between_two_syncs_fails_in_one_line_keeps_answering_and_catches_up_when_back(workdir, capsys):
    with serve() as site:
        default_site(site)
        site.slow.clear()
        (workdir / "verbatim.toml").write_text(
            f'[[source]]\nname = "handbook"\npath = "docs"\n\n'
            f'[[source]]\nname = "site"\nsitemap = "{site.base}/sitemap.xml"\n',
            encoding="utf-8",
        )
        assert main(["index"]) == 0
        assert "added: site/guide/llamas.html" in capsys.readouterr().out

        with outage(site):
            assert main(["index", "--source", "site"]) == 1
            failed = capsys.readouterr()
            assert failed.err.count("\n") == 1 and failed.err.startswith(
                f"error: site: fetch failed (sitemap {site.base}/sitemap.xml: cannot connect"
            )
            assert "removed 0" in failed.out and "Synced site" not in failed.out
            assert main(["ask", "--json", "How much can a llama carry?"]) == 0
            passage = json.loads(capsys.readouterr().out)["passages"][0]
            assert passage["text"] == "A llama can carry 25 kg over 20 km."
            assert passage["document"] == "site/guide/llamas.html"
            assert main(["sources"]) == 0
            status = capsys.readouterr().out.splitlines()[-1]
            assert status.startswith("source site (web): synced ") and "; the fetch of " in status
            assert " failed: sitemap " in status and "cannot connect" in status

        site.html("/guide/alpacas.html", page("Alpacas", "<h2 id='wool'>Wool</h2><p>Alpacas hum at night.</p>"))
        site.requests.clear()
        assert main(["index"]) == 0
        back = capsys.readouterr().out
        assert "Synced site: 1 pages fetched, 4 not modified" in back and "changed: site/guide/alpacas.html" in back
        downloaded = [p for p, status in site.page_requests() if status == 200 and p.startswith("/guide/")]
        assert downloaded == ["/guide/alpacas.html"]  # the others: 304 Not Modified
