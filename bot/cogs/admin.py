"""Moderator commands: /reindex in the background."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import report_failure
from bot.render import CHOICES_MAX, EMBED_DESCRIPTION_LIMIT, NO_PINGS, escape, shorten
from bot.service import ReindexProgress
from index import BuildReport
from index.sources.sync import check_source_name

if TYPE_CHECKING:
    from bot.client import VerbatimBot

log = logging.getLogger(__name__)

PROGRESS_EDIT_SECONDS = 2.0  # edits of the progress message, well inside rate limits


def is_moderator(interaction: discord.Interaction) -> bool:
    """Manage Server, or one of the configured moderator roles. Checked in code as well
    as by default permissions, which a server can override."""
    user = interaction.user
    if not isinstance(user, discord.Member):
        return False
    if user.guild_permissions.manage_guild:
        return True
    allowed = interaction.client.configs.moderator_roles(interaction.guild_id)  # type: ignore[attr-defined]
    return any(role.id in allowed for role in user.roles)


def moderators_only():  # type: ignore[no-untyped-def]
    def predicate(interaction: discord.Interaction) -> bool:
        if not is_moderator(interaction):
            raise app_commands.CheckFailure("Only moderators can do that.")
        return True

    return app_commands.check(predicate)


def report_text(report: BuildReport, seconds: float) -> str:
    lines = [f"**Reindex done** in {seconds:.1f} s: {report.chunks} chunks."]
    lines += [f"Synced {escape(line)}" for line in report.fetches]
    lines += [f"**Fetch failed**: {escape(line)}" for line in report.failed_fetches]
    for label, names in (("Added", report.added), ("Changed", report.changed), ("Removed", report.removed)):
        if names:
            shown = ", ".join(escape(n) for n in names[:10]) + (
                f" and {len(names) - 10} more" if len(names) > 10 else ""
            )
            lines.append(f"{label} ({len(names)}): {shown}")
    lines.append(f"Unchanged: {len(report.unchanged)}")
    if report.skipped:
        lines.append(
            f"Skipped ({len(report.skipped)}): "
            + "; ".join(f"{escape(s.path)} ({escape(s.reason)})" for s in report.skipped[:5])
        )
    return shorten("\n".join(lines), EMBED_DESCRIPTION_LIMIT)


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
