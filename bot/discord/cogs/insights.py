"""What the community asks, for moderators: /unanswered (topics the documents miss) and /stats."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.community.gaps import Gap, Stats, gap_questions, stats, topics, when
from bot.community.record import DAY, RecordStore
from bot.discord.checks import moderators_only
from bot.discord.render import EMBED_DESCRIPTION_LIMIT, NO_PINGS, escape, shorten

if TYPE_CHECKING:
    from bot.discord.client import VerbatimBot

GAPS_SHOWN = 15
QUESTION_SHOWN_CHARS = 150


def gaps_text(found: list[Gap], days: int) -> str:
    if not found:
        return f"No unanswered, unsure or 👎 questions in the last {days} days."
    lines = []
    for gap in found[:GAPS_SHOWN]:
        people = "1 question" if gap.count == 1 else f"{gap.count} questions"
        kinds = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in gap.outcomes)
        lines.append(
            f"**{people}** like “{escape(shorten(gap.label, QUESTION_SHOWN_CHARS))}” ({kinds}; last {when(gap.last_seen)})"
        )
    if len(found) > GAPS_SHOWN:
        lines.append(f"…and {len(found) - GAPS_SHOWN} smaller topics (see `verbatim report`).")
    return shorten("\n".join(lines), EMBED_DESCRIPTION_LIMIT)


def stats_text(figures: Stats, days: int) -> str:
    if not figures.questions:
        return f"No questions in the last {days} days."
    lines = [
        f"**{figures.questions}** questions: {figures.answered} answered ({figures.answered_share:.0%}), "
        f"{figures.not_sure} not sure, {figures.not_found} not in the documents.",
        f"Feedback: {figures.up} 👍, {figures.down} 👎, {figures.dismissed} dismissed.",
    ]
    if figures.median_latency_ms is not None:
        lines.append(f"Median answer time: {figures.median_latency_ms:.0f} ms.")
    if figures.busiest_channels:
        lines.append(
            "Busiest channels: " + ", ".join(f"<#{channel}> ({n})" for channel, n in figures.busiest_channels) + "."
        )
    if figures.slowest:
        lines.append("Slowest answers:")
        lines += [f"• {ms:.0f} ms: {escape(shorten(q, QUESTION_SHOWN_CHARS))}" for q, ms in figures.slowest]
    return shorten("\n".join(lines), EMBED_DESCRIPTION_LIMIT)


class InsightsCog(commands.Cog):
    def __init__(self, bot: VerbatimBot) -> None:
        self.bot = bot

    @app_commands.command(name="unanswered")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @moderators_only()
    @app_commands.describe(days="How far back to look (default 30 days)")
    async def unanswered(self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 3650] = 30) -> None:
        """What people asked that the documents did not answer, grouped into topics."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        rows = await self.bot.record.questions(days=days, guild_id=interaction.guild_id)
        asked = gap_questions(rows)
        found: list[Gap] = []
        if asked.texts:
            vectors = await self.bot.service.embed(list(asked.texts))  # the engine's model, off the loop
            found = await asyncio.to_thread(topics, asked, vectors)
        embed = discord.Embed(title=f"Gaps in the documents, last {days} days", description=gaps_text(found, days))
        await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="stats")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @moderators_only()
    @app_commands.describe(days="How far back to look (default 30 days)")
    async def stats(self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 3650] = 30) -> None:
        """Questions, answered share, 👍/👎, busiest channels and slowest answers."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        since = time.time() - days * DAY
        rows = await self.bot.record.questions(days=days, guild_id=interaction.guild_id)
        feedback = await self.bot.record.call(RecordStore.feedback_counts, since=since, guild_id=interaction.guild_id)
        figures = await asyncio.to_thread(stats, rows, feedback)  # a busy server's month is many rows
        embed = discord.Embed(title=f"Questions, last {days} days", description=stats_text(figures, days))
        await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: VerbatimBot) -> None:
    await bot.add_cog(InsightsCog(bot))
