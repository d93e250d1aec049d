"""Reliability through the fake Discord: load during a reindex, Discord's faults, secrets.

Every test here also runs the shared teardown checks of the ``verbatim`` fixture: no
message could ping anyone, and nothing was logged at ERROR unexpectedly.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import threading
import time
import types

import discord.webhook.async_
import pytest

from bot.discord import client, runner
from bot.service import AnswerService
from tests.bot.conftest import (
    CALLBACK,
    CHANNEL_MESSAGES,
    WEBHOOK,
    button_id,
    cited_document,
    embed_of,
    is_ephemeral,
    make_settings,
    quotes_in,
    write_docs,
)
from tests.conftest import HashingEmbedder
from tests.fakediscord.fixtures import FAKE_TOKEN
from tests.hostile import HOSTILE_QUESTIONS

FIGURES = "/tmp/verbatim-reliability-figures.json"


class GatedEmbedder(HashingEmbedder):
    """Document embedding waits for ``release``, so a reindex stays running as long as a test needs."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.building = threading.Event()

    def embed_documents(self, texts, *, batch_size=32):
        self.building.set()
        self.release.wait(timeout=30)
        return super().embed_documents(texts, batch_size=batch_size)


class SlowQueries(HashingEmbedder):
    delay = 0.3

    def embed_query(self, text):
        time.sleep(self.delay)
        return super().embed_query(text)


async def _max_loop_stall(stop: asyncio.Event) -> float:
    worst = 0.0
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.005)
        worst = max(worst, time.perf_counter() - started - 0.005)
    return worst


def _record(name: str, value: object) -> None:
    try:
        with open(FIGURES, encoding="utf-8") as handle:
            figures = json.load(handle)
    except (OSError, ValueError):
        figures = {}
    figures[name] = value
    with open(FIGURES, "w", encoding="utf-8") as handle:
        json.dump(figures, handle, indent=2)


async def _questions_during_a_reindex(h, round_number: int) -> float:
    """One round: a gated /reindex, 50 /ask while it runs, then release. Returns the largest stall."""
    gated = GatedEmbedder()
    h.service.embedder = gated  # the build waits on the gate; queries hash as before
    (h.docs_dir / f"extra{round_number}.md").write_text(
        f"# Extra {round_number}\n\nAlpacas hum when they are curious, round {round_number}.\n", encoding="utf-8"
    )
    stop = asyncio.Event()
    watchdog = asyncio.create_task(_max_loop_stall(stop))
    since = len(h.fake.calls)
    first = await h.run(h.fake.slash_command("reindex", user=h.fake.admin))
    assert is_ephemeral(first)
    await asyncio.to_thread(gated.building.wait, 10)

    # A second reindex while one runs is refused politely.
    second = await h.run(h.fake.slash_command("reindex", user=h.fake.admin))
    assert "already running" in second.json["data"]["content"]

    interactions = [
        h.fake.slash_command("ask", {"question": f"What did the Department of Defense demand? ({n})"})
        for n in range(50)
    ]
    await asyncio.gather(*(h.fake.dispatch_interaction(ix) for ix in interactions))
    answers = await asyncio.gather(*(h.fake.wait_for_answer(ix, timeout=30) for ix in interactions))
    gated.release.set()
    done = await h.fake.wait_for(
        lambda c: c.method == "PATCH" and "Reindex done" in json.dumps(c.json or {}), timeout=30, since=since
    )
    stop.set()
    stall = await watchdog

    assert len(answers) == 50
    for call in answers:
        quotes = quotes_in(embed_of(call)["description"])
        assert quotes and all(q in h.doc_text(cited_document(h, c)) for q, c in quotes)
    assert f"Added (1): extra{round_number}.md" in json.dumps(done.json)
    return stall


@pytest.mark.slow
async def test_fifty_questions_during_a_reindex_are_all_answered_and_the_loop_stays_free(verbatim):
    """Blocking code in the bot would stall every round; a busy machine (or a garbage
    collection in this long-lived test process) only some. So up to three rounds, and the
    best must stay under 100 ms; every round is reported."""
    h = await verbatim()
    embedder = h.service.embedder
    gc.collect()
    gc.freeze()  # as the bot's setup_hook does; this process also holds every earlier test's objects
    stalls = []
    try:
        for round_number in range(3):
            stalls.append(await _questions_during_a_reindex(h, round_number))
            if stalls[-1] < 0.1:
                break
    finally:
        gc.unfreeze()
        h.service.embedder = embedder
    assert (await h.ask("Why do alpacas hum?")).json  # the new index answers
    shown = ", ".join(f"{s * 1000:.1f} ms" for s in stalls)
    print(f"\nlargest event-loop stall with 50 questions during a reindex, per round: {shown}")
    _record("loop_stall_ms_50_questions_during_reindex", [round(s * 1000, 1) for s in stalls])
    assert min(stalls) < 0.1, f"event loop stalled in every round: {shown}"


async def test_a_rate_limited_followup_is_retried_and_sent_once(verbatim):
    h = await verbatim()
    fault = h.fake.rate_limit("POST", WEBHOOK, times=2, retry_after=0.05)
    interaction = h.fake.slash_command("ask", {"question": "Dario Amodei published a letter explaining the stance"})
    answer = await h.run(interaction)
    assert fault.hits == 2
    assert quotes_in(embed_of(answer)["description"])
    delivered = [c for c in h.fake.interaction_calls(interaction) if c.matches("POST", WEBHOOK) and c.ok]
    assert len(delivered) == 1


@pytest.mark.slow
async def test_a_server_error_on_the_followup_is_retried_and_sent_once(verbatim):
    h = await verbatim()
    fault = h.fake.server_error("POST", WEBHOOK, times=1)
    interaction = h.fake.slash_command("ask", {"question": "Dario Amodei published a letter explaining the stance"})
    answer = await h.run(interaction, timeout=15)
    assert fault.hits == 1 and quotes_in(embed_of(answer)["description"])
    delivered = [c for c in h.fake.interaction_calls(interaction) if c.matches("POST", WEBHOOK) and c.ok]
    assert len(delivered) == 1


class _QuickBackoff(types.ModuleType):
    """asyncio as discord.py's webhook code sees it, with its back-off 100 times shorter: it
    retries a followup that meets a server error five times, over 25 s."""

    def __getattr__(self, name):
        return getattr(asyncio, name)

    @staticmethod
    async def sleep(delay, result=None):
        return await asyncio.sleep(delay / 100, result)


async def test_persistent_server_errors_end_in_a_logged_failure_not_a_duplicate(verbatim, monkeypatch, caplog):
    monkeypatch.setattr(discord.webhook.async_, "asyncio", _QuickBackoff("asyncio"))
    caplog.set_level(logging.INFO)
    h = await verbatim()
    h.expect_error("command_failed")
    fault = h.fake.server_error("POST", WEBHOOK, times=50, status=503)
    interaction = h.fake.slash_command("ask", {"question": "Dario Amodei published a letter explaining the stance"})
    await h.fake.dispatch_interaction(interaction)
    # discord.py gives up on the answer; the bot then tries to say so, which fails the same way.
    async with asyncio.timeout(10):
        while not [r for r in caplog.records if r.getMessage() == "error_message_not_delivered"]:
            await asyncio.sleep(0.02)
    assert fault.hits >= 2
    assert not [c for c in h.fake.interaction_calls(interaction) if c.matches("POST", WEBHOOK) and c.ok]
    # The failure is in the log, with its cause, for whoever looks after the bot.
    [record] = [r for r in h.bot_errors if r.getMessage() == "command_failed"]
    assert record.exc_info is not None and "503" in str(record.exc_info[1])


async def test_gateway_reconnect_in_the_middle_of_an_answer(verbatim):
    h = await verbatim(embedder=SlowQueries())
    interaction = h.fake.slash_command("ask", {"question": "Dario Amodei published a letter explaining the stance"})
    await h.fake.dispatch_interaction(interaction)
    await h.fake.wait_for(lambda c: c.matches("POST", CALLBACK), timeout=5)  # deferred, now answering
    await h.fake.force_reconnect()
    answer = await h.fake.wait_for_answer(interaction, timeout=10)
    assert quotes_in(embed_of(answer)["description"])
    assert h.fake.gateway.resume_payloads, "the client resumed rather than re-identifying"
    after = await h.ask("DoD designated Anthropic a national security supply chain risk")
    assert quotes_in(embed_of(after)["description"])


async def test_non_moderators_cannot_reindex_by_any_route(verbatim):
    h = await verbatim(moderator_role_ids=[])
    member = h.fake.member
    for permissions in ("member", "none", None):
        call = await h.run(h.fake.slash_command("reindex", user=member, permissions=permissions))
        assert is_ephemeral(call) and "Only moderators" in call.json["data"]["content"]
    unanswered = await h.run(h.fake.slash_command("unanswered", user=member, permissions="member"))
    assert "Only moderators" in unanswered.json["data"]["content"]
    assert not h.service.reindexing
    assert not [c for c in h.fake.calls if c.method == "PATCH" and "Reindex" in json.dumps(c.json or {})]


async def test_the_token_never_reaches_the_logs(verbatim, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="discord")  # the command line quiets it; other tests run it
    h = await verbatim()
    await h.ask("Dario Amodei published a letter explaining the stance")
    await h.run(h.fake.slash_command("reindex", user=h.fake.admin))
    assert h.bot.http.token == FAKE_TOKEN  # it was used...
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records)
    assert len(caplog.records) > 20 and FAKE_TOKEN not in logged  # ...and never logged
    assert FAKE_TOKEN not in repr(h.settings) and FAKE_TOKEN not in repr(h.bot.settings)


async def test_run_bot_never_logs_the_token(fake_discord, discord_errors, tmp_path, monkeypatch, caplog):
    """``verbatim run`` from settings to a closed connection (run_bot, serve, the bot, discord.py),
    every logger at DEBUG: the token is used, and appears in no log record."""
    fake = fake_discord
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="discord")
    write_docs(tmp_path / "docs")
    settings = make_settings(tmp_path, fake, discord_api_base=fake.api_base, discord_gateway_url=fake.gateway_url)
    monkeypatch.setattr(runner, "make_service", lambda s: AnswerService(s.engine_config(), HashingEmbedder()))
    bots = []

    class QuickBot(client.VerbatimBot):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, guild_ready_timeout=0.05, **kwargs)
            bots.append(self)

    monkeypatch.setattr(client, "VerbatimBot", QuickBot)
    running = asyncio.create_task(asyncio.to_thread(runner.run_bot, settings))  # its own thread and loop
    async with asyncio.timeout(30):
        while not (bots and bots[0].is_ready()):
            assert not running.done(), running.result()
            await asyncio.sleep(0.02)
    ix = await fake.dispatch_interaction(fake.slash_command("ask", {"question": "Dario Amodei published a letter"}))
    assert quotes_in(embed_of(await fake.wait_for_answer(ix, timeout=10))["description"])
    asyncio.run_coroutine_threadsafe(bots[0].close(), bots[0].loop).result(timeout=10)
    await asyncio.wait_for(running, 30)

    assert fake.gateway.identify_count >= 1  # the token was used...
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records)
    assert {"bot.discord.client", "discord.http", "discord.gateway"} <= {r.name for r in caplog.records}
    assert FAKE_TOKEN not in logged  # ...and never logged
    assert discord_errors == []


class ThreadRecordingEmbedder(HashingEmbedder):
    def __init__(self):
        super().__init__()
        self.query_threads = []

    def embed_query(self, text):
        self.query_threads.append(threading.get_ident())
        return super().embed_query(text)


async def test_no_question_is_answered_on_the_event_loop(verbatim, fake_discord):
    """Encoding a question and searching block: every way of asking runs them on a worker thread,
    never on the event loop, where they would hold up every other user. (With a fake embedder
    taking microseconds a stall is unmeasurable, so the thread is checked.)"""
    fake = fake_discord
    help_channel = fake.guild.channel_ids[1]
    embedder = ThreadRecordingEmbedder()
    h = await verbatim(embedder=embedder, auto_answer=True, help_channel_ids=[help_channel])
    loop_thread = threading.get_ident()
    question = "What did the Department of Defense demand from Anthropic?"

    async def check(how, asking):
        before = len(embedder.query_threads)
        result = await asking()
        threads = embedder.query_threads[before:]
        assert threads, f"{how}: the question was never encoded"
        assert loop_thread not in threads, f"{how}: encoded on the event loop"
        return result

    async def posted_after(message):
        since = len(fake.calls)
        await fake.dispatch_message(message)
        return await fake.wait_for(lambda c: c.ok and c.matches("POST", CHANNEL_MESSAGES), since=since)

    answer = await check("/ask", lambda: h.ask(question))
    message = fake.world.messages[int(answer.response["id"])]
    more = fake.component_click(button_id(answer.json, label="More passages"), message)
    await check("More passages", lambda: h.run(more))
    await check("/search", lambda: h.run(fake.slash_command("search", {"query": question})))
    target = await fake.dispatch_message(fake.message_create(question, author=fake.admin))
    await check("Ask the docs", lambda: h.run(fake.message_command("Ask the docs", target)))
    mention = fake.message_create(f"{fake.mention(fake.bot_user)} {question}")
    await check("a mention", lambda: posted_after(mention))
    await check("a help channel", lambda: posted_after(fake.message_create(question, channel_id=help_channel)))


@pytest.mark.parametrize("name", sorted(HOSTILE_QUESTIONS))
async def test_hostile_questions_through_the_bot(verbatim, name):
    h = await verbatim()
    question = HOSTILE_QUESTIONS[name]
    via_mention = h.fake.message_create(f"{h.fake.mention(h.fake.bot_user)} {question}")
    await h.fake.dispatch_message(via_mention)
    reply = await h.fake.wait_for_bot_message(h.fake.channel_id, timeout=10)
    shown = json.dumps(reply)
    assert "Traceback" not in shown
    assert reply.get("embeds") or reply.get("content")
    if question.strip():  # an empty slash option cannot be sent (Discord enforces length >= 1)
        call = await h.ask(question)
        body = json.dumps(call.json)
        assert "Traceback" not in body
        if call.json.get("embeds") or (call.json.get("data") or {}).get("embeds"):
            for quote, citation in quotes_in(embed_of(call)["description"]):
                assert quote in h.doc_text(cited_document(h, citation))
    assert quotes_in(embed_of(await h.ask("Dario Amodei published a letter explaining the stance"))["description"])


# ------------------------------------------------------------------ courtesy calls never sink an answer

DOD = "What did the Department of Defense demand from Anthropic?"
TYPING = "/channels/{channel_id}/typing"


async def test_a_failing_typing_indicator_does_not_stop_a_mention_answer(verbatim) -> None:
    """Discord answers every typing call with 500 (discord.py retries those for ~25 s):
    the quote is posted at once all the same."""
    h = await verbatim()
    fake = h.fake
    fault = fake.server_error("POST", TYPING, times=100, status=500)
    await fake.dispatch_message(fake.message_create(f"{fake.mention(fake.bot_user)} {DOD}"))
    reply = await fake.wait_for(lambda c: c.ok and c.matches("POST", CHANNEL_MESSAGES), timeout=5)
    assert fault.hits >= 1
    assert "embeds" in reply.json and quotes_in(embed_of(reply)["description"]), reply.json
    assert "Something went wrong" not in json.dumps(reply.json)


@pytest.mark.parametrize("status", [403, 429])
async def test_a_refused_typing_indicator_does_not_stop_a_mention_answer(verbatim, status) -> None:
    h = await verbatim()
    fake = h.fake
    if status == 429:
        fake.rate_limit("POST", TYPING, times=100, retry_after=5.0)
    else:
        fake.server_error("POST", TYPING, times=100, status=status)
    await fake.dispatch_message(fake.message_create(f"{fake.mention(fake.bot_user)} {DOD}"))
    reply = await fake.wait_for(lambda c: c.ok and c.matches("POST", CHANNEL_MESSAGES), timeout=5)
    assert quotes_in(embed_of(reply)["description"])


@pytest.mark.parametrize("status", [500, 403])
async def test_a_failing_answered_note_does_not_turn_the_menu_answer_into_an_error(verbatim, status) -> None:
    """ "Ask the docs" posts the answer in the channel, then a private "Answered in the channel."
    note. When the note fails, the user is not told that something went wrong."""
    h = await verbatim()
    fake = h.fake
    target = await fake.dispatch_message(fake.message_create(DOD, author=fake.admin))
    ix = fake.message_command("Ask the docs", target, user=fake.member)
    fault = fake.server_error("POST", WEBHOOK, times=100, status=status)
    await fake.dispatch_interaction(ix)
    reply = await fake.wait_for(lambda c: c.ok and c.matches("POST", CHANNEL_MESSAGES), timeout=5)
    assert quotes_in(embed_of(reply)["description"])
    await fake.wait_for(lambda c: c.fault is not None and c.matches("POST", WEBHOOK), timeout=5)
    fault.remaining = 0
    # Another question, answered: by then any error message for the first would have been sent.
    second = await h.ask("Which company does Sam Altman lead?")
    assert quotes_in(embed_of(second)["description"])
    sent = [json.dumps(c.json) for c in fake.calls if c.method in ("POST", "PATCH")]
    assert not any("Something went wrong" in body for body in sent)


async def test_a_record_that_cannot_be_written_does_not_cost_the_answer(verbatim, tmp_path) -> None:
    """Every question is recorded for /unanswered and /stats; a broken record is not the user's problem."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the database folder should be")
    h = await verbatim(db=blocked / "verbatim.sqlite3")
    answer = await h.ask("How do I bake banana bread?")
    assert embed_of(answer)["description"].startswith("**Not in the documents.**")
