"""A real ``VerbatimBot`` against the fake Discord, with checks no test can forget.

``verbatim`` (a factory fixture) starts the bot with ``Settings(...)`` built from keyword
arguments, a ``HashingEmbedder`` service and documents under ``tmp_path``. At teardown it
closes the bot and then asserts, for every test that used it:

* every REST call that sends a message carries ``allowed_mentions`` forbidding pings;
* nothing was logged at ERROR by discord.py, the bot, the engine or asyncio (unless the test
  said it expects that error with ``harness.expect_error(event)``);
* every error a test said it expects was logged.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest_asyncio

from bot.community.record import Record
from bot.discord.client import VerbatimBot
from bot.discord.render import unescape
from bot.service import AnswerService
from bot.settings import Settings
from tests.conftest import SEED, HashingEmbedder
from tests.fakediscord import FakeDiscord, RecordedCall
from tests.fakediscord.fixtures import FAKE_TOKEN, bot_runner, discord_errors, fake_discord, running_bot  # noqa: F401

WEBHOOK = "/webhooks/{application_id}/{token}"
WEBHOOK_MESSAGE = "/webhooks/{application_id}/{token}/messages/{message_id}"
CALLBACK = "/interactions/{interaction_id}/{token}/callback"
CHANNEL_MESSAGES = "/channels/{channel_id}/messages"
CHANNEL_MESSAGE = "/channels/{channel_id}/messages/{message_id}"
EPHEMERAL = 1 << 6

SEED_NAME = SEED.name
NOTICES_NAME = "notices.md"
#: A document whose sentences hold pings and Markdown: quoting it must neither ping nor format.
NOTICES = """# Notices

## Llama emergencies

In a llama emergency, the keeper writes @everyone in the alerts channel and pings <@123> and the <@&456> role at once.

## Formatting rules

Llama config files are named like llama_config_file.yaml and the command `llama --feed *` feeds every llama; never write *bold* or __underlined__ llama names.
"""


def message_sending(call: RecordedCall) -> bool:
    """Does this recorded call post or edit a message (so its pings matter)?"""
    body = call.json if isinstance(call.json, dict) else None
    if call.matches("POST", CHANNEL_MESSAGES) or call.matches("PATCH", CHANNEL_MESSAGE):
        return True
    if call.matches("POST", WEBHOOK) or call.matches("PATCH", WEBHOOK_MESSAGE):
        return True
    if call.matches("POST", CALLBACK) and body is not None:
        data = body.get("data") or {}
        return body.get("type") in (4, 7) or any(k in data for k in ("content", "embeds", "components"))
    return False


def ping_problems(fake: FakeDiscord) -> list[str]:
    """Message-sending calls whose ``allowed_mentions`` would let something ping."""
    askers: set[int] = set()
    for record in fake.world.interactions.values():
        payload = record.payload
        user = (payload.get("member") or {}).get("user") or payload.get("user") or {}
        if user.get("id"):
            askers.add(int(user["id"]))
    for message in fake.world.messages.values():  # people who asked by mentioning the bot
        if message["author"]["id"] != fake.bot_user["id"]:
            askers.add(int(message["author"]["id"]))
    problems = []
    for call in fake.calls:
        if not message_sending(call):
            continue
        body = call.json if isinstance(call.json, dict) else {}
        allowed = body.get("allowed_mentions")
        if allowed is None and call.matches("POST", CALLBACK):
            allowed = (body.get("data") or {}).get("allowed_mentions")
        where = f"{call.method} {call.path}"
        if not isinstance(allowed, dict):
            problems.append(f"{where}: no allowed_mentions")
            continue
        if set(allowed.get("parse", [])) & {"everyone", "roles", "users"}:
            problems.append(f"{where}: parse={allowed['parse']}")
        if allowed.get("roles"):
            problems.append(f"{where}: roles={allowed['roles']}")
        users = {int(u) for u in allowed.get("users") or []}
        if len(users) > 1 or not users <= askers:
            problems.append(f"{where}: users={sorted(users)}")
        if allowed.get("replied_user") is True:
            problems.append(f"{where}: replied_user=True")
    return problems


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Harness:
    """One running bot and what a test needs around it."""

    fake: FakeDiscord
    bot: VerbatimBot
    settings: Settings
    service: AnswerService
    record: Record
    docs_dir: Path
    bot_errors: list[logging.LogRecord]
    expected_errors: set[str] = field(default_factory=set)

    def expect_error(self, event: str) -> None:
        """This test deliberately causes an ERROR log record with message ``event``."""
        self.expected_errors.add(event)

    def questions(self) -> list[dict[str, Any]]:
        """The questions in the record, oldest first, as a moderator's SQLite browser shows them."""
        return self._rows("SELECT * FROM questions ORDER BY id")

    def feedback(self) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT f.kind, f.user_id, q.question, q.citations FROM feedback f"
            " JOIN questions q ON q.id = f.question_id ORDER BY f.id"
        )

    def _rows(self, sql: str) -> list[dict[str, Any]]:
        with contextlib.closing(sqlite3.connect(self.settings.db)) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql)]

    def doc_text(self, name: str) -> str:
        return (self.docs_dir / name).read_bytes().decode("utf-8")

    async def run(self, interaction: dict[str, Any], timeout: float = 10.0) -> RecordedCall:
        """Dispatch an interaction and return the call that answered it."""
        await self.fake.dispatch_interaction(interaction)
        return await self.fake.wait_for_answer(interaction, timeout)

    async def ask(self, question: str, *, user: dict[str, Any] | None = None, timeout: float = 10.0) -> RecordedCall:
        return await self.run(self.fake.slash_command("ask", {"question": question}, user=user), timeout)


StartBot = Callable[..., Awaitable[Harness]]


def write_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SEED_NAME).write_bytes(SEED.read_bytes())
    (folder / NOTICES_NAME).write_text(NOTICES, encoding="utf-8")
    return folder


def make_settings(tmp_path: Path, fake: FakeDiscord, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "docs_dir": tmp_path / "docs",
        "index_dir": tmp_path / "index",
        "feedback_file": tmp_path / "feedback.jsonl",
        "db": tmp_path / "verbatim.sqlite3",
        "model": HashingEmbedder.name,
        "chunk_size": 400,
        "threshold": 0.15,
        "dev_guild_id": fake.guild_id,
        "cooldown_seconds": 0,
        "discord_token": FAKE_TOKEN,
    }
    values.update(overrides)
    return Settings(**values)


@pytest_asyncio.fixture
async def verbatim(
    tmp_path: Path,
    fake_discord: FakeDiscord,  # noqa: F811
    discord_errors: list[logging.LogRecord],  # noqa: F811
) -> AsyncIterator[StartBot]:
    """``h = await verbatim(**settings_overrides)`` starts the bot; checks run at teardown."""
    handler = _Records()
    # The root logger: the bot's own loggers, the engine's, and asyncio's "Task exception was
    # never retrieved" for a background task that died. discord.py's are in ``discord_errors``.
    bot_logger = logging.getLogger()
    bot_logger.addHandler(handler)
    harnesses: list[Harness] = []
    async with contextlib.AsyncExitStack() as stack:

        async def start(*, embedder: Any = None, write: bool = True, **overrides: Any) -> Harness:
            settings = make_settings(tmp_path, fake_discord, **overrides)
            if write:
                write_docs(settings.docs_dir)
            # As `verbatim run` makes them (bot/discord/runner.py), but with the fake embedder.
            service = AnswerService(
                settings.engine_config(), embedder or HashingEmbedder(), writer=settings.index_writer
            )
            record = Record(
                settings.db, retention_days=settings.db_retention_days, legacy_feedback=settings.feedback_file
            )
            bot = VerbatimBot(settings, service, record, guild_ready_timeout=0.05)
            await stack.enter_async_context(running_bot(bot, fake=fake_discord, ready_timeout=30.0))
            harness = Harness(fake_discord, bot, settings, service, record, settings.docs_dir, handler.records)
            harnesses.append(harness)
            return harness

        try:
            yield start
        finally:
            bot_logger.removeHandler(handler)
    # The bots are closed now: every call they made is recorded.
    problems = ping_problems(fake_discord)
    assert problems == [], "messages that could ping:\n" + "\n".join(problems)
    expected = set().union(*(h.expected_errors for h in harnesses)) if harnesses else set()
    missing = expected - {r.getMessage() for r in handler.records}
    assert not missing, f"errors the test expected were never logged: {sorted(missing)}"
    unexpected = [
        f"{r.name}: {r.getMessage()}"
        for r in handler.records
        if r.getMessage() not in expected and not r.name.startswith("discord")
    ]
    assert unexpected == [], f"the bot logged errors: {unexpected}"
    assert [r.getMessage() for r in discord_errors] == [], "discord.py logged errors"


# -- reading what the bot posted ------------------------------------------------------------------------

_QUOTE_LINE = re.compile(r"^>(?: (.*))?$")


def quotes_in(description: str) -> list[tuple[str, str]]:
    """(quote text, citation) pairs from an answer embed's description, un-escaped."""
    found: list[tuple[str, str]] = []
    lines: list[str] = []
    for line in description.split("\n"):
        match = _QUOTE_LINE.match(line)
        if match:
            lines.append(unescape(match.group(1) or ""))
        elif line.startswith("— ") and lines:
            found.append(("\n".join(lines), unescape(line[2:])))
            lines = []
        elif line.strip() in ("…", "") or line.startswith("**"):
            continue
        else:
            lines = []
    return found


def cited_document(h: Harness, citation: str) -> str:
    """The indexed document a citation names. A citation is ``path › Section…, line n``
    (index.types.Passage.citation): the path of one of the documents, then " › " or ", ".
    Neither a path nor a section title is split on its own commas or arrows."""
    paths = [d.path for d in h.service.documents()]
    named = [p for p in paths if citation.startswith((p + " › ", p + ", "))]
    assert named, f"{citation!r} names none of the documents {paths}"
    return max(named, key=len)


def embed_of(call: RecordedCall) -> dict[str, Any]:
    body = call.json
    if call.matches("POST", CALLBACK):
        body = body.get("data") or {}
    [embed] = body["embeds"]
    return embed


def message_body(call: RecordedCall) -> dict[str, Any]:
    return (call.json.get("data") or {}) if call.matches("POST", CALLBACK) else call.json


def buttons(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in body.get("components") or [] for c in row["components"]]


def button_id(body: dict[str, Any], *, label: str | None = None, emoji: str | None = None) -> str:
    for button in buttons(body):
        if (label is not None and button.get("label") == label) or (
            emoji is not None and (button.get("emoji") or {}).get("name") == emoji
        ):
            return str(button["custom_id"])
    raise LookupError(f"no button {label or emoji} in {buttons(body)}")


def is_ephemeral(call: RecordedCall) -> bool:
    return bool((message_body(call).get("flags") or 0) & EPHEMERAL)
