"""Every cog loads, no command names clash, and the fixture's ping check really catches pings."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from discord import app_commands

from bot.community.record import Record
from bot.discord.client import COGS, VerbatimBot
from bot.service import AnswerService
from bot.settings import Settings
from tests.bot.conftest import ping_problems
from tests.conftest import HashingEmbedder
from tests.fakediscord import FakeDiscord, RecordedCall


async def test_every_cog_loads_and_no_command_names_clash(tmp_path: Path) -> None:
    settings = Settings(docs_dir=tmp_path / "docs", index_dir=tmp_path / "index", model=HashingEmbedder.name)
    service = AnswerService(settings.engine_config(), HashingEmbedder())
    bot = VerbatimBot(settings, service, Record(tmp_path / "verbatim.sqlite3"))
    try:
        for name in COGS:
            await bot.load_extension(name)  # raises CommandAlreadyRegistered on a clash
        assert set(bot.extensions) == set(COGS)
        assert set(bot.cogs) == {
            "AskCog",
            "SearchCog",
            "SourcesCog",
            "AdminCog",
            "InsightsCog",
            "ConfigCog",
            "DocsCog",
            "FreshnessCog",
        }
        per_cog = [c.qualified_name for cog in bot.cogs.values() for c in cog.get_app_commands()]
        assert len(per_cog) == len(set(per_cog)), Counter(per_cog)
        tree = [(c.name, type(c).__name__) for c in bot.tree.get_commands()]
        assert len(tree) == len(set(tree))
        assert {n for n, _ in tree} == {
            "ask",
            "search",
            "sources",
            "source",
            "reindex",
            "unanswered",
            "stats",
            "config",
            "docs",
            "Ask the docs",
        }
        for command in bot.tree.get_commands():
            if isinstance(command, app_commands.Command):
                assert command.description and command.description != "…", command.name
        # Unloading and loading again works (the context menu is removed with its cog).
        for name in COGS:
            await bot.unload_extension(name)
        assert bot.tree.get_commands() == []
        for name in COGS:
            await bot.load_extension(name)
        assert len(bot.tree.get_commands()) == 10
    finally:
        await bot.close()


def _call(method: str, path: str, body: dict) -> RecordedCall:
    return RecordedCall(method=method, path=path, route=None, query={}, json=body, headers={}, status=200)


def test_the_ping_check_flags_every_way_a_message_could_ping() -> None:
    fake = FakeDiscord()
    ix = fake.slash_command("ask", {"question": "q"}) if fake.world.commands else None
    assert ix is None  # no command synced in a fresh fake; the asker set is empty
    good = [
        _call("POST", "/channels/1/messages", {"content": "x", "allowed_mentions": {"parse": []}}),
        _call(
            "POST", "/channels/1/messages", {"content": "x", "allowed_mentions": {"parse": [], "replied_user": False}}
        ),
        _call("POST", "/interactions/1/t/callback", {"type": 5}),
        _call("POST", "/interactions/1/t/callback", {"type": 5, "data": {"flags": 64}}),
        _call("POST", "/interactions/1/t/callback", {"type": 8, "data": {"choices": []}}),
        _call("POST", "/channels/1/messages/2/threads", {"name": "q"}),
    ]
    bad = [
        _call("POST", "/channels/1/messages", {"content": "x"}),
        _call("PATCH", "/channels/1/messages/2", {"content": "x", "allowed_mentions": {"parse": ["everyone"]}}),
        _call("POST", "/webhooks/1/t", {"content": "x", "allowed_mentions": {"parse": ["users"]}}),
        _call(
            "PATCH",
            "/webhooks/1/t/messages/@original",
            {"content": "x", "allowed_mentions": {"parse": [], "roles": ["456"]}},
        ),
        _call("POST", "/webhooks/1/t", {"content": "x", "allowed_mentions": {"parse": [], "users": ["123"]}}),
        _call(
            "POST", "/channels/1/messages", {"content": "x", "allowed_mentions": {"parse": [], "replied_user": True}}
        ),
        _call("POST", "/interactions/1/t/callback", {"type": 4, "data": {"content": "x"}}),
        _call(
            "POST",
            "/interactions/1/t/callback",
            {"type": 7, "data": {"embeds": [], "allowed_mentions": {"parse": ["roles"]}}},
        ),
    ]
    fake.calls = good
    assert ping_problems(fake) == []
    for call in bad:
        fake.calls = [call]
        assert len(ping_problems(fake)) == 1, call
