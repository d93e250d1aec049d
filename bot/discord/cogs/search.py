"""/search: paged, private results, with a button to post the current page publicly."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.client import report_error
from bot.discord.render import NO_PINGS, search_embed
from index import Passage

if TYPE_CHECKING:
    from bot.discord.client import VerbatimBot

RESULTS = 15
PER_PAGE = 3


class SearchView(discord.ui.View):
    def __init__(self, query: str, passages: list[Passage], owner_id: int) -> None:
        super().__init__(timeout=10 * 60)
        self.query = query
        self.passages = passages
        self.owner_id = owner_id
        self.page = 0
        self.pages = max(1, -(-len(passages) // PER_PAGE))
        self._sync_buttons()

    def embed(self) -> discord.Embed:
        return search_embed(self.query, self.passages, self.page, PER_PAGE)

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= self.pages - 1
        self.post.disabled = not self.passages

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        self.page = min(max(self.page + step, 0), self.pages - 1)
        self._sync_buttons()
        await interaction.response.edit_message(embed=self.embed(), view=self, allowed_mentions=NO_PINGS)

    @discord.ui.button(label="Previous", emoji="◀️", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button[SearchView]) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next", emoji="▶️", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button[SearchView]) -> None:
        await self._turn(interaction, +1)

    @discord.ui.button(label="Post publicly", style=discord.ButtonStyle.primary)
    async def post(self, interaction: discord.Interaction, button: discord.ui.Button[SearchView]) -> None:
        embed = self.embed()
        embed.set_author(name=f"Shared by {interaction.user.display_name}")
        await interaction.response.send_message(embed=embed, allowed_mentions=NO_PINGS)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[SearchView]
    ) -> None:
        await report_error(interaction, error)


class SearchCog(commands.Cog):
    def __init__(self, bot: VerbatimBot) -> None:
        self.bot = bot

    @app_commands.command(name="search")
    @app_commands.describe(query="Words or a question to look up in the documents")
    async def search(self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 500]) -> None:
        """Look up passages in the documents (only you see the results)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        passages = await self.bot.service.search(query, k=RESULTS)
        view = SearchView(query, passages, interaction.user.id)
        await interaction.followup.send(embed=view.embed(), view=view, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: VerbatimBot) -> None:
    await bot.add_cog(SearchCog(bot))
