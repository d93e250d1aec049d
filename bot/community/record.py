"""The bot's record: every question, every 👍/👎 and dismissal, and per-server settings, in SQLite.

:class:`RecordStore` is the synchronous store (used as is by ``verbatim report`` and
``verbatim forget``); :class:`Record` runs it on one worker thread for the bot, so writes never
block the event loop and are serialized. Each write commits before it returns: once the bot
has posted an answer, the question is in the database, even if the process is killed the
next instant (WAL mode, so a committed transaction survives a crash of the process).

The schema grows by numbered migrations (``MIGRATIONS[n]`` takes ``PRAGMA user_version``
from n to n + 1), applied when the store opens. No discord import: this is plain data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

log = logging.getLogger(__name__)

Via = Literal["command", "menu", "mention", "auto", "followup", "import"]
Kind = Literal["up", "down", "dismiss"]
DAY = 86400.0

MIGRATIONS: tuple[str, ...] = (
    # 1: questions, feedback on them, per-server / per-channel settings, bookkeeping.
    """
    CREATE TABLE questions (
        id INTEGER PRIMARY KEY,
        asked_at REAL NOT NULL,
        guild_id INTEGER,
        channel_id INTEGER,
        user_id INTEGER NOT NULL,
        via TEXT NOT NULL,
        question TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('answered', 'not_sure', 'not_found')),
        confidence REAL,
        latency_ms REAL,
        citations TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX questions_by_time ON questions (asked_at);
    CREATE INDEX questions_by_user ON questions (user_id);
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        question_id INTEGER NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
        given_at REAL NOT NULL,
        user_id INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('up', 'down', 'dismiss'))
    );
    CREATE INDEX feedback_by_question ON feedback (question_id);
    CREATE INDEX feedback_by_user ON feedback (user_id);
    CREATE TABLE settings (
        guild_id INTEGER NOT NULL,
        channel_id INTEGER NOT NULL DEFAULT 0,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (guild_id, channel_id, key)
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: threads the bot opened on a question, so the asker's follow-ups keep their context.
    """
    CREATE TABLE threads (
        thread_id INTEGER PRIMARY KEY,
        guild_id INTEGER,
        asker_id INTEGER NOT NULL,
        question TEXT NOT NULL,
        started_at REAL NOT NULL
    );
    CREATE INDEX threads_by_asker ON threads (asker_id);
    CREATE INDEX threads_by_time ON threads (started_at);
    """,
)
PRUNE_EVERY = DAY  # a bot that runs for months still forgets on time (see VerbatimBot's retention loop)


@dataclass(frozen=True, slots=True)
class QuestionRow:
    id: int
    asked_at: float
    guild_id: int | None
    channel_id: int | None
    user_id: int
    via: str
    question: str
    outcome: str
    latency_ms: float | None
    citations: tuple[str, ...]
    downvoted: bool = False


@dataclass(frozen=True, slots=True)
class Forgotten:
    questions: int
    feedback: int


class RecordStore:
    """One SQLite connection, used from one thread at a time."""

    def __init__(self, path: Path, *, retention_days: float = 90.0) -> None:
        self.path = Path(path)
        self.retention_days = retention_days
        self.pruned_at = 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # First: several processes (bot shards) share the file, and even switching a new
        # database to WAL must wait for the others' locks rather than fail at once.
        self._db.execute("PRAGMA busy_timeout=5000")
        self._use_wal()
        # NORMAL in WAL mode: a commit survives the process being killed (only power loss may
        # roll back the last transactions), at a fraction of FULL's fsyncs.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    def _use_wal(self, *, patience_s: float = 10.0) -> None:
        """Switch the file to WAL (it stays so). Two processes creating one new database may
        both try at once, and SQLite can answer the loser "database is locked" at once,
        without calling the busy handler (the switch needs a lock nobody may wait for while
        holding another), so try again for a while before giving up."""
        deadline = time.monotonic() + patience_s
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    @property
    def version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        for number in range(self.version, len(MIGRATIONS)):
            with self._transaction():
                # Read again under the write lock: another process may have just migrated.
                if self.version > number:
                    continue
                for statement in _statements(MIGRATIONS[number]):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={number + 1}")
            log.info("record_migrated", extra={"version": number + 1})

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    # -- writing

    def add_question(
        self,
        *,
        question: str,
        user_id: int,
        via: Via,
        outcome: str,
        guild_id: int | None = None,
        channel_id: int | None = None,
        confidence: float | None = None,
        latency_ms: float | None = None,
        citations: Sequence[str] = (),
        asked_at: float | None = None,
    ) -> int:
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO questions (asked_at, guild_id, channel_id, user_id, via, question, outcome,"
                " confidence, latency_ms, citations) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time() if asked_at is None else asked_at,
                    guild_id,
                    channel_id,
                    user_id,
                    via,
                    question,
                    outcome,
                    confidence,
                    latency_ms,
                    json.dumps(list(citations), ensure_ascii=False),
                ),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def add_feedback(self, question_id: int, *, user_id: int, kind: Kind, given_at: float | None = None) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO feedback (question_id, given_at, user_id, kind) VALUES (?, ?, ?, ?)",
                (question_id, time.time() if given_at is None else given_at, user_id, kind),
            )

    def prune(self, now: float | None = None) -> int:
        """Delete what is older than the retention period; returns the questions deleted."""
        now = time.time() if now is None else now
        cutoff = now - self.retention_days * DAY
        with self._transaction():
            self._db.execute("DELETE FROM feedback WHERE given_at < ?", (cutoff,))
            self._db.execute("DELETE FROM threads WHERE started_at < ?", (cutoff,))
            deleted = self._db.execute("DELETE FROM questions WHERE asked_at < ?", (cutoff,)).rowcount
        self.pruned_at = now
        if deleted:
            log.info("record_pruned", extra={"questions": deleted, "days": self.retention_days})
        return deleted

    def prune_if_due(self, now: float | None = None) -> int:
        """:meth:`prune`, if the last one is a day old or more (or was never run)."""
        now = time.time() if now is None else now
        return self.prune(now) if now - self.pruned_at > PRUNE_EVERY else 0

    def add_thread(
        self,
        thread_id: int,
        *,
        guild_id: int | None,
        asker_id: int,
        question: str,
        started_at: float | None = None,
    ) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO threads (thread_id, guild_id, asker_id, question, started_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (thread_id, guild_id, asker_id, question, time.time() if started_at is None else started_at),
            )

    def thread(self, thread_id: int) -> tuple[int, str] | None:
        """(asker, first question) of a thread the bot opened, or None."""
        row = self._db.execute("SELECT asker_id, question FROM threads WHERE thread_id = ?", (thread_id,)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def forget(self, user_id: int) -> Forgotten:
        """Delete one member's questions (with every vote on them) and their votes."""
        with self._transaction():
            on_theirs = self._db.execute(
                "SELECT COUNT(*) FROM feedback WHERE question_id IN (SELECT id FROM questions WHERE user_id = ?)"
                " AND user_id != ?",
                (user_id, user_id),
            ).fetchone()[0]
            feedback = self._db.execute("DELETE FROM feedback WHERE user_id = ?", (user_id,)).rowcount
            self._db.execute("DELETE FROM threads WHERE asker_id = ?", (user_id,))
            questions = self._db.execute("DELETE FROM questions WHERE user_id = ?", (user_id,)).rowcount
        return Forgotten(questions=questions, feedback=feedback + on_theirs)

    def set_setting(self, guild_id: int, key: str, value: Any, *, channel_id: int = 0) -> None:
        with self._transaction():
            if value is None:
                self._db.execute(
                    "DELETE FROM settings WHERE guild_id = ? AND channel_id = ? AND key = ?",
                    (guild_id, channel_id, key),
                )
            else:
                self._db.execute(
                    "INSERT INTO settings (guild_id, channel_id, key, value) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (guild_id, channel_id, key) DO UPDATE SET value = excluded.value",
                    (guild_id, channel_id, key, json.dumps(value)),
                )

    def settings(self) -> list[tuple[int, int, str, Any]]:
        rows = self._db.execute("SELECT guild_id, channel_id, key, value FROM settings").fetchall()
        return [(g, c, k, json.loads(v)) for g, c, k, v in rows]

    # -- reading

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM questions").fetchone()[0])

    def questions(self, *, since: float = 0.0, guild_id: int | None = None) -> list[QuestionRow]:
        """Questions asked since ``since`` (oldest first), each marked if it got a 👎 or a dismissal."""
        sql = (
            "SELECT q.id, q.asked_at, q.guild_id, q.channel_id, q.user_id, q.via, q.question, q.outcome,"
            " q.latency_ms, q.citations,"
            " EXISTS (SELECT 1 FROM feedback f WHERE f.question_id = q.id AND f.kind != 'up')"
            " FROM questions q WHERE q.asked_at >= ?"
        )
        params: list[Any] = [since]
        if guild_id is not None:
            sql += " AND q.guild_id = ?"
            params.append(guild_id)
        rows = self._db.execute(sql + " ORDER BY q.asked_at, q.id", params).fetchall()
        return [
            QuestionRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], tuple(json.loads(r[9])), bool(r[10]))
            for r in rows
        ]

    def feedback_counts(self, *, since: float = 0.0, guild_id: int | None = None) -> dict[str, int]:
        sql = "SELECT f.kind, COUNT(*) FROM feedback f JOIN questions q ON q.id = f.question_id WHERE f.given_at >= ?"
        params: list[Any] = [since]
        if guild_id is not None:
            sql += " AND q.guild_id = ?"
            params.append(guild_id)
        counts = {"up": 0, "down": 0, "dismiss": 0}
        counts.update(dict(self._db.execute(sql + " GROUP BY f.kind", params).fetchall()))
        return counts

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # -- the JSON-lines file of earlier versions

    def import_feedback_file(self, path: Path) -> int | None:
        """Import the old ``feedback.jsonl`` once (None if it was imported before or is absent)."""
        if self.meta("feedback_file_imported") is not None or not path.is_file():
            return None
        imported = 0
        with self._transaction():
            if self.meta("feedback_file_imported") is not None:
                return None  # another process imported it while this one waited for the lock
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                        asked_at = datetime.fromisoformat(record["time"]).timestamp()
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn last line after a crash is not worth failing over
                    citations = record.get("citations") or []
                    outcome = "not_found" if record.get("kind") == "unanswered" or not citations else "answered"
                    cursor = self._db.execute(
                        "INSERT INTO questions (asked_at, guild_id, user_id, via, question, outcome, citations)"
                        " VALUES (?, ?, ?, 'import', ?, ?, ?)",
                        (
                            asked_at,
                            record.get("guild_id"),
                            int(record.get("user_id") or 0),
                            str(record.get("question", "")),
                            outcome,
                            json.dumps(citations, ensure_ascii=False),
                        ),
                    )
                    if record.get("kind") == "vote":
                        kind = "up" if record.get("helpful") else "down"
                        self._db.execute(
                            "INSERT INTO feedback (question_id, given_at, user_id, kind) VALUES (?, ?, ?, ?)",
                            (cursor.lastrowid, asked_at, int(record.get("user_id") or 0), kind),
                        )
                    imported += 1
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('feedback_file_imported', ?)", (f"{path} ({imported} records)",)
            )
        return imported


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


P = ParamSpec("P")
T = TypeVar("T")


class Record:
    """:class:`RecordStore` for the event loop: every call runs on one dedicated thread.

    The store opens on that thread at the first call, so a database that cannot be opened
    fails that call (the bot logs it and still answers) rather than the start-up."""

    def __init__(self, path: Path, *, retention_days: float = 90.0, legacy_feedback: Path | None = None) -> None:
        self.path = Path(path)
        self.retention_days = retention_days
        self.legacy_feedback = legacy_feedback
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verbatim-record")
        self._store: RecordStore | None = None
        self._lock = threading.Lock()

    def _opened(self) -> RecordStore:
        with self._lock:
            if self._store is None:
                store = RecordStore(self.path, retention_days=self.retention_days)
                if self.legacy_feedback is not None:
                    imported = store.import_feedback_file(self.legacy_feedback)
                    if imported is not None:
                        log.info(
                            "feedback_file_imported", extra={"file": str(self.legacy_feedback), "records": imported}
                        )
                self._store = store
            return self._store

    async def call(self, method: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``await record.call(RecordStore.add_question, question=...)`` on the record thread."""

        def run() -> T:
            store = self._opened()
            store.prune_if_due()
            return method(store, *args, **kwargs)

        return await asyncio.wrap_future(self._pool.submit(run))

    async def add_question(self, **fields: Any) -> int:
        return await self.call(RecordStore.add_question, **fields)

    async def add_feedback(self, question_id: int, *, user_id: int, kind: Kind) -> None:
        await self.call(RecordStore.add_feedback, question_id, user_id=user_id, kind=kind)

    async def set_setting(self, guild_id: int, key: str, value: Any, *, channel_id: int = 0) -> None:
        await self.call(RecordStore.set_setting, guild_id, key, value, channel_id=channel_id)

    async def add_thread(self, thread_id: int, *, guild_id: int | None, asker_id: int, question: str) -> None:
        await self.call(RecordStore.add_thread, thread_id, guild_id=guild_id, asker_id=asker_id, question=question)

    async def thread(self, thread_id: int) -> tuple[int, str] | None:
        return await self.call(RecordStore.thread, thread_id)

    async def questions(self, *, days: float, guild_id: int | None = None) -> list[QuestionRow]:
        return await self.call(RecordStore.questions, since=time.time() - days * DAY, guild_id=guild_id)

    def close(self) -> None:
        def shut() -> None:
            if self._store is not None:
                self._store.close()

        try:
            self._pool.submit(shut)
        except RuntimeError:
            return  # closed already
        # Waits for writes still queued (milliseconds): at shutdown, none may be dropped.
        self._pool.shutdown(wait=True)
