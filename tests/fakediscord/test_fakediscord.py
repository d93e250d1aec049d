"""Self-test: an unmodified discord.py 2.7 ``commands.Bot`` driven through FakeDiscord.

The bot has one slash command (``/ping``, deferred + followup embed, with an
autocompleted option), one message context menu (``Quote``, ephemeral), one
button View, and an ``on_message`` that replies to mentions. Every test asserts
both what the bot sent (recorded REST payloads) and that nothing failed silently:
handler errors only reach ``on_error`` hooks/logs from background tasks.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from .fixtures import FAKE_TOKEN, BotRunner, discord_pointed_at, running_bot
from .payloads import FLAG_EPHEMERAL, FLAG_LOADING, PERMISSIONS_ALL, PERMISSIONS_MEMBER
from .server import FakeDiscord
from .state import UnknownCommandError

WEBHOOK = "/webhooks/{application_id}/{token}"
CALLBACK = "/interactions/{interaction_id}/{token}/callback"
CHANNEL_MESSAGES = "/channels/{channel_id}/messages"


# --------------------------------------------------------------------------- the bot under test


class ProbeTree(app_commands.CommandTree["SelfTestBot"]):
    """Records every interaction and collects errors the tree would only log."""

    async def interaction_check(self, interaction: discord.Interaction[SelfTestBot]) -> bool:
        self.client.interactions.append(interaction)
        return True

    async def on_error(
        self, interaction: discord.Interaction[SelfTestBot], error: app_commands.AppCommandError
    ) -> None:
        self.client.errors.append(error)


class GreetingView(discord.ui.View):
    def __init__(self, errors: list[BaseException]) -> None:
        super().__init__(timeout=60)
        self._errors = errors

    @discord.ui.button(label="Wave back", custom_id="verbatim:wave", style=discord.ButtonStyle.primary)
    async def wave(self, interaction: discord.Interaction, button: discord.ui.Button[GreetingView]) -> None:
        await interaction.response.edit_message(content=f"{interaction.user.display_name} waved back!", view=None)

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]) -> None:
        self._errors.append(error)


def build_commands() -> list[app_commands.Command[Any, ..., Any] | app_commands.ContextMenu]:
    """Fresh command objects per bot, so tests never share tree state."""

    @app_commands.command(name="ping", description="Check that Verbatim is alive")
    @app_commands.describe(note="Something to echo back")
    async def ping(interaction: discord.Interaction, note: str | None = None) -> None:
        await interaction.response.defer()
        embed = discord.Embed(title="Pong!", description=f"Alive, {interaction.user.mention}")
        if note:
            embed.add_field(name="Note", value=note)
        await interaction.followup.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())

    @ping.autocomplete("note")
    async def note_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=w, value=w) for w in ("hello", "help", "goodbye") if w.startswith(current)]

    @app_commands.context_menu(name="Quote")
    async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.send_message(
            f"> {message.content}\n— {message.author.mention}",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    return [ping, quote]


class SelfTestBot(commands.Bot):
    def __init__(self, dev_guild_id: int) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=ProbeTree,
            help_command=None,
            guild_ready_timeout=0.05,
        )
        self.dev_guild = discord.Object(id=dev_guild_id)
        self.errors: list[BaseException] = []
        self.interactions: list[discord.Interaction[SelfTestBot]] = []
        self.resumed = 0

    async def setup_hook(self) -> None:
        for command in build_commands():
            self.tree.add_command(command, guild=self.dev_guild)
        await self.tree.sync(guild=self.dev_guild)

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user is None or not self.user.mentioned_in(message):
            return
        await message.reply("Hello! I'm Verbatim.", view=GreetingView(self.errors), mention_author=False)

    async def on_resumed(self) -> None:
        self.resumed += 1

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        self.errors.append(sys.exc_info()[1] or RuntimeError(f"error in {event_method}"))


def assert_clean(bot: SelfTestBot, log_errors: list[logging.LogRecord]) -> None:
    assert bot.errors == []
    assert [r.getMessage() for r in log_errors] == []


# --------------------------------------------------------------------------- tests


@pytest.mark.asyncio
async def test_startup_logs_in_syncs_and_receives_guild(
    fake_discord: FakeDiscord, discord_errors: list[logging.LogRecord]
) -> None:
    fake = fake_discord
    async with running_bot(SelfTestBot(fake.guild_id), fake=fake) as bot:
        assert bot.user is not None and bot.user.id == int(fake.bot_user["id"])
        guild = bot.get_guild(fake.guild_id)
        assert guild is not None and guild.get_channel(fake.channel_id) is not None
        assert guild.me.guild_permissions.manage_threads

    login, app_info, sync = fake.calls[:3]
    assert (login.method, login.path) == ("GET", "/users/@me")
    assert login.headers["Authorization"] == f"Bot {FAKE_TOKEN}"
    assert (app_info.method, app_info.path) == ("GET", "/oauth2/applications/@me")
    assert sync.method == "PUT" and sync.route == "/applications/{application_id}/guilds/{guild_id}/commands"
    assert {(c["name"], c.get("type", 1)) for c in sync.json} == {("ping", 1), ("Quote", 3)}
    assert all(c["id"] and c["guild_id"] == str(fake.guild_id) for c in sync.response)
    assert fake.gateway.identify_count == 1
    assert fake.gateway.identify_payloads[0]["token"] == FAKE_TOKEN
    assert fake.gateway.heartbeat_count >= 1  # discord.py beats right after HELLO
    assert fake.gateway.received[0]["op"] == 1 and fake.gateway.connections[0].query["encoding"] == "json"

    # Discord cannot deliver commands that were never synced (or synced elsewhere).
    with pytest.raises(UnknownCommandError):
        fake.slash_command("nope")
    with pytest.raises(UnknownCommandError):
        fake.slash_command("ping", dm=True)  # guild command: does not exist in DMs
    with pytest.raises(ValueError):
        fake.slash_command("ping", {"bogus": 1})
    assert_clean(bot, discord_errors)


@pytest.mark.asyncio
async def test_ping_defers_then_sends_followup_embed(
    fake_discord: FakeDiscord, discord_errors: list[logging.LogRecord]
) -> None:
    fake = fake_discord
    async with running_bot(SelfTestBot(fake.guild_id), fake=fake) as bot:
        ix = await fake.dispatch_interaction(fake.slash_command("ping", {"note": "hi"}, user=fake.admin))
        answer = await fake.wait_for_answer(ix)

    callback, followup = fake.interaction_calls(ix)
    assert callback.route == CALLBACK and callback.query == {"with_response": "1"}
    assert callback.json == {"type": 5}
    assert followup is answer and followup.route == WEBHOOK and followup.query["wait"] == "1"
    body = followup.json
    assert body["allowed_mentions"] == {"parse": []}
    assert body["embeds"][0]["title"] == "Pong!"
    assert body["embeds"][0]["description"] == f"Alive, <@{fake.admin['id']}>"
    assert body["embeds"][0]["fields"] == [{"name": "Note", "value": "hi", "inline": True}]
    # The first followup after a defer replaces the "thinking" message.
    [message] = fake.bot_messages()
    assert message["id"] == answer.response["id"] == str(fake.interaction_state(ix).original_message_id)
    assert message["embeds"][0]["title"] == "Pong!" and not message["flags"] & FLAG_LOADING
    assert_clean(bot, discord_errors)


@pytest.mark.asyncio
async def test_member_permissions_reach_the_bot(
    fake_discord: FakeDiscord, discord_errors: list[logging.LogRecord]
) -> None:
    fake = fake_discord
    async with running_bot(SelfTestBot(fake.guild_id), fake=fake) as bot:
        for user in (fake.admin, fake.member):
            await fake.wait_for_answer(await fake.dispatch_interaction(fake.slash_command("ping", user=user)))
        override = await fake.dispatch_interaction(fake.slash_command("ping", user=fake.member, permissions="admin"))
        await fake.wait_for_answer(override)

    admin_ix, member_ix, override_ix = bot.interactions
    assert admin_ix.permissions.value == PERMISSIONS_ALL and admin_ix.permissions.manage_guild
    assert member_ix.permissions.value == PERMISSIONS_MEMBER and not member_ix.permissions.manage_guild
    assert override_ix.permissions.administrator
    assert isinstance(member_ix.user, discord.Member) and member_ix.user.id == int(fake.member["id"])
    assert discord.Permissions.all().value == PERMISSIONS_ALL
    assert_clean(bot, discord_errors)


@pytest.mark.asyncio
async def test_autocomplete_answers_choices(
    fake_discord: FakeDiscord, bot_runner: BotRunner[SelfTestBot], discord_errors: list[logging.LogRecord]
) -> None:
    """Also shows the ``bot_runner`` fixture: the bot is closed at teardown."""
    fake = fake_discord
    bot = await bot_runner(SelfTestBot(fake.guild_id))
    ix = await fake.dispatch_interaction(fake.autocomplete("ping", {"note": "he"}, focused="note"))
    answer = await fake.wait_for_answer(ix)

    assert answer.json == {
        "type": 8,
        "data": {"choices": [{"name": "hello", "value": "hello"}, {"name": "help", "value": "help"}]},
    }
    assert [c["value"] for c in fake.interaction_state(ix).autocomplete_choices or []] == ["hello", "help"]
    assert_clean(bot, discord_errors)


@pytest.mark.asyncio
async def test_quote_context_menu_answers_ephemerally(
    fake_discord: FakeDiscord, discord_errors: list[logging.LogRecord]
) -> None:
    fake = fake_discord
    async with running_bot(SelfTestBot(fake.guild_id), fake=fake) as bot:
        target = await fake.dispatch_message(fake.message_create("words worth keeping", author=fake.admin))
        ix = await fake.dispatch_interaction(fake.message_command("Quote", target))
        answer = await fake.wait_for_answer(ix)

    assert answer.json["type"] == 4
    data = answer.json["data"]
    assert data["flags"] == FLAG_EPHEMERAL
    assert data["content"] == f"> words worth keeping\n— <@{fake.admin['id']}>"
    assert data["allowed_mentions"] == {"parse": []}
    assert answer.response["interaction"]["response_message_ephemeral"] is True
    assert answer.response["resource"]["message"]["flags"] & FLAG_EPHEMERAL
    assert_clean(bot, discord_errors)


@pytest.mark.asyncio
async def test_mention_gets_reply_whose_button_edits_it(
    fake_discord: FakeDiscord, discord_errors: list[logging.LogRecord]
) -> None:
    fake = fake_discord
    async with running_bot(SelfTestBot(fake.guild_id), fake=fake) as bot:
        mention = await fake.dispatch_message(fake.message_create(f"{fake.mention(fake.bot_user)} hi there"))
        reply_call = await fake.wait_for(lambda c: c.ok and c.matches("POST", CHANNEL_MESSAGES))
        reply = reply_call.response

        click = await fake.dispatch_interaction(fake.component_click("verbatim:wave", reply, user=fake.admin))
        answer = await fake.wait_for_answer(click)

    body = reply_call.json
    assert body["content"] == "Hello! I'm Verbatim."
    reference = body["message_reference"]
    assert (reference["message_id"], reference["channel_id"]) == (int(mention["id"]), fake.channel_id)
    assert body["allowed_mentions"]["replied_user"] is False
    [row] = body["components"]
    assert row["components"][0]["custom_id"] == "verbatim:wave"
    assert reply["type"] == 19 and reply["referenced_message"]["id"] == mention["id"]

    assert answer.route == CALLBACK and answer.json["type"] == 7
    assert answer.json["data"]["components"] == []
    edited = fake.world.messages[int(reply["id"])]
    assert edited["content"] == "alice waved back!" and edited["components"] == []
    assert_clean(bot, discord_errors)


@pytest.mark.asyncio
async def test_followup_rate_limited_once_is_retried_and_delivered_once(
    fake_discord: FakeDiscord, discord_errors: list[logging.LogRecord]
) -> None:
    fake = fake_discord
    fault = fake.rate_limit("POST", WEBHOOK, retry_after=0.05)
    async with running_bot(SelfTestBot(fake.guild_id), fake=fake) as bot:
        ix = await fake.dispatch_interaction(fake.slash_command("ping"))
        answer = await fake.wait_for_answer(ix)

    attempts = fake.calls_to("POST", WEBHOOK)
    assert [(c.status, c.fault) for c in attempts] == [(429, "429"), (200, None)]
    assert attempts[1] is answer and fault.hits == 1
    assert attempts[0].json == attempts[1].json
    assert len(fake.bot_messages()) == 1
    assert_clean(bot, discord_errors)


@pytest.mark.asyncio
async def test_reply_hit_by_500_is_retried(fake_discord: FakeDiscord, discord_errors: list[logging.LogRecord]) -> None:
    """discord.py sleeps 1 s before retrying a 5xx, so this test costs ~1 s."""
    fake = fake_discord
    fake.server_error("POST", CHANNEL_MESSAGES)
    async with running_bot(SelfTestBot(fake.guild_id), fake=fake) as bot:
        await fake.dispatch_message(fake.message_create(f"{fake.mention(fake.bot_user)} are you there?"))
        await fake.wait_for(lambda c: c.ok and c.matches("POST", CHANNEL_MESSAGES))

    assert [c.status for c in fake.calls_to("POST", CHANNEL_MESSAGES)] == [500, 200]
    assert len(fake.bot_messages()) == 1
    assert_clean(bot, discord_errors)


@pytest.mark.asyncio
async def test_op7_reconnect_resumes_and_bot_keeps_answering(
    fake_discord: FakeDiscord, discord_errors: list[logging.LogRecord]
) -> None:
    fake = fake_discord
    async with running_bot(SelfTestBot(fake.guild_id), fake=fake) as bot:
        await fake.wait_for_answer(await fake.dispatch_interaction(fake.slash_command("ping")))
        seq_before, session = fake.gateway.sequence, fake.gateway.session_id

        await fake.force_reconnect()
        ix = await fake.dispatch_interaction(fake.slash_command("ping", {"note": "still here"}))
        answer = await fake.wait_for_answer(ix)

    gateway = fake.gateway
    assert (gateway.identify_count, gateway.resume_count) == (1, 1)
    assert gateway.resume_payloads[0] == {"seq": seq_before, "session_id": session, "token": FAKE_TOKEN}
    assert [c.path for c in gateway.connections] == ["/gateway", "/resume-gateway"]
    assert gateway.connections[0].close_code == 4000  # discord.py closes with 4000 on op 7
    assert bot.resumed == 1
    assert answer.json["embeds"][0]["fields"][0]["value"] == "still here"
    assert_clean(bot, discord_errors)


@pytest.mark.asyncio
async def test_interaction_webhook_routes_via_discord_objects(
    fake_discord: FakeDiscord, discord_errors: list[logging.LogRecord]
) -> None:
    """@original GET/PATCH/DELETE and followup PATCH/DELETE through a real ``discord.Interaction``."""
    fake = fake_discord
    async with running_bot(SelfTestBot(fake.guild_id), fake=fake) as bot:
        await fake.wait_for_answer(await fake.dispatch_interaction(fake.slash_command("ping")))
        [interaction] = bot.interactions

        original = await interaction.original_response()
        assert original.embeds[0].title == "Pong!"
        edited = await interaction.edit_original_response(content="edited", embed=None)
        assert edited.content == "edited" and edited.embeds == []
        extra = await interaction.followup.send("just for you", ephemeral=True, wait=True)
        assert extra.flags.ephemeral and extra.id != original.id
        await extra.edit(content="just for you (edited)")
        await extra.delete()
        await interaction.delete_original_response()

    assert fake.bot_messages() == []
    assert fake.world.deleted_message_ids == [extra.id, original.id]
    routes = [(c.method, c.route) for c in fake.interaction_calls({"token": interaction.token})]
    message_route = WEBHOOK + "/messages/{message_id}"
    assert routes[2:] == [
        ("GET", message_route),
        ("PATCH", message_route),
        ("POST", WEBHOOK),
        ("PATCH", message_route),
        ("DELETE", message_route),
        ("DELETE", message_route),
    ]
    assert_clean(bot, discord_errors)


@pytest.mark.asyncio
async def test_channel_thread_dm_and_misc_routes(
    fake_discord: FakeDiscord, discord_errors: list[logging.LogRecord]
) -> None:
    fake = fake_discord
    async with running_bot(SelfTestBot(fake.guild_id), fake=fake) as bot:
        channel = bot.get_channel(fake.channel_id)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("hello", allowed_mentions=discord.AllowedMentions.none())
        await sent.edit(content="hello again")
        await sent.add_reaction("\N{THUMBS UP SIGN}")

        cached = asyncio.ensure_future(bot.wait_for("thread_create", check=lambda t: t.id == sent.id, timeout=2))
        thread = await sent.create_thread(name="discussion")
        assert thread.id == sent.id and (await cached).name == "discussion"
        in_thread = await thread.send("inside")
        standalone = await channel.create_thread(name="standalone", type=discord.ChannelType.public_thread)
        assert standalone.type is discord.ChannelType.public_thread
        async with channel.typing():
            pass

        fetched = await bot.fetch_channel(fake.channel_id)
        assert fetched.id == fake.channel_id
        synced = await bot.tree.fetch_commands(guild=bot.dev_guild)
        assert sorted(c.name for c in synced) == ["Quote", "ping"]
        shards, url, _ = await bot.http.get_bot_gateway()
        assert (shards, url) == (1, fake.gateway_url)
        bob = await bot.fetch_user(int(fake.member["id"]))
        dm = await bob.send("psst")
        await sent.delete()

    assert fake.world.messages[int(in_thread.id)]["channel_id"] == str(thread.id)
    assert fake.world.channel_messages[dm.channel.id][0]["content"] == "psst"
    assert fake.calls_to("PATCH", CHANNEL_MESSAGES + "/{id}")[0].json["content"] == "hello again"
    assert len(fake.calls_to("POST", "/channels/{id}/typing")) == 1
    assert int(sent.id) in fake.world.deleted_message_ids
    assert_clean(bot, discord_errors)


@pytest.mark.asyncio
async def test_unknown_routes_are_recorded_and_json_content_type_is_exact(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake.api_base}/gateway") as known:
            assert known.headers["Content-Type"] == "application/json"
            assert await known.json() == {"url": fake.gateway_url}
        async with session.get(f"{fake.api_base}/guilds/1/bans") as unknown:
            assert unknown.status == 404
            assert unknown.headers["Content-Type"] == "application/json"
    [call] = fake.unhandled
    assert (call.method, call.path, call.route, call.unhandled) == ("GET", "/guilds/1/bans", None, True)
    assert fake.problems() == ["unhandled route: GET /guilds/1/bans"]
    fake.allow_unhandled = True  # deliberate; don't fail the fixture teardown


async def test_a_sharded_bot_gets_each_guild_on_the_shard_that_owns_it() -> None:
    """Two AutoShardedBots, shard 0 and shard 1 of 2, as two processes would run them."""
    fake = FakeDiscord(token=FAKE_TOKEN)
    await fake.start()
    first = fake.add_guild("On shard 0", shard=(0, 2))
    second = fake.add_guild("On shard 1", shard=(1, 2))
    seen: dict[int, list[int]] = {0: [], 1: []}
    arrived = asyncio.Event()
    try:
        with discord_pointed_at(fake):
            bots = []
            for shard in (0, 1):
                bot = discord.AutoShardedClient(
                    intents=discord.Intents.default(), shard_count=2, shard_ids=[shard], guild_ready_timeout=0.2
                )

                async def on_interaction(interaction: discord.Interaction, shard: int = shard) -> None:
                    seen[shard].append(interaction.guild_id or 0)
                    if all(seen.values()):
                        arrived.set()

                bot.event(on_interaction)
                bots.append(bot)
            tasks = [asyncio.create_task(bot.start(FAKE_TOKEN)) for bot in bots]
            try:
                await asyncio.wait_for(asyncio.gather(*(bot.wait_until_ready() for bot in bots)), 10)
                assert {g.id for g in bots[0].guilds} >= {first.id} and second.id not in {g.id for g in bots[0].guilds}
                assert {g.id for g in bots[1].guilds} >= {second.id} and first.id not in {g.id for g in bots[1].guilds}
                fake.world.sync_commands(None, [{"name": "ping", "description": "Ping.", "type": 1}])
                for guild in (second, first):
                    await fake.dispatch_interaction(fake.slash_command("ping", guild_id=guild.id))
                await asyncio.wait_for(arrived.wait(), 5)
                assert seen == {0: [first.id], 1: [second.id]}
                assert sorted(tuple(d["shard"]) for d in fake.gateway.identify_payloads) == [(0, 2), (1, 2)]
            finally:
                for bot in bots:
                    await bot.close()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await fake.stop()
