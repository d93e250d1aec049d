"""/config: where the bot speaks in this server, and how, set by its moderators.

Each change is written to the record first, then to the in-memory copy the listeners read,
so it takes effect with the next message and survives a restart.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.checks import moderators_only
from bot.discord.render import EMBED_DESCRIPTION_LIMIT, NO_PINGS, shorten
from bot.server_config import AUTO_ANSWER, LOG_CHANNEL, MODERATOR_ROLES, PRIVATE, THREADS

if TYPE_CHECKING:
    from bot.discord.client import VerbatimBot

log = logging.getLogger(__name__)


def _channels(ids: set[int]) -> str:
    return ", ".join(f"<#{c}>" for c in sorted(ids)) or "none"


class ConfigCog(commands.Cog):
    config = app_commands.Group(
        name="config",
        description="Where and how I answer in this server (moderators).",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: VerbatimBot) -> None:
        self.bot = bot

    async def _set(self, interaction: discord.Interaction, key: str, value: Any, *, channel_id: int = 0) -> None:
        assert interaction.guild_id is not None  # guild_only
        await self.bot.record.set_setting(interaction.guild_id, key, value, channel_id=channel_id)
        self.bot.configs.put(interaction.guild_id, key, value, channel_id=channel_id)
        log.info("config_changed", extra={"guild": interaction.guild_id, "key": key, "channel": channel_id})

    async def _done(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @config.command(name="show")
    @moderators_only()
    async def show(self, interaction: discord.Interaction) -> None:
        """Show this server's settings and each channel's own."""
        configs, guild = self.bot.configs, interaction.guild_id
        log_channel = configs.log_channel(guild)
        lines = [
            f"**Auto-answer** in: {_channels(configs.auto_answer_channels(guild))}"
            + ("" if self.bot.settings.auto_answer else " (off: VERBATIM_AUTO_ANSWER is false)"),
            f"**Answers** (/ask): {'private' if configs.private_answers(guild, []) else 'public'}",
            f"**Answer mentions in a thread**: {'yes' if configs.answer_in_thread(guild, []) else 'no'}",
            f"**Moderator log channel**: {f'<#{log_channel}>' if log_channel else 'none'}",
            "**Moderator roles** (besides Manage Server): "
            + (", ".join(f"<@&{r}>" for r in sorted(configs.moderator_roles(guild))) or "none"),
        ]
        per_channel = [(c, k, v) for c, k, v in configs.overrides(guild or 0) if c]
        if per_channel:
            lines.append("**Per channel**:")
            for channel, key, value in per_channel:
                shown = ("private" if value else "public") if key == PRIVATE else ("thread" if value else "no thread")
                lines.append(f"• <#{channel}>: {shown}")
        embed = discord.Embed(
            title="Settings in this server", description=shorten("\n".join(lines), EMBED_DESCRIPTION_LIMIT)
        )
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)

    @config.command(name="auto-answer")
    @moderators_only()
    @app_commands.describe(channel="A text channel or forum", enabled="Answer its new posts (true) or stop (false)")
    async def auto_answer(
        self, interaction: discord.Interaction, channel: discord.TextChannel | discord.ForumChannel, enabled: bool
    ) -> None:
        """Answer every new post in a channel or forum, or stop."""
        channels = self.bot.configs.auto_answer_channels(interaction.guild_id)
        channels = channels | {channel.id} if enabled else channels - {channel.id}
        await self._set(interaction, AUTO_ANSWER, sorted(channels))
        await self._done(interaction, f"Auto-answer in: {_channels(channels)}.")

    @config.command(name="answers")
    @moderators_only()
    @app_commands.describe(visibility="Public answers, or seen by the asker alone", channel="Only in this channel")
    async def answers(
        self,
        interaction: discord.Interaction,
        visibility: Literal["public", "private"],
        channel: discord.TextChannel | None = None,
    ) -> None:
        """Answer /ask publicly or privately, in the whole server or one channel."""
        await self._set(interaction, PRIVATE, visibility == "private", channel_id=channel.id if channel else 0)
        where = f"in <#{channel.id}>" if channel else "in this server"
        await self._done(interaction, f"/ask answers are {visibility} {where}.")

    @config.command(name="threads")
    @moderators_only()
    @app_commands.describe(enabled="Open a thread for each answer to a mention", channel="Only in this channel")
    async def threads(
        self, interaction: discord.Interaction, enabled: bool, channel: discord.TextChannel | None = None
    ) -> None:
        """Answer mentions in a new thread on the question, or as a reply."""
        await self._set(interaction, THREADS, enabled, channel_id=channel.id if channel else 0)
        where = f"in <#{channel.id}>" if channel else "in this server"
        await self._done(interaction, f"Mentions are answered {'in a thread' if enabled else 'as a reply'} {where}.")

    @config.command(name="log-channel")
    @moderators_only()
    @app_commands.describe(channel="Where unanswered and 👎 questions are noted; leave out to stop")
    async def log_channel(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
        """Note each unanswered or 👎 question in a moderators' channel."""
        await self._set(interaction, LOG_CHANNEL, channel.id if channel else 0)
        await self._done(interaction, f"Moderator log: {f'<#{channel.id}>' if channel else 'off'}.")

    @config.command(name="moderator-role")
    @moderators_only()
    @app_commands.describe(role="A role", enabled="May use the moderator commands (true) or not (false)")
    async def moderator_role(self, interaction: discord.Interaction, role: discord.Role, enabled: bool) -> None:
        """Let a role use /reindex, /unanswered, /stats, /config and Dismiss, or stop."""
        roles = self.bot.configs.moderator_roles(interaction.guild_id)
        roles = roles | {role.id} if enabled else roles - {role.id}
        await self._set(interaction, MODERATOR_ROLES, sorted(roles))
        shown = ", ".join(f"<@&{r}>" for r in sorted(roles)) or "none"
        await self._done(interaction, f"Moderator roles: {shown}.")


async def setup(bot: VerbatimBot) -> None:
    await bot.add_cog(ConfigCog(bot))
