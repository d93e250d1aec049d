"""Asking: /ask, the "Ask the docs" message menu, mentions, and auto-answers in help channels."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.citation import citation
from bot.client import report_error, spawn_extra
from bot.cooldown import UserCooldown
from bot.errors import report_failure
from bot.render import EMBED_TITLE_LIMIT, NO_PINGS, THREAD_NAME_LIMIT, answer_embed, quotes_description, shorten
from index import Answer

if TYPE_CHECKING:
    from bot.client import VerbatimBot

log = logging.getLogger(__name__)

MORE_PASSAGES = 5


class AnswerView(discord.ui.View):
    """Buttons under an answer: more passages, and 👍/👎 recorded with the question."""

    def __init__(self, bot: VerbatimBot, answer: Answer, shown: int) -> None:
        super().__init__(timeout=15 * 60)
        self.bot = bot
        self.answer = answer
        self.shown = shown
        self.voted: set[int] = set()
        if answer.abstained:
            self.remove_item(self.more)

    @discord.ui.button(label="More passages", style=discord.ButtonStyle.secondary)
    async def more(self, interaction: discord.Interaction, button: discord.ui.Button[AnswerView]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        passages = await self.bot.service.search(self.answer.question, k=self.shown + MORE_PASSAGES)
        extra = passages[self.shown :]
        if not extra:
            await interaction.followup.send("There are no more passages.", ephemeral=True, allowed_mentions=NO_PINGS)
            return
        description, _ = quotes_description(extra, numbered=self.shown + 1)
        embed = discord.Embed(
            title=shorten(f"More on: {self.answer.question}", EMBED_TITLE_LIMIT), description=description
        )
        await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)

    @discord.ui.button(emoji="👍", style=discord.ButtonStyle.secondary)
    async def helpful(self, interaction: discord.Interaction, button: discord.ui.Button[AnswerView]) -> None:
        await self._vote(interaction, True)

    @discord.ui.button(emoji="👎", style=discord.ButtonStyle.secondary)
    async def unhelpful(self, interaction: discord.Interaction, button: discord.ui.Button[AnswerView]) -> None:
        await self._vote(interaction, False)

    async def _vote(self, interaction: discord.Interaction, helpful: bool) -> None:
        if interaction.user.id in self.voted:
            await interaction.response.send_message(
                "You already voted on this answer.", ephemeral=True, allowed_mentions=NO_PINGS
            )
            return
        self.voted.add(interaction.user.id)
        await asyncio.to_thread(
            self.bot.feedback.vote,
            question=self.answer.question,
            helpful=helpful,
            user_id=interaction.user.id,
            citations=[citation(p) for p in self.answer.passages],
        )
        await interaction.response.send_message("Thanks, noted.", ephemeral=True, allowed_mentions=NO_PINGS)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[AnswerView]
    ) -> None:
        await report_error(interaction, error)


class AskCog(commands.Cog):
    def __init__(self, bot: VerbatimBot) -> None:
        self.bot = bot
        self.cooldown = UserCooldown(bot.settings.cooldown_seconds)
        self.ask_menu = app_commands.ContextMenu(name="Ask the docs", callback=self.ask_about_message)
        self.bot.tree.add_command(self.ask_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.ask_menu.name, type=self.ask_menu.type)

    async def answer(self, question: str, *, user_id: int, guild_id: int | None) -> tuple[discord.Embed, AnswerView]:
        answer = await self.bot.service.ask(question)
        if answer.outcome != "answered":  # a record for /unanswered; a full or read-only disk must not cost the answer
            try:
                await asyncio.to_thread(
                    self.bot.feedback.unanswered, question=answer.question, user_id=user_id, guild_id=guild_id
                )
            except OSError as exc:
                log.warning("unanswered_not_recorded", extra={"error": f"{type(exc).__name__}: {exc}"})
        rendered = answer_embed(answer)
        log.info("answered", extra={"outcome": answer.outcome, "passages": len(rendered.shown)})
        return rendered.embed, AnswerView(self.bot, answer, len(rendered.shown))

    @app_commands.command(name="ask")
    @app_commands.describe(question="Your question; the answer quotes the documents word for word")
    async def ask(self, interaction: discord.Interaction, question: app_commands.Range[str, 1, 1000]) -> None:
        """Ask the documents a question and get verbatim, cited quotes."""
        wait = self.cooldown.retry_after(interaction.user.id)
        if wait:
            await interaction.response.send_message(
                UserCooldown.message(wait), ephemeral=True, allowed_mentions=NO_PINGS
            )
            return
        await interaction.response.defer(thinking=True)
        embed, view = await self.answer(question, user_id=interaction.user.id, guild_id=interaction.guild_id)
        await interaction.followup.send(embed=embed, view=view, allowed_mentions=NO_PINGS)

    async def ask_about_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Answer the chosen message as a question, as a reply to it."""
        if not message.content.strip():
            await interaction.response.send_message(
                "That message has no text to ask about.", ephemeral=True, allowed_mentions=NO_PINGS
            )
            return
        wait = self.cooldown.retry_after(interaction.user.id)
        if wait:
            await interaction.response.send_message(
                UserCooldown.message(wait), ephemeral=True, allowed_mentions=NO_PINGS
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        embed, view = await self.answer(message.content, user_id=interaction.user.id, guild_id=interaction.guild_id)
        try:
            await message.reply(embed=embed, view=view, mention_author=False, allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            # No right to post in that channel: show the answer to the asker alone.
            await interaction.followup.send(embed=embed, view=view, ephemeral=True, allowed_mentions=NO_PINGS)
            return
        spawn_extra(
            self.bot,
            "answered_note",
            interaction.followup.send("Answered in the channel.", ephemeral=True, allowed_mentions=NO_PINGS),
        )

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.bot.user is None:
            return
        if self.bot.user in message.mentions:
            await self._answer_mention(message)
        elif self._is_help_channel(message.channel) and not isinstance(message.channel, discord.Thread):
            await self._answer_in_thread(message)

    def _is_help_channel(self, channel: object) -> bool:
        settings = self.bot.settings
        return settings.auto_answer and getattr(channel, "id", None) in settings.help_channel_ids

    def _question_from(self, message: discord.Message) -> str:
        assert self.bot.user is not None
        return re.sub(rf"<@!?{self.bot.user.id}>", " ", message.content).strip()

    async def _answer_mention(self, message: discord.Message) -> None:
        question = self._question_from(message)
        if not question:
            await message.reply(
                "Ask me a question after the mention, and I will quote the documents.",
                mention_author=False,
                allowed_mentions=NO_PINGS,
            )
            return
        wait = self.cooldown.retry_after(message.author.id)
        if wait:
            await message.reply(UserCooldown.message(wait), mention_author=False, allowed_mentions=NO_PINGS)
            return
        # "Verbatim is typing…" is a courtesy: it runs beside the answer and may fail on its own.
        typing = spawn_extra(self.bot, "typing", message.channel.typing())
        try:
            embed, view = await self.answer(
                question, user_id=message.author.id, guild_id=message.guild.id if message.guild else None
            )
            await message.reply(embed=embed, view=view, mention_author=False, allowed_mentions=NO_PINGS)
        except Exception as exc:  # a listener has no error handler: tell the user, log the rest
            await self._report_listener_error(message, exc)
        finally:
            typing.cancel()

    async def _answer_in_thread(self, message: discord.Message) -> None:
        question = message.content.strip()
        if not question:
            return
        try:
            embed, view = await self.answer(
                question, user_id=message.author.id, guild_id=message.guild.id if message.guild else None
            )
            thread = await message.create_thread(name=shorten(question, THREAD_NAME_LIMIT))
            await thread.send(embed=embed, view=view, allowed_mentions=NO_PINGS)
        except Exception as exc:
            await self._report_listener_error(message, exc)

    @commands.Cog.listener()
    async def on_thread_create(self, thread: discord.Thread) -> None:
        """A new forum post in a help forum is answered in its own thread."""
        if not isinstance(thread.parent, discord.ForumChannel) or not self._is_help_channel(thread.parent):
            return
        try:
            starter = thread.starter_message or await thread.fetch_message(thread.id)
            question = f"{thread.name}\n{starter.content}".strip()
            embed, view = await self.answer(question, user_id=thread.owner_id or 0, guild_id=thread.guild.id)
            await thread.send(embed=embed, view=view, allowed_mentions=NO_PINGS)
        except Exception as exc:
            report_failure(exc, "forum_answer_failed")

    async def _report_listener_error(self, message: discord.Message, error: Exception) -> None:
        text = report_failure(error, "message_answer_failed")
        try:
            await message.reply(text, mention_author=False, allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            log.warning("error_message_not_delivered", exc_info=True)


async def setup(bot: VerbatimBot) -> None:
    await bot.add_cog(AskCog(bot))
