"""Asking: /ask, the "Ask the docs" message menu, mentions, and auto-answers in help channels."""

from __future__ import annotations

import dataclasses
import logging
import re
import sqlite3
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.citation import citation
from bot.community.record import Kind, Via
from bot.discord.checks import is_moderator
from bot.discord.client import report_error, spawn_extra
from bot.discord.cooldown import UserCooldown
from bot.discord.render import (
    EMBED_TITLE_LIMIT,
    NO_PINGS,
    THREAD_NAME_LIMIT,
    answer_embed,
    escape,
    quotes_description,
    shorten,
)
from bot.errors import report_failure
from index import Answer, SectionRef

if TYPE_CHECKING:
    from bot.discord.client import VerbatimBot

log = logging.getLogger(__name__)

MORE_PASSAGES = 5


SECTION_BUTTONS = 3
BUTTON_LABEL_LIMIT = 80  # Discord refuses a longer button label
#: How much of a thread's first question is added to a follow-up for retrieval.
CONTEXT_CHARS = 300
QUESTION_WORDS = frozenset(
    "what when where which who whom whose why how is are was were do does did can could should would will "
    "may might shall has have had any anything".split()
)
ONLY_THE_ASKER = "Only the asker (or a moderator) can dismiss this."


class SectionButton(discord.ui.Button["AnswerView"]):
    """A nearest section, offered when the documents did not answer: shows its opening privately."""

    def __init__(self, suggestion: SectionRef, *, row: int) -> None:
        name = suggestion.section[-1] if suggestion.section else suggestion.document
        super().__init__(label=shorten(name, BUTTON_LABEL_LIMIT), style=discord.ButtonStyle.secondary, row=row)
        self.suggestion = suggestion

    async def callback(self, interaction: discord.Interaction) -> None:
        assert self.view is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        passage = await self.view.bot.service.section_opening(self.suggestion.document, self.suggestion.section)
        description, _ = quotes_description([passage])
        title = " › ".join((self.suggestion.document, *self.suggestion.section))
        embed = discord.Embed(title=shorten(title, EMBED_TITLE_LIMIT), description=description)
        await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)


class AnswerView(discord.ui.View):
    """Buttons under an answer: more passages, 👍/👎 recorded with the question, and (on a
    public answer) Dismiss, for the asker or a moderator."""

    def __init__(
        self,
        bot: VerbatimBot,
        answer: Answer,
        shown: int,
        *,
        asker_id: int,
        question_id: int | None = None,
        public: bool = True,
    ) -> None:
        super().__init__(timeout=15 * 60)
        self.bot = bot
        self.answer = answer
        self.shown = shown
        self.asker_id = asker_id
        self.question_id = question_id
        self.voted: set[int] = set()
        if answer.abstained:
            self.remove_item(self.more)
            for number, suggestion in enumerate(answer.suggestions[:SECTION_BUTTONS]):
                self.add_item(SectionButton(suggestion, row=1 + number // 5))
        if not public:
            self.remove_item(self.dismiss)

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
        await self._feedback(interaction.user.id, "up" if helpful else "down")
        await interaction.response.send_message("Thanks, noted.", ephemeral=True, allowed_mentions=NO_PINGS)
        if not helpful:
            note_for_moderators(self.bot, interaction.guild_id, f"👎 on: {self.answer.question}")

    @discord.ui.button(label="Dismiss", style=discord.ButtonStyle.secondary)
    async def dismiss(self, interaction: discord.Interaction, button: discord.ui.Button[AnswerView]) -> None:
        if interaction.user.id != self.asker_id and not is_moderator(interaction):
            await interaction.response.send_message(ONLY_THE_ASKER, ephemeral=True, allowed_mentions=NO_PINGS)
            return
        await self._feedback(interaction.user.id, "dismiss")
        await interaction.response.send_message("Dismissed.", ephemeral=True, allowed_mentions=NO_PINGS)
        self.stop()
        if interaction.message is not None:
            try:
                await interaction.message.delete()
            except discord.NotFound:
                log.info("dismissed_answer_already_gone")

    async def _feedback(self, user_id: int, kind: Kind) -> None:
        if self.question_id is None:  # the question itself could not be recorded
            return
        try:
            await self.bot.record.add_feedback(self.question_id, user_id=user_id, kind=kind)
        except (sqlite3.Error, OSError) as exc:
            log.warning("feedback_not_recorded", extra={"error": f"{type(exc).__name__}: {exc}"})

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

    async def answer(
        self,
        question: str,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        via: Via,
        public: bool = True,
        context: str | None = None,
    ) -> tuple[discord.Embed, AnswerView]:
        started = time.perf_counter()
        if context:
            # Retrieval sees the thread's first question too ("and on Windows?" alone finds nothing);
            # the answer is titled and recorded with the follow-up the asker wrote.
            combined = f"{shorten(context, CONTEXT_CHARS)}\n{question}"
            answer = dataclasses.replace(await self.bot.service.ask(combined), question=question)
        else:
            answer = await self.bot.service.ask(question)
        latency_ms = (time.perf_counter() - started) * 1000
        rendered = answer_embed(answer)
        # Committed before the answer is posted: an answered question is always in the record.
        # A full or read-only disk must not cost the answer, though.
        question_id = None
        try:
            question_id = await self.bot.record.add_question(
                question=answer.question,
                user_id=user_id,
                guild_id=guild_id,
                channel_id=channel_id,
                via=via,
                outcome=answer.outcome,
                confidence=answer.confidence,
                latency_ms=latency_ms,
                citations=[citation(p) for p in rendered.shown],
            )
        except (sqlite3.Error, OSError) as exc:
            log.warning("question_not_recorded", extra={"error": f"{type(exc).__name__}: {exc}"})
        if answer.outcome != "answered":
            label = "Not in the documents" if answer.outcome == "not_found" else "Not sure"
            note_for_moderators(self.bot, guild_id, f"{label}: {answer.question}", channel_id=channel_id)
        log.info("answered", extra={"outcome": answer.outcome, "passages": len(rendered.shown)})
        view = AnswerView(
            self.bot, answer, len(rendered.shown), asker_id=user_id, question_id=question_id, public=public
        )
        return rendered.embed, view

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
        private = self.bot.configs.private_answers(interaction.guild_id, channel_chain(interaction.channel))
        await interaction.response.defer(thinking=True, ephemeral=private)
        embed, view = await self.answer(
            question,
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            via="command",
            public=not private,
        )
        await interaction.followup.send(embed=embed, view=view, ephemeral=private, allowed_mentions=NO_PINGS)

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
        embed, view = await self.answer(
            message.content,
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            via="menu",
        )
        try:
            await message.reply(embed=embed, view=view, mention_author=False, allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            # No right to post in that channel: show the answer to the asker alone.
            view.remove_item(view.dismiss)
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
        elif isinstance(message.channel, discord.Thread):
            await self._maybe_follow_up(message, message.channel)
        elif self._is_help_channel(message.channel):
            await self._answer_in_thread(message)

    async def _maybe_follow_up(self, message: discord.Message, thread: discord.Thread) -> None:
        """In a thread the bot opened on a question, the asker's next question is a follow-up:
        retrieved with the thread's first question as context, quoted and cited as ever."""
        text = message.content.strip()
        if not looks_like_a_question(text):  # "thanks!" gets no "not in the documents"
            return
        try:
            started = await self.bot.record.thread(thread.id)
        except (sqlite3.Error, OSError) as exc:
            log.warning("thread_not_looked_up", extra={"error": f"{type(exc).__name__}: {exc}"})
            return
        if started is None or started[0] != message.author.id:
            return
        try:
            embed, view = await self.answer(
                text,
                user_id=message.author.id,
                guild_id=thread.guild.id,
                channel_id=thread.id,
                via="followup",
                context=started[1],
            )
            await message.reply(embed=embed, view=view, mention_author=False, allowed_mentions=NO_PINGS)
        except Exception as exc:
            await self._report_listener_error(message, exc)

    async def _opened_thread(self, thread: discord.Thread, *, asker_id: int, question: str) -> None:
        try:
            await self.bot.record.add_thread(thread.id, guild_id=thread.guild.id, asker_id=asker_id, question=question)
        except (sqlite3.Error, OSError) as exc:  # follow-ups in it will not be answered; the answer stands
            log.warning("thread_not_recorded", extra={"error": f"{type(exc).__name__}: {exc}"})

    def _is_help_channel(self, channel: object) -> bool:
        if not self.bot.settings.auto_answer:  # the Message Content intent is off
            return False
        guild = getattr(channel, "guild", None)
        channels = self.bot.configs.auto_answer_channels(guild.id if guild else None)
        return getattr(channel, "id", None) in channels

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
        guild_id = message.guild.id if message.guild else None
        try:
            embed, view = await self.answer(
                question, user_id=message.author.id, guild_id=guild_id, channel_id=message.channel.id, via="mention"
            )
            in_thread = isinstance(message.channel, discord.TextChannel) and self.bot.configs.answer_in_thread(
                guild_id, channel_chain(message.channel)
            )
            if in_thread:
                thread = await message.create_thread(name=shorten(question, THREAD_NAME_LIMIT))
                await self._opened_thread(thread, asker_id=message.author.id, question=question)
                await thread.send(embed=embed, view=view, allowed_mentions=NO_PINGS)
            else:
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
                question,
                user_id=message.author.id,
                guild_id=message.guild.id if message.guild else None,
                channel_id=message.channel.id,
                via="auto",
            )
            thread = await message.create_thread(name=shorten(question, THREAD_NAME_LIMIT))
            await self._opened_thread(thread, asker_id=message.author.id, question=question)
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
            embed, view = await self.answer(
                question, user_id=thread.owner_id or 0, guild_id=thread.guild.id, channel_id=thread.id, via="auto"
            )
            if thread.owner_id:
                await self._opened_thread(thread, asker_id=thread.owner_id, question=question)
            await thread.send(embed=embed, view=view, allowed_mentions=NO_PINGS)
        except Exception as exc:
            report_failure(exc, "forum_answer_failed")

    async def _report_listener_error(self, message: discord.Message, error: Exception) -> None:
        text = report_failure(error, "message_answer_failed")
        try:
            await message.reply(text, mention_author=False, allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            log.warning("error_message_not_delivered", exc_info=True)


def looks_like_a_question(text: str) -> bool:
    """A follow-up worth answering: it asks something (a "?" or a question word first)."""
    words = re.findall(r"[a-z']+", text.lower())
    return "?" in text or (bool(words) and words[0] in QUESTION_WORDS)


def channel_chain(channel: object) -> list[int]:
    """The channel, then the channel a thread belongs to: where a per-channel setting is looked up."""
    chain = [getattr(channel, "id", 0)]
    parent_id = getattr(channel, "parent_id", None) if isinstance(channel, discord.Thread) else None
    if parent_id:
        chain.append(parent_id)
    return [c for c in chain if c]


def note_for_moderators(bot: VerbatimBot, guild_id: int | None, text: str, *, channel_id: int | None = None) -> None:
    """A line in the server's moderator log channel, if it has one; a courtesy, never in the answer's way."""
    log_channel = bot.configs.log_channel(guild_id)
    channel = bot.get_channel(log_channel) if log_channel else None
    if not isinstance(channel, discord.TextChannel | discord.Thread):
        return
    where = f" (in <#{channel_id}>)" if channel_id else ""
    spawn_extra(bot, "moderator_log", channel.send(shorten(escape(text), 1800) + where, allowed_mentions=NO_PINGS))


async def setup(bot: VerbatimBot) -> None:
    await bot.add_cog(AskCog(bot))
