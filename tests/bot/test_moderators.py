"""Every command is for members or for moderators, and the bot itself refuses a member the
moderators' ones: Discord's default permissions only hide them, and a server can grant any
command to anyone in its integration settings (the fake Discord, like such a server, lets a
member's interaction through)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from index.sources.uploads import store_upload
from tests.bot.conftest import Harness, StartBot, is_ephemeral, message_body
from tests.bot.test_bot_e2e import DOD_QUESTION, GUILD_COMMANDS
from tests.fakediscord import PERMISSIONS_MEMBER, FakeDiscord
from tests.fakediscord import payloads as fp
from tests.index.sources.site import serve

REFUSAL = "Only moderators can do that."
UPLOAD = "kept.md"
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2


def member_commands(h: Harness) -> dict[str, Any]:
    """What a member may use, each with options to use it with."""
    return {
        "ask": {"question": DOD_QUESTION},
        "search": {"query": "guardrails"},
        "sources": {},
        "source": {"name": h.service.documents()[0].path},
        "Ask the docs": h.fake.message_create(DOD_QUESTION),
    }


def moderator_commands(fake: FakeDiscord, own_role: int, upload_url: str) -> dict[str, dict[str, Any]]:
    """What only a moderator may use, each with options that would change something."""
    channel = fake.guild.channel_ids[1]
    return {
        "reindex": {},
        "unanswered": {},
        "stats": {},
        "config show": {},
        "config auto-answer": {"channel": channel, "enabled": True},
        "config answers": {"visibility": "private"},
        "config threads": {"enabled": True},
        "config log-channel": {"channel": channel},
        "config moderator-role": {"role": own_role, "enabled": True},  # making their own role a moderator
        "docs add": {"file": _attachment(upload_url)},
        "docs list": {},
        "docs remove": {"name": f"uploads/{UPLOAD}"},
    }


def _attachment(url: str) -> dict[str, Any]:
    payload = fp.attachment(9002, "new.md", 20, "text/markdown")
    payload["url"] = payload["proxy_url"] = url
    return payload


def synced_commands(fake: FakeDiscord) -> dict[str, list[str]]:
    """Every command Discord was told of, subcommands by their full name ("config show"),
    each with its autocompleted options."""
    [sync] = fake.calls_to("PUT", GUILD_COMMANDS)
    commands: dict[str, list[str]] = {}

    def walk(name: str, options: list[dict[str, Any]]) -> None:
        subcommands = [o for o in options if o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP)]
        for option in subcommands:
            walk(f"{name} {option['name']}", option.get("options") or [])
        if not subcommands:
            commands[name] = [o["name"] for o in options if o.get("autocomplete")]

    for command in sync.json:
        walk(command["name"], command.get("options") or [])
    return commands


def state(h: Harness) -> dict[str, Any]:
    """What a moderator command could change: settings, documents, uploads, the index."""
    files = {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in (h.docs_dir, Path(h.settings.index_dir))
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    configs = h.bot.configs
    guild, channels = h.fake.guild_id, h.fake.guild.channel_ids
    return {
        "settings": h._rows("SELECT * FROM settings ORDER BY guild_id, channel_id, key"),
        "configs": (
            sorted(configs.moderator_roles(guild)),
            sorted(configs.auto_answer_channels(guild)),
            configs.log_channel(guild),
            [(configs.private_answers(guild, [c]), configs.answer_in_thread(guild, [c])) for c in channels],
        ),
        "files": files,
        "engine": id(h.service.engine),
        "reindexing": h.service.reindexing,
        "questions": len(h.questions()),
    }


async def test_every_moderator_command_refuses_a_member_and_changes_nothing(
    verbatim: StartBot, fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    fake = fake_discord
    own_role = fake.world.snowflake()  # a plain role of bob's, before the bot receives the guild
    fake.guild.roles[own_role] = fp.role(own_role, "Regulars", PERMISSIONS_MEMBER, position=1)
    fake.guild.members[int(fake.member["id"])]["roles"].append(str(own_role))
    sources = tmp_path / "verbatim.toml"  # a source, so that /reindex source: has a name to offer
    sources.write_text(f'[[source]]\nname = "handbook"\npath = "{tmp_path / "docs"}"\n', encoding="utf-8")
    h = await verbatim(sources_file=sources)
    store_upload(h.service.config, UPLOAD, b"# Kept\n\nThis upload stays.\n")

    with serve() as site:
        moderators = moderator_commands(fake, own_role, site.base + "/files/new.md")
        members = member_commands(h)
        synced = synced_commands(fake)
        unclassified = set(synced) - set(moderators) - set(members)
        assert not unclassified, f"classify each new command as a member's or a moderator's: {sorted(unclassified)}"
        assert set(synced) == set(moderators) | set(members)

        for name, options in moderators.items():
            before = state(h)
            ix = fake.slash_command(name, options, user=fake.member)
            assert not int(ix["member"]["permissions"]) & 0x20  # no Manage Server
            refused = await h.run(ix)
            assert message_body(refused).get("content") == REFUSAL and is_ephemeral(refused), name
            assert fake.interaction_calls(ix) == [refused], f"/{name} did more than refuse"
            assert state(h) == before, f"/{name} changed something for a member"
        assert site.requests == [], "a member's upload was downloaded"

    # Typing in a moderator command's option offers a member nothing (a moderator, something).
    autocompleted = [(command, option) for command in moderators for option in synced[command]]
    assert {command for command, _ in autocompleted} >= {"reindex", "docs remove"}
    for name, option in autocompleted:
        as_member = await h.run(fake.autocomplete(name, {option: ""}, focused=option, user=fake.member))
        as_moderator = await h.run(fake.autocomplete(name, {option: ""}, focused=option, user=fake.admin))
        assert as_member.json["data"]["choices"] == [] and as_moderator.json["data"]["choices"], f"/{name} {option}:"

    # Still no moderator: making their own role one was refused.
    assert message_body(await h.run(fake.slash_command("stats", user=fake.member)))["content"] == REFUSAL

    # The members' commands are theirs: none of them is refused.
    for name, options in members.items():
        if name == "Ask the docs":
            target = await fake.dispatch_message(options)
            ix = fake.message_command(name, target, user=fake.member)
        else:
            ix = fake.slash_command(name, options, user=fake.member)
        answered = await h.run(ix)
        assert message_body(answered).get("content") != REFUSAL, name
