"""Moderator commands: /reindex in the background."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.checks import moderators_only
from bot.discord.render import CHOICES_MAX, NO_PINGS, report_text
from bot.errors import report_failure
from bot.service import ReindexProgress
from index.sources.sync import check_source_name

if TYPE_CHECKING:
    from bot.discord.client import VerbatimBot

log = logging.getLogger(__name__)

PROGRESS_EDIT_SECONDS = 2.0  # edits of the progress message, well inside rate limits


def progress_text(progress: ReindexProgress | None) -> str:
    if progress is None:
        return "Reindexing… starting."
    label = {"reading": "reading documents", "embedding": "embedding new text"}.get(progress.stage, progress.stage)
    return f"Reindexing… {label} ({progress.done}/{progress.total})." if progress.total else f"Reindexing… {label}."


class AdminCog(commands.Cog):
    def __init__(self, bot: VerbatimBot) -> None:
        self.bot = bot
        self._task: asyncio.Task[None] | None = None
        self._progress: ReindexProgress | None = None

    @app_commands.command(name="reindex")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(source="Fetch only this source of the sources file (default: all of them)")
    @moderators_only()
    async def reindex(self, interaction: discord.Interaction, source: str | None = None) -> None:
        """Re-read the documents (fetching the sources); questions keep being answered meanwhile."""
        check_source_name(self.bot.service.config, source)
        if (self._task is not None and not self._task.done()) or self.bot.service.reindexing:
            await interaction.response.send_message(
                "A reindex is already running; I will report when it is done.",
                ephemeral=True,
                allowed_mentions=NO_PINGS,
            )
            return
        self._progress = None
        replied = asyncio.Event()
        self._task = asyncio.create_task(self._run(interaction, replied, source))  # claimed before any await
        try:
            await interaction.response.send_message(progress_text(None), ephemeral=True, allowed_mentions=NO_PINGS)
        finally:
            replied.set()

    @reindex.autocomplete("source")
    @moderators_only()  # a member's autocomplete gets no choices (discord.py runs no command check for it)
    async def source_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        names = [s.name for s in self.bot.service.config.sources or ()]
        return [app_commands.Choice(name=n, value=n) for n in names if current.lower() in n.lower()][:CHOICES_MAX]

    async def _run(self, interaction: discord.Interaction, replied: asyncio.Event, source: str | None = None) -> None:
        editor = asyncio.create_task(self._edit_progress(interaction, replied))
        try:
            report, seconds = await self.bot.service.reindex(on_progress=self._set_progress, only=source)
            text = report_text(report, seconds)
            log.info("reindexed", extra={"summary": report.summary})
        except Exception as exc:
            text = (
                f"**Reindex failed**; the previous index is still answering.\n{report_failure(exc, 'reindex_failed')}"
            )
        finally:
            editor.cancel()
        await replied.wait()  # the report edits the first reply: a quick reindex must not overtake it
        try:
            await interaction.edit_original_response(content=text, allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            log.warning("reindex_report_not_delivered", exc_info=True)

    def _set_progress(self, progress: ReindexProgress) -> None:
        self._progress = progress

    async def _edit_progress(self, interaction: discord.Interaction, replied: asyncio.Event) -> None:
        shown = None
        await replied.wait()
        while True:
            await asyncio.sleep(PROGRESS_EDIT_SECONDS)
            text = progress_text(self._progress)
            if text != shown:
                try:
                    await interaction.edit_original_response(content=text, allowed_mentions=NO_PINGS)
                    shown = text
                except discord.HTTPException:
                    log.debug("progress_edit_failed", exc_info=True)


async def setup(bot: VerbatimBot) -> None:
    await bot.add_cog(AdminCog(bot))
