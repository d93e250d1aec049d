import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from index import Engine
from index.sources.git import SourceSyncError, sync_git
from index.sources.spec import SourceSpec
from index.sources.sync import source_statuses, sync_sources

LINK = "https://git.example/org/project/blob/{commit}/{path}#L{line_start}-L{line_end}"


def git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "init.defaultBranch=main"]
    return subprocess.run([*command, *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with two commits' worth of documents; the test makes the second."""
    repo = tmp_path / "upstream"
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / "llamas.md").write_text(
        "# Llamas\n\nLlamas eat grass and hay.\n\n## Carrying\n\nA llama can carry 25 kg over 20 km.\n",
        encoding="utf-8",
    )
    (repo / "docs" / "alpacas.md").write_text("# Alpacas\n\nAlpaca wool is soft and warm.\n", encoding="utf-8")
    (repo / "setup.py").write_text("print('not a document')\n", encoding="utf-8")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    return repo


def _spec(repo: Path) -> SourceSpec:
    return SourceSpec("guide", "git", repo.as_uri(), branch="main", include=("docs/**/*.md",), link=LINK)


def test_a_git_source_links_each_quote_to_its_lines_at_the_synced_commit(repo, config, embedder):
    first = git(repo, "rev-parse", "HEAD")
    report = sync_sources([_spec(repo)], config, embedder)
    assert report.syncs[0].commit == first and report.sources["guide"]["commit"] == first
    assert sorted(report.build.added) == ["guide/docs/alpacas.md", "guide/docs/llamas.md"]
    passage = Engine.load(config, embedder).ask("How much can a llama carry?").passages[0]
    assert passage.text == "A llama can carry 25 kg over 20 km."
    assert (passage.line_start, passage.line_end) == (7, 7)
    assert passage.source_url == f"https://git.example/org/project/blob/{first}/docs/llamas.md#L7-L7"


def test_a_second_commit_reembeds_only_the_changed_file_and_moves_every_link(repo, config, embedder):
    sync_sources([_spec(repo)], config, embedder)
    (repo / "docs" / "alpacas.md").write_text("# Alpacas\n\nAlpacas hum when they are calm.\n", encoding="utf-8")
    git(repo, "commit", "-qam", "second")
    second = git(repo, "rev-parse", "HEAD")
    embedder.embedded.clear()

    report = sync_sources([_spec(repo)], config, embedder)
    assert report.build.changed == ("guide/docs/alpacas.md",) and report.build.unchanged == ("guide/docs/llamas.md",)
    assert all("llama" not in text.lower() for text in embedder.embedded)
    engine = Engine.load(config, embedder)
    assert engine.manifest.sources["guide"]["commit"] == second
    unchanged = engine.ask("How much can a llama carry?").passages[0]
    assert f"/blob/{second}/docs/llamas.md#L7-L7" in (unchanged.source_url or "")


def test_a_failed_fetch_keeps_the_last_checkout_indexed_and_says_why(repo, config, embedder, tmp_path):
    sync_sources([_spec(repo)], config, embedder)
    moved = tmp_path / "moved"
    repo.rename(moved)
    report = sync_sources([_spec(repo)], config, embedder)
    assert report.syncs[0].error is not None and "fetch failed" in report.syncs[0].summary
    # What failed, not git's closing advice ("and the repository exists.").
    assert report.syncs[0].error.startswith(f"git fetch failed: '{repo}' does not appear to be a git repository")
    assert report.build.unchanged == ("guide/docs/alpacas.md", "guide/docs/llamas.md")
    [status] = source_statuses(replace(config, sources=(_spec(repo),)))
    assert status.error == report.syncs[0].error and status.commit == git(moved, "rev-parse", "HEAD")
    assert status.age_seconds is not None and status.age_seconds < 60  # retried after its refresh, not at once


def test_a_repository_that_does_not_exist_is_one_readable_error(tmp_path):
    with pytest.raises(SourceSyncError, match="^git clone failed: .*") as caught:
        sync_git((tmp_path / "nowhere").as_uri(), None, tmp_path / "checkout")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "checkout").exists() and not (tmp_path / "checkout.partial").exists()
