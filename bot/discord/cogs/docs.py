"""/docs add, remove and list: moderators manage uploaded documents from Discord."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.checks import moderators_only
from bot.discord.render import (
    CHOICE_NAME_LIMIT,
    CHOICES_MAX,
    EMBED_DESCRIPTION_LIMIT,
    NO_PINGS,
    escape,
    report_text,
    shorten,
)
from index.sources.uploads import UPLOADS, check_upload, list_uploads, remove_upload, store_upload

if TYPE_CHECKING:
    from bot.discord.client import VerbatimBot

log = logging.getLogger(__name__)


# Default permissions belong to the group: Discord has none per subcommand.
@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class DocsCog(commands.GroupCog, group_name="docs"):
    """Add, remove and list the documents uploaded from Discord."""

    def __init__(self, bot: VerbatimBot) -> None:
        self.bot = bot
        super().__init__()

    async def _reindex(self, interaction: discord.Interaction, done: str) -> None:
        """Index the uploads at once; the reply says what changed (or why it failed)."""
        try:
            report, seconds = await self.bot.service.reindex(only=UPLOADS)
            text = f"{done}\n{report_text(report, seconds)}"
            log.info("uploads_reindexed", extra={"summary": report.summary})
        except Exception as exc:
            from bot.errors import report_failure

            text = f"{done}\n**Reindex failed**; the previous index is still answering.\n{report_failure(exc, 'reindex_failed')}"
        await interaction.followup.send(
            shorten(text, EMBED_DESCRIPTION_LIMIT), ephemeral=True, allowed_mentions=NO_PINGS
        )

    async def _refuse_if_busy(self, interaction: discord.Interaction) -> bool:
        if self.bot.service.reindexing:
            await interaction.response.send_message(
                "A reindex is running; try again when it is done.", ephemeral=True, allowed_mentions=NO_PINGS
            )
            return True
        return False

    @app_commands.command(name="add")
    @app_commands.describe(file="A .md, .txt, .rst, .html or .pdf document (replaces an upload of the same name)")
    @moderators_only()
    async def add(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        """Add a document to what I answer from, indexed at once."""
        config = self.bot.service.config
        name = check_upload(
            file.filename, file.size, min(config.max_document_bytes, self.bot.settings.max_upload_bytes)
        )
        if await self._refuse_if_busy(interaction):
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await file.read()
        upload = await asyncio.to_thread(store_upload, config, name, data)
        log.info("document_uploaded", extra={"document": upload.name, "bytes": upload.bytes, "by": interaction.user.id})
        await self._reindex(interaction, f"Stored **{escape(upload.name)}** ({upload.bytes} bytes).")

    @app_commands.command(name="remove")
    @app_commands.describe(name="An uploaded document, as listed by /docs list")
    @moderators_only()
    async def remove(self, interaction: discord.Interaction, name: str) -> None:
        """Remove an uploaded document; it is no longer quoted."""
        if await self._refuse_if_busy(interaction):
            return
        upload = await asyncio.to_thread(remove_upload, self.bot.service.config, name)
        await interaction.response.defer(ephemeral=True, thinking=True)
        log.info("document_removed", extra={"document": upload.name, "by": interaction.user.id})
        await self._reindex(interaction, f"Removed **{escape(upload.name)}**.")

    @remove.autocomplete("name")
    @moderators_only()  # a member's autocomplete gets no choices (discord.py runs no command check for it)
    async def upload_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        needle = current.lower()
        uploads = await asyncio.to_thread(list_uploads, self.bot.service.config)
        return [
            app_commands.Choice(name=u.name, value=u.name)
            for u in uploads
            if needle in u.name.lower() and len(u.name) <= CHOICE_NAME_LIMIT
        ][:CHOICES_MAX]

    @app_commands.command(name="list")
    @moderators_only()
    async def list(self, interaction: discord.Interaction) -> None:
        """The documents uploaded from Discord."""
        uploads = await asyncio.to_thread(list_uploads, self.bot.service.config)
        text = "\n".join(f"• {escape(u.name)} ({u.bytes} bytes)" for u in uploads) or "No documents were uploaded."
        embed = discord.Embed(title="Uploaded documents", description=shorten(text, EMBED_DESCRIPTION_LIMIT))
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: VerbatimBot) -> None:
    await bot.add_cog(DocsCog(bot))
