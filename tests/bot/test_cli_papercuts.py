"""What a new user hits first on the command line, with the fake embedder (fast)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import bot.cli
from bot.cli import main
from tests.conftest import REPO, SEED, HashingEmbedder

QUESTION = "What did the Department of Defense demand from Anthropic?"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the bundled document, no index, no VERBATIM_* variables, the fake embedder."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / SEED.name).write_bytes(SEED.read_bytes())
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("VERBATIM_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(bot.cli, "make_embedder", lambda settings: HashingEmbedder())
    return tmp_path


def read_only_cli(workdir: Path, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``verbatim ARGS`` in a subprocess that sees ``folder`` as a read-only mount (tests.readonly)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERBATIM_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "tests.readonly", str(folder), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# ---------------------------------------------------------------- asking never writes


def test_ask_answers_from_an_index_on_a_read_only_mount(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index"]) == 0
    index = workdir / ".verbatim" / "index"
    before = sorted(p.relative_to(index) for p in index.rglob("*"))
    done = read_only_cli(workdir, index, "ask", QUESTION)
    assert done.returncode == 0, done.stderr
    assert "refused write" not in done.stderr and "error" not in done.stderr, done.stderr
    assert "— anthropic-dod-standoff.txt, line" in done.stdout
    assert sorted(p.relative_to(index) for p in index.rglob("*")) == before


def test_ask_on_a_read_only_index_answers_from_it_as_it_is_when_documents_changed(workdir: Path) -> None:
    assert main(["index"]) == 0
    (workdir / "docs" / "llamas.md").write_text("# Llamas\n\nLlamas hum when they are curious.\n", encoding="utf-8")
    index = workdir / ".verbatim" / "index"
    done = read_only_cli(workdir, index, "ask", QUESTION)
    assert done.returncode == 0, done.stderr
    assert "refused write" not in done.stderr
    assert done.stderr.strip() == (
        f"1 document changed since the last build (llamas.md), but {Path('.verbatim/index')} is read-only: "
        "answering from the index as it is."
    )
    assert "— anthropic-dod-standoff.txt, line" in done.stdout


def test_ask_without_an_index_on_a_read_only_mount_says_the_folder_is_read_only(workdir: Path) -> None:
    index = workdir / "mounted"
    index.mkdir()
    done = read_only_cli(workdir, index, "--index-dir", str(index), "ask", QUESTION)
    assert done.returncode == 1
    [error] = [line for line in done.stderr.splitlines() if not line.startswith("refused write")]
    assert error.startswith(f"error: The folder {index} is read-only.")
