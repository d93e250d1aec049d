"""Sources with ``refresh`` are synced on that schedule, in the background, reported to the mod log.

Questions keep being answered from the current index while a sync runs; the new index is
swapped in only once built. A failed sync is logged and reported, and the loop carries on.
With several shard processes, only the index writer (the one running shard 0) syncs; every
shard process reloads the index when another one has swapped in a new build.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.discord.render import MESSAGE_LIMIT, NO_PINGS, escape, report_text, shorten
from bot.errors import report_failure
from index.sources import SourceSpec
from index.sources.sync import last_sync, sync_age_seconds

if TYPE_CHECKING:
    from bot.discord.client import VerbatimBot

log = logging.getLogger(__name__)

# How often the schedule is looked at (never less often than the shortest refresh).
CHECK_SECONDS = 60.0


def due(spec: SourceSpec, age: float | None) -> bool:
    return spec.refresh_seconds is not None and (age is None or age >= spec.refresh_seconds)


class FreshnessCog(commands.Cog):
    def __init__(self, bot: VerbatimBot) -> None:
        self.bot = bot
        sources = bot.service.config.sources or ()
        self.scheduled = [s for s in sources if s.refresh_seconds] if bot.service.writer else []

    async def cog_load(self) -> None:
        if self.scheduled:
            self._background(self._loop(), "verbatim-scheduled-sync")
        if self.bot.settings.sharded:
            self._background(self.bot.service.follow(), "verbatim-follow-index")

    def _background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self.bot.extras.add(task)  # cancelled when the bot closes
        task.add_done_callback(self.bot.extras.discard)

    async def _loop(self) -> None:
        interval = min(CHECK_SECONDS, *(float(s.refresh_seconds or CHECK_SECONDS) for s in self.scheduled))
        while True:
            await asyncio.sleep(interval)
            for spec in self.scheduled:
                record = await asyncio.to_thread(last_sync, self.bot.service.config, spec.name)
                if due(spec, sync_age_seconds((record or {}).get("synced_at"))) and not self.bot.service.reindexing:
                    await self.sync(spec)

    async def sync(self, spec: SourceSpec) -> None:
        """Fetch one source and rebuild; the result goes to the mod log channel."""
        try:
            report, seconds = await self.bot.service.reindex(only=spec.name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a background loop logs and carries on
            text = f"**Scheduled sync of {escape(spec.name)} failed**; the previous index is still answering.\n"
            text += report_failure(exc, "scheduled_sync_failed")
        else:
            log.info("scheduled_sync", extra={"source": spec.name, "summary": report.summary})
            text = f"**Scheduled sync of {escape(spec.name)}**\n{report_text(report, seconds)}"
            if report.failed_fetches:  # its line says what failed and which copy is still served
                log.warning("scheduled_sync_fetch_failed", extra={"source": spec.name, "error": report.failed_fetches})
                text = f"**Scheduled sync of {escape(spec.name)} failed**: {escape(report.failed_fetches[0])}"
        await self._post(text)

    async def _post(self, text: str) -> None:
        channel_id = self.bot.settings.mod_log_channel
        if channel_id is None:
            return
        try:
            channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
            if isinstance(channel, discord.abc.Messageable):
                await channel.send(shorten(text, MESSAGE_LIMIT), allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            log.warning("mod_log_not_delivered", extra={"error": f"{type(exc).__name__}: {exc}"})


async def setup(bot: VerbatimBot) -> None:
    await bot.add_cog(FreshnessCog(bot))
