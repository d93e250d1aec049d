"""The record: migrations, the one-time import of the old JSON-lines file, retention, forgetting
a member, and no acknowledged question lost when the process is killed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bot.community.record import DAY, MIGRATIONS, RecordStore

ROOT = Path(__file__).resolve().parents[2]


def test_migrations_run_once_and_the_database_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite3"
    store = RecordStore(path)
    assert store.version == len(MIGRATIONS)
    question_id = store.add_question(question="Who?", user_id=1, via="command", outcome="answered")
    store.close()
    again = RecordStore(path)  # nothing re-created, nothing lost
    assert again.version == len(MIGRATIONS) and [q.id for q in again.questions()] == [question_id]
    assert again._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_database_of_an_earlier_version_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite3"
    with sqlite3.connect(path) as db:  # what version 1 of the bot left behind
        db.executescript(MIGRATIONS[0] + "; PRAGMA user_version=1;")
        db.execute(
            "INSERT INTO questions (asked_at, user_id, via, question, outcome) VALUES (?, 1, 'command', 'Q', 'answered')",
            (time.time(),),
        )
    db.close()
    store = RecordStore(path)
    assert store.version == len(MIGRATIONS) == 2
    assert [q.question for q in store.questions()] == ["Q"]
    store.add_thread(55, guild_id=9, asker_id=1, question="Q")
    assert store.thread(55) == (1, "Q") and store.thread(56) is None


def test_the_old_feedback_file_is_imported_once(tmp_path: Path) -> None:
    old = tmp_path / "feedback.jsonl"
    lines = [
        {"time": "2026-11-20T10:00:00+00:00", "kind": "unanswered", "question": "Bread?", "user_id": 5, "guild_id": 9},
        {
            "time": "2026-11-21T10:00:00+00:00",
            "kind": "vote",
            "helpful": False,
            "question": "Llamas?",
            "user_id": 6,
            "citations": ["a.md, line 3"],
        },
    ]
    old.write_text("\n".join(json.dumps(x) for x in lines) + '\n{"time": "2026-11-2', encoding="utf-8")  # torn tail
    store = RecordStore(tmp_path / "v.sqlite3", retention_days=36500)
    assert store.import_feedback_file(old) == 2
    rows = store.questions()
    assert [(r.question, r.outcome, r.guild_id, r.downvoted) for r in rows] == [
        ("Bread?", "not_found", 9, False),
        ("Llamas?", "answered", None, True),
    ]
    assert rows[1].citations == ("a.md, line 3",) and store.feedback_counts()["down"] == 1
    assert store.import_feedback_file(old) is None  # a second start imports nothing
    assert store.count() == 2


def _rows(store: RecordStore, table: str) -> list[tuple[object, ...]]:
    return store._db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def test_retention_deletes_only_what_is_older_than_the_period_from_every_table(tmp_path: Path) -> None:
    """Questions, the votes on them and the threads opened on them: each table holds a member's words."""
    store = RecordStore(tmp_path / "v.sqlite3", retention_days=90)
    now = time.time()
    kept: dict[str, list[int]] = {}
    for age, label in ((91, "old"), (89, "recent")):
        asked = now - age * DAY
        question = store.add_question(question=label, user_id=1, via="mention", outcome="answered", asked_at=asked)
        store.add_feedback(question, user_id=2, kind="up", given_at=asked + 60)
        store.add_thread(question + 100, guild_id=3, asker_id=1, question=label, started_at=asked)
        kept[label] = [question, question + 100]
    assert store.prune(now) == 1
    [recent, thread] = kept["recent"]
    assert [q.id for q in store.questions()] == [recent]
    assert [row[1] for row in _rows(store, "feedback")] == [recent]  # the vote on the recent question only
    assert store.thread(thread) == (1, "recent") and store.thread(kept["old"][1]) is None
    assert [row[0] for row in _rows(store, "threads")] == [thread]


def test_forget_deletes_a_members_questions_and_votes_only(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "v.sqlite3")
    theirs = store.add_question(question="Mine", user_id=7, via="mention", outcome="answered")
    others = store.add_question(question="Yours", user_id=8, via="command", outcome="not_found")
    store.add_feedback(theirs, user_id=8, kind="up")  # someone's vote on their question goes with it
    store.add_feedback(others, user_id=7, kind="down")  # their vote on someone else's question too
    store.add_feedback(others, user_id=9, kind="up")
    forgotten = store.forget(7)
    assert (forgotten.questions, forgotten.feedback) == (1, 2)
    assert [q.question for q in store.questions()] == ["Yours"]
    assert store.feedback_counts() == {"up": 1, "down": 0, "dismiss": 0}


def test_forget_deletes_the_threads_a_member_started_only(tmp_path: Path) -> None:
    """A thread keeps its asker and first question, both the member's: forgetting them deletes it."""
    store = RecordStore(tmp_path / "v.sqlite3")
    store.add_question(question="Mine", user_id=7, via="mention", outcome="answered")
    store.add_thread(501, guild_id=3, asker_id=7, question="Where do llamas sleep?")
    store.add_thread(502, guild_id=3, asker_id=8, question="Where do alpacas sleep?")
    store.forget(7)
    assert store.thread(501) is None and store.thread(502) == (8, "Where do alpacas sleep?")
    assert "llamas" not in str(_rows(store, "threads"))


def test_no_acknowledged_question_is_lost_when_the_process_is_killed(tmp_path: Path) -> None:
    """SIGKILL in the middle of a burst, 20 writes in flight: every acknowledged id is stored."""
    path = tmp_path / "v.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.bot.record_burst", str(path), "100000"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acked: list[int] = []
    for line in child.stdout:
        acked.append(int(line.split()[1]))
        if len(acked) == 300:
            os.kill(child.pid, signal.SIGKILL)
            break
    acked += [int(line.split()[1]) for line in child.stdout]  # printed before the kill, still in the pipe
    assert child.wait(10) == -signal.SIGKILL
    with sqlite3.connect(path) as db:
        stored = {row[0] for row in db.execute("SELECT id FROM questions")}
    print(f"\nkill -9 mid-burst: {len(acked)} acknowledged, {len(stored)} rows")
    assert set(acked) <= stored
    assert len(stored) - len(acked) <= 20  # at most the writes in flight were stored unacknowledged


def test_two_processes_writing_one_new_record_at_once_lose_nothing(tmp_path: Path) -> None:
    """Two bot shards: both create the schema, import the old feedback file and write 300
    questions each (20 in flight) into one new database at the same moment."""
    path, go, legacy = tmp_path / "v.sqlite3", tmp_path / "go", tmp_path / "feedback.jsonl"
    old = {"time": "2026-11-20T10:00:00+00:00", "kind": "unanswered", "user_id": 5}
    legacy.write_text("".join(json.dumps({**old, "question": f"Old {n}?"}) + "\n" for n in range(3000)))
    command = [sys.executable, "-m", "tests.bot.record_burst", str(path), "300", "--start-when", str(go)]
    children = [
        subprocess.Popen([*command, "--legacy", str(legacy)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    time.sleep(0.3)  # both started (imports done) and polling for the go file
    go.touch()
    outputs = [child.communicate(timeout=60) for child in children]
    for child, (_, stderr) in zip(children, outputs, strict=True):
        assert child.returncode == 0, stderr.decode()
    acked = [int(line.split()[1]) for stdout, _ in outputs for line in stdout.decode().splitlines()]
    with sqlite3.connect(path) as db:
        stored = {row[0] for row in db.execute("SELECT id FROM questions WHERE via = 'command'")}
        imported = db.execute("SELECT COUNT(*) FROM questions WHERE via = 'import'").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
    assert len(acked) == 600 and set(acked) == stored
    assert imported == 3000  # the old file is imported once, not by each process
    assert version == len(MIGRATIONS)


def test_a_migration_another_shard_ran_just_before_is_not_run_again(tmp_path: Path, monkeypatch) -> None:
    """Two shards open one new database: the other one migrates it between this one reading
    the version and taking the write lock (the race the process test may or may not hit)."""
    path = tmp_path / "v.sqlite3"
    original = RecordStore._transaction
    raced = []

    def after_the_other_shard_migrated(self):  # type: ignore[no-untyped-def]
        if not raced:
            raced.append(True)
            RecordStore(path)  # the other shard, all the way to the last version
        return original(self)

    monkeypatch.setattr(RecordStore, "_transaction", after_the_other_shard_migrated)
    store = RecordStore(path)
    assert raced and store.version == len(MIGRATIONS)
