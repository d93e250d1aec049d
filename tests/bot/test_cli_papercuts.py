"""What a new user hits first on the command line, with the fake embedder (fast)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import bot.cli.commands
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
    monkeypatch.setattr(bot.cli.commands, "make_embedder", lambda settings: HashingEmbedder())
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


# ---------------------------------------------------------------- -k


@pytest.mark.parametrize(
    ("k", "problem"),
    [("0", "must be 1 or more (got 0)"), ("-1", "must be 1 or more (got -1)"), ("two", "'two' is not a whole number")],
)
@pytest.mark.parametrize("command", ["ask", "search"])
def test_a_passage_count_below_one_is_one_line_and_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str], command: str, k: str, problem: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "-k", k, "Who leads OpenAI?"])
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: verbatim {command}: argument -k: {problem} (see verbatim {command} --help)\n"


def test_a_mistyped_command_line_is_one_line_not_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["ask"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: verbatim ask: the following arguments are required: QUESTION (see verbatim ask --help)\n"


def test_a_passage_count_above_the_most_is_capped_and_says_so(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index"]) == 0
    capsys.readouterr()
    assert main(["search", "--json", "-k", "999", "Anthropic"]) == 0
    out, err = capsys.readouterr()
    assert err == "note: -k 999 is more than 100, the most a search lists; showing 100.\n"
    assert main(["ask", "-k", "999", "--json", QUESTION]) == 0
    out, err = capsys.readouterr()
    assert err.startswith("note: -k 999 is more than 10, the most an answer quotes")
    assert json.loads(out)["passages"]


# ---------------------------------------------------------------- SIGTERM


class StoppedWhileEmbedding(HashingEmbedder):
    """Sends this process SIGTERM (docker stop, systemd) as the first text is embedded."""

    def embed_documents(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler runs at once; this is never waited out
        return super().embed_documents(texts, batch_size=batch_size)


def test_an_index_run_stopped_by_sigterm_says_so_exits_143_and_the_previous_index_serves(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["index"]) == 0
    index = workdir / ".verbatim" / "index"
    live = (index / "CURRENT").read_text()
    (workdir / "docs" / "llamas.md").write_text("# Llamas\n\nLlamas hum when they are curious.\n", encoding="utf-8")
    capsys.readouterr()
    monkeypatch.setattr(bot.cli.commands, "make_embedder", lambda settings: StoppedWhileEmbedding())
    assert main(["index"]) == 143
    out, err = capsys.readouterr()
    assert out == ""
    assert (
        err
        == f"stopped (SIGTERM): the index in {Path('.verbatim/index')} is the last complete build, and it still serves.\n"
    )
    assert (index / "CURRENT").read_text() == live
    assert not list((index / "builds").glob("*.partial"))
    monkeypatch.setattr(bot.cli.commands, "make_embedder", lambda settings: HashingEmbedder())
    assert main(["search", "--json", "llamas hum"]) == 0  # read only: the old build answers
    assert "llamas.md" not in capsys.readouterr().out


def test_a_first_index_stopped_by_sigterm_says_no_index_was_written(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.cli.commands, "make_embedder", lambda settings: StoppedWhileEmbedding())
    assert main(["index"]) == 143
    assert capsys.readouterr().err == f"stopped (SIGTERM): no index was written in {Path('.verbatim/index')}.\n"
    assert not (workdir / ".verbatim" / "index" / "CURRENT").exists()


# ---------------------------------------------------------------- --json


def test_search_json_and_ask_json_print_one_shape(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index"]) == 0
    capsys.readouterr()
    assert main(["ask", "--json", QUESTION]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert main(["search", "--json", "-k", "2", QUESTION]) == 0
    found = json.loads(capsys.readouterr().out)
    shared = {"question", "retriever", "index_built_at", "passages"}
    assert isinstance(found, dict) and set(found) == shared and shared <= set(answer)
    assert found["question"] == answer["question"] == QUESTION
    assert found["retriever"] == answer["retriever"] and found["index_built_at"] == answer["index_built_at"]
    assert len(found["passages"]) == 2 and answer["passages"]
    assert set(found["passages"][0]) == set(answer["passages"][0])
    source = SEED.read_text(encoding="utf-8")
    for passage in found["passages"]:
        assert source[passage["start"] : passage["end"]] == passage["text"]
        assert passage["citation"].startswith(SEED.name)


# ---------------------------------------------------------------- eval


def test_eval_uses_the_documents_folder_ask_remembers(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.cli.eval_report

    monkeypatch.setattr(bot.cli.eval_report, "make_embedder", lambda settings: HashingEmbedder())
    (workdir / "docs").rename(workdir / "handbook")
    assert main(["index", "handbook"]) == 0
    questions = workdir / "questions.jsonl"
    line = {"id": "q1", "question": QUESTION, "answers": ["remove all safety guardrails"]}
    questions.write_text(json.dumps(line) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["eval", "--json", str(questions)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert Path(report["documents"]).resolve() == (workdir / "handbook").resolve()
    assert report["results"][0]["quotes_checked"] > 0


def test_a_folder_that_is_a_file_is_named_with_what_it_is(tmp_path: Path) -> None:
    from bot.errors import FolderNotWritableError, check_writable

    (tmp_path / "record").write_text("a file", encoding="utf-8")
    with pytest.raises(FolderNotWritableError) as caught:
        check_writable(tmp_path / "record" / "db")
    assert (
        str(caught.value)
        == f"{tmp_path / 'record' / 'db'} is inside {tmp_path / 'record'}, which is a file, not a folder."
    )
