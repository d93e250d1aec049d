"""The Discord bot: a ``commands.Bot`` with one cog per feature and injected dependencies."""

from __future__ import annotations

import asyncio
import gc
import logging
import sqlite3
from collections.abc import Awaitable
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.community.record import Record, RecordStore
from bot.discord.render import NO_PINGS
from bot.errors import describe, report_failure
from bot.health import Health
from bot.server_config import Defaults, ServerConfigs
from bot.service import AnswerService
from bot.settings import Settings

log = logging.getLogger(__name__)

# How often the record's retention is looked at; it prunes once a day (record.PRUNE_EVERY), asked
# anything or not.
RETENTION_CHECK_SECONDS = 3600.0

COGS = (
    "bot.discord.cogs.ask",
    "bot.discord.cogs.search",
    "bot.discord.cogs.sources",
    "bot.discord.cogs.admin",
    "bot.discord.cogs.insights",
    "bot.discord.cogs.config",
    "bot.discord.cogs.docs",
    "bot.discord.cogs.freshness",
)


def intents_for(settings: Settings) -> discord.Intents:
    intents = discord.Intents.default()
    # Messages that mention the bot carry their content anyway; only auto-answering
    # arbitrary messages in help channels needs the privileged intent.
    intents.message_content = settings.auto_answer
    return intents


def defaults_from(settings: Settings) -> Defaults:
    """What every server gets until its moderators use /config."""
    return Defaults(
        auto_answer_channels=tuple(settings.help_channel_ids),
        moderator_roles=tuple(settings.moderator_role_ids),
        log_channel=settings.mod_log_channel,
        private_answers=settings.private_answers,
        answer_in_thread=settings.answer_in_thread,
    )


class VerbatimBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        service: AnswerService,
        record: Record,
        *,
        health: Health | None = None,
        **options: object,
    ) -> None:
        # A text-only bot: discord.py's start-up warnings about missing voice libraries are noise.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents_for(settings),
            allowed_mentions=NO_PINGS,
            help_command=None,
            **options,  # type: ignore[arg-type]
        )
        self.settings = settings
        self.service = service
        self.record = record
        self.configs = ServerConfigs(defaults_from(settings))
        self.health = health
        self.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]
        self.extras: set[asyncio.Task[Any]] = set()
        self._retention: asyncio.Task[None] | None = None

    async def setup_hook(self) -> None:
        # Runs after each successful login; `verbatim run` retries the login while Discord is
        # unreachable, and the index may already be loaded: everything here is idempotent.
        await self._load_configs()
        if self._retention is None:
            self._retention = asyncio.create_task(self._keep_retention(), name="verbatim-retention")
            self.extras.add(self._retention)
        report = await self.service.load_once()
        if report is not None:
            log.info("index_built_at_startup", extra={"summary": report.summary})
        for name in COGS:
            if name not in self.extensions:
                await self.load_extension(name)
        # The model and index are hundreds of thousands of long-lived objects; a full garbage
        # collection walking them paused the event loop for ~400 ms. Frozen, they are skipped.
        gc.collect()
        gc.freeze()
        if self.settings.dev_guild_id:
            guild = discord.Object(id=self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("commands_synced", extra={"guild": self.settings.dev_guild_id, "count": len(synced)})
        else:
            synced = await self.tree.sync()
            log.info("commands_synced_globally", extra={"count": len(synced)})

    async def _load_configs(self) -> None:
        try:
            self.configs.load(await self.record.call(RecordStore.settings))
        except (sqlite3.Error, OSError) as exc:
            # The bot still answers, with the environment's settings.
            log.warning("server_settings_not_loaded", extra={"error": f"{type(exc).__name__}: {exc}"})

    async def _keep_retention(self) -> None:
        """Old questions, votes and threads are deleted in a bot that stays up for months,
        not only when it starts or when someone happens to ask something."""
        while True:
            await asyncio.sleep(RETENTION_CHECK_SECONDS)
            try:
                await self.record.call(RecordStore.prune_if_due)
            except (sqlite3.Error, OSError) as exc:
                log.warning("record_not_pruned", extra={"error": f"{type(exc).__name__}: {exc}"})

    async def on_message(self, message: discord.Message) -> None:
        # No prefix commands: a mention is a question for the ask cog's listener. The default
        # would look "what" up in "@Verbatim what …" as a command and log CommandNotFound as an error.
        return

    async def on_ready(self) -> None:
        log.info("ready", extra={"user": str(self.user), "guilds": len(self.guilds), "shards": self.shard_ids_running})
        if self.health:
            self.health.gateway(True)

    @property
    def shard_ids_running(self) -> list[int] | None:
        """The shards this process runs (None: unsharded)."""
        if isinstance(self, discord.AutoShardedClient):
            return sorted(self.shards)
        return None

    async def on_connect(self) -> None:
        # Connected (READY may take a few seconds more while guilds arrive; interactions are
        # already answered by then).
        if self.health:
            self.health.gateway(True)

    async def on_resumed(self) -> None:
        if self.health:
            self.health.gateway(True)

    async def on_disconnect(self) -> None:
        if self.health:
            self.health.gateway(False)

    async def close(self) -> None:
        for task in list(self.extras):
            task.cancel()
        await super().close()
        self.service.close()
        self.record.close()

    async def on_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await report_error(interaction, error)


class ShardedVerbatimBot(VerbatimBot, commands.AutoShardedBot):
    """The same bot on discord.py's AutoShardedBot: the shards of ``VERBATIM_SHARD_IDS`` (all of
    ``VERBATIM_SHARD_COUNT`` without it) in this process, each with its own gateway connection."""


def make_bot(
    settings: Settings, service: AnswerService, record: Record, *, health: Health | None = None
) -> VerbatimBot:
    """A plain Bot (one gateway connection) unless sharding is configured."""
    if not settings.sharded:
        return VerbatimBot(settings, service, record, health=health)
    return ShardedVerbatimBot(
        settings, service, record, health=health, shard_count=settings.shard_count, shard_ids=settings.shard_ids
    )


def spawn_extra(bot: VerbatimBot, what: str, call: Awaitable[Any]) -> asyncio.Task[None]:
    """Run a courtesy call (the typing indicator, a "done" note) beside the answer.

    It never delays or sinks the answer: Discord may refuse it (5xx, which discord.py retries
    for ~25 s, a 429, a missing permission) or the network may drop it; that is logged as a
    warning and nothing else happens. Cancel the task when it no longer matters."""

    async def run() -> None:
        try:
            await call
        except (discord.HTTPException, discord.ClientException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("extra_failed", extra={"what": what, "error": f"{type(exc).__name__}: {exc}"})

    task = asyncio.create_task(run(), name=f"verbatim-extra-{what}")
    bot.extras.add(task)
    task.add_done_callback(bot.extras.discard)
    return task


def user_message_for(error: BaseException) -> str:
    """What a Discord user is told about an error: never a traceback."""
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.MissingPermissions | app_commands.CheckFailure):
        return str(error) or "You are not allowed to use this command."
    return describe(error, "discord")


async def report_error(interaction: discord.Interaction, error: BaseException) -> None:
    """The error handler of slash commands and component views: log it, tell the user privately."""
    if isinstance(error, app_commands.CheckFailure | app_commands.CommandOnCooldown):
        message = user_message_for(error)
    else:
        message = report_failure(error, "command_failed", "discord")
    try:
        if interaction.response.is_done():
            await _drop_public_thinking_message(interaction)
            await interaction.followup.send(message, ephemeral=True, allowed_mentions=NO_PINGS)
        else:
            await interaction.response.send_message(message, ephemeral=True, allowed_mentions=NO_PINGS)
    except discord.HTTPException:
        log.warning("error_message_not_delivered", exc_info=True)


async def _drop_public_thinking_message(interaction: discord.Interaction) -> None:
    """After a public defer, the first followup replaces the "thinking…" message and keeps its
    public visibility whatever its own flags say: delete it first, so the error stays private."""
    if interaction.response.type is not discord.InteractionResponseType.deferred_channel_message:
        return
    try:
        original = await interaction.original_response()
        if original.flags.loading and not original.flags.ephemeral:
            await interaction.delete_original_response()
    except discord.HTTPException:
        log.debug("thinking_message_not_deleted", exc_info=True)
