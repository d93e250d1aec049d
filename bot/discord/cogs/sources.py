"""/sources and /source: what the bot answers from."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.render import (
    CHOICE_NAME_LIMIT,
    CHOICES_MAX,
    EMBED_FIELD_LIMIT,
    NO_PINGS,
    escape,
    shorten,
    source_embed,
    sources_embed,
)
from bot.fuzzy import closest_documents
from bot.source_status import status_detail
from index import DocumentNotFoundError
from index.sources.sync import source_statuses

if TYPE_CHECKING:
    from bot.discord.client import VerbatimBot


class SourcesCog(commands.Cog):
    def __init__(self, bot: VerbatimBot) -> None:
        self.bot = bot

    @app_commands.command(name="sources")
    async def sources(self, interaction: discord.Interaction) -> None:
        """List the documents I answer from, with their chunk counts and indexing times."""
        engine = self.bot.service.engine
        embed = sources_embed(engine.documents(), engine.built_at)
        statuses = await asyncio.to_thread(source_statuses, self.bot.service.config)
        if statuses:
            text = "\n".join(f"• **{escape(s.name)}** {escape(status_detail(s))}" for s in statuses)
            embed.add_field(name="Sources", value=shorten(text, EMBED_FIELD_LIMIT), inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="source")
    @app_commands.describe(name="The document's path, as listed by /sources")
    async def source(self, interaction: discord.Interaction, name: str) -> None:
        """Show one document's sections."""
        # Looked up among indexed documents only: a name is never opened as a path.
        try:
            document = self.bot.service.document(name)
        except DocumentNotFoundError as exc:
            close = closest_documents(name, self.bot.service.documents())
            text = str(exc) + (f" Did you mean {', '.join(code(p) for p in close)}?" if close else "")
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
            return
        await interaction.response.send_message(embed=source_embed(document), ephemeral=True, allowed_mentions=NO_PINGS)

    @source.autocomplete("name")
    async def source_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        needle = current.lower()
        choices = []
        for document in self.bot.service.documents():
            if needle in document.path.lower() or needle in document.title.lower():
                if len(document.path) <= CHOICE_NAME_LIMIT:  # a value longer than 100 is refused
                    choices.append(app_commands.Choice(name=document.path, value=document.path))
            if len(choices) == CHOICES_MAX:
                break
        if not choices:  # nothing contains what was typed: offer what is close to it (a typo)
            for path in closest_documents(current, self.bot.service.documents(), limit=CHOICES_MAX):
                if len(path) <= CHOICE_NAME_LIMIT:
                    choices.append(app_commands.Choice(name=path, value=path))
        return choices


def code(text: str) -> str:
    """Inline code shows its characters as they are; only a backtick would end it early."""
    return "`" + text.replace("`", "'") + "`"


async def setup(bot: VerbatimBot) -> None:
    await bot.add_cog(SourcesCog(bot))
