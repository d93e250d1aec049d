"""``verbatim report`` and ``verbatim forget`` on a small record (the fake embedder, so fast)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from bot.cli import commands as cli
from bot.community.record import DAY, RecordStore
from bot.community.report import COLOURS
from tests.conftest import HashingEmbedder

BREAD = ["How do I bake banana bread?", "how to bake banana bread", "Banana bread: how do I bake it?"]


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "verbatim.sqlite3"
    store = RecordStore(path)
    now = time.time()
    for n in range(30):
        store.add_question(
            question=BREAD[n % 3],
            user_id=7 if n < 5 else 8,
            via="command",
            outcome="not_found",
            channel_id=5,
            latency_ms=40.0 + n,
            asked_at=now - (n % 10) * DAY,
        )
    for n in range(20):
        asked = store.add_question(
            question="Who leads OpenAI?",
            user_id=9,
            via="mention",
            outcome="answered",
            channel_id=6,
            latency_ms=80.0,
            asked_at=now - n * DAY,
            citations=["seed.txt, line 3"],
        )
        store.add_feedback(asked, user_id=7, kind="up" if n % 4 else "down")
    store.add_question(question="Very old", user_id=8, via="command", outcome="not_found", asked_at=now - 400 * DAY)
    store.close()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VERBATIM_DB", str(path))
    monkeypatch.setattr(cli, "make_embedder", lambda settings: HashingEmbedder())
    return path


def test_report_writes_a_page_with_three_charts_and_prints_a_summary(record: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert cli.main(["report", "--days", "30", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(
        "50 questions in the last 30 days: 20 answered (40%), 0 not sure, 30 not in the documents;"
    )
    assert "15 👍, 5 👎, 0 dismissed." in printed
    lines = printed.splitlines()
    assert lines[1] == "Largest gaps:" and lines[2].split(None, 1)[0] == "30" and "banana bread" in lines[2].lower()
    assert lines[3].split(None, 1)[0] == "5" and "Who leads OpenAI?" in lines[3]  # the 👎 ones
    page = (out / "index.html").read_text("utf-8")
    for chart in ("questions-per-day.png", "answered-share.png", "top-gaps.png"):
        assert (out / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f'src="{chart}"' in page
    assert "Very old" not in page and "<td class=n>30</td>" in page
    assert "http://" not in page and "https://" not in page  # nothing outside its folder


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless chromium is not installed")
def test_the_report_renders_in_headless_chromium(record: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert cli.main(["report", "--out", str(out)]) == 0
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    subprocess.run(
        ["chromium", *flags, f"--screenshot={shot}", "--window-size=1000,1800", (out / "index.html").as_uri()],
        check=True,
        capture_output=True,
        timeout=60,
    )
    # The page itself is black on white and grey: the charts' red and green bars show only if they loaded.
    pixels = (matplotlib.image.imread(shot)[..., :3] * 255).round().astype(int).reshape(-1, 3)
    for colour in (COLOURS["answered"], COLOURS["not_found"]):
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).max(axis=1) <= 8).sum() > 500, colour


def test_forget_deletes_one_members_questions_and_votes(record: Path, capsys) -> None:
    assert cli.main(["forget", "7"]) == 0
    assert capsys.readouterr().out == "Deleted 5 questions and 20 votes of user 7.\n"
    store = RecordStore(record)
    assert {q.user_id for q in store.questions()} == {8, 9} and sum(store.feedback_counts().values()) == 0


def test_without_a_record_the_commands_say_so_in_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VERBATIM_DB", str(tmp_path / "none.sqlite3"))
    assert cli.main(["forget", "7"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: No record at ") and len(err.splitlines()) == 1
    assert not (tmp_path / "none.sqlite3").exists()


def test_the_report_keeps_to_the_retention_period_however_far_back_it_looks(record: Path, capsys) -> None:
    store = RecordStore(record)
    store.add_question(
        question="Where do the old llamas graze?",
        user_id=8,
        via="command",
        outcome="not_found",
        asked_at=time.time() - 200 * DAY,
    )
    store.close()
    out = record.parent / "report"
    assert cli.main(["report", "--days", "365", "--out", str(out)]) == 0  # retention: the default 90 days
    assert capsys.readouterr().out.startswith("50 questions in the last 365 days:")
    assert "old llamas" not in (out / "index.html").read_text("utf-8")
    assert "old llamas" not in str([q.question for q in RecordStore(record).questions()])  # deleted, not hidden
