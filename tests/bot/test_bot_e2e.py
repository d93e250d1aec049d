"""The real bot, end to end, against the fake Discord (fake embedder, so fast).

Every test asserts the REST payloads the bot sent; the ``verbatim`` fixture also checks, at
teardown, that no message could ping anyone and that nothing was logged at ERROR.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.cli.chat import reply_to
from bot.discord.render import unescape
from index import InvalidQuestionError
from tests.audit import files_opened
from tests.bot.conftest import (
    CALLBACK,
    CHANNEL_MESSAGES,
    EPHEMERAL,
    NOTICES,
    NOTICES_NAME,
    SEED_NAME,
    WEBHOOK,
    Harness,
    StartBot,
    button_id,
    buttons,
    embed_of,
    is_ephemeral,
    message_body,
    message_sending,
    ping_problems,
    quotes_in,
)
from tests.conftest import HashingEmbedder
from tests.fakediscord import PERMISSIONS_MEMBER, FakeDiscord
from tests.fakediscord import payloads as fp

DOD_QUESTION = "What did the Department of Defense demand from Anthropic?"
GUILD_COMMANDS = "/applications/{application_id}/guilds/{guild_id}/commands"
GLOBAL_COMMANDS = "/applications/{application_id}/commands"
MANAGE_GUILD = "32"


def stored(fake: FakeDiscord, call: Any) -> dict[str, Any]:
    """The message as Discord now holds it (after any edits)."""
    response = call.response
    message_id = response["id"] if "id" in response else response["resource"]["message"]["id"]
    return fake.world.messages[int(message_id)]


def assert_verbatim_quotes(
    h: Harness, description: str, question: str, *, limit: int | None = None
) -> list[tuple[str, str]]:
    """Each quote, un-escaped, is exactly ``document_text[start:end]`` of the engine's passage,
    and is followed by its citation."""
    quotes = quotes_in(description)
    answer = h.service.engine.ask(question)
    passages = answer.passages[: limit or h.settings.top_k]
    assert quotes, description
    assert [q for q, _ in quotes] == [p.text for p in passages]
    assert [c for _, c in quotes] == [p.citation for p in passages]
    for passage in passages:
        assert h.doc_text(passage.document)[passage.start : passage.end] == passage.text
    return quotes


# --------------------------------------------------------------------------------- 1. startup


async def test_startup_syncs_every_command_to_the_dev_guild_at_once(verbatim: StartBot) -> None:
    h = await verbatim()
    fake = h.fake
    [sync] = fake.calls_to("PUT", GUILD_COMMANDS)
    assert sync.ok and sync.path.endswith(f"/guilds/{fake.guild_id}/commands")
    assert fake.calls_to("PUT", GLOBAL_COMMANDS) == []
    # Synced during setup_hook, before the gateway connection: the commands exist when the bot is ready.
    assert fake.calls.index(sync) < 3
    commands = {(c["name"], c.get("type", 1)): c for c in sync.json}
    assert set(commands) == {
        ("ask", 1),
        ("search", 1),
        ("sources", 1),
        ("source", 1),
        ("reindex", 1),
        ("unanswered", 1),
        ("stats", 1),
        ("config", 1),
        ("docs", 1),
        ("Ask the docs", 3),
    }
    for name in ("reindex", "unanswered", "stats", "config", "docs"):
        command = commands[(name, 1)]
        assert str(command["default_member_permissions"]) == MANAGE_GUILD
        assert command.get("dm_permission") is False or command.get("contexts") == [0]
    for name in ("ask", "search", "sources", "source"):
        assert commands[(name, 1)]["default_member_permissions"] is None
        assert commands[(name, 1)]["description"]  # the docstring is the description
    assert [o["name"] for o in commands[("ask", 1)]["options"]] == ["question"]
    assert commands[("source", 1)]["options"][0]["autocomplete"] is True


# --------------------------------------------------------------------------------- 2. /ask and its buttons


async def test_ask_defers_then_quotes_verbatim_with_citations_and_buttons(verbatim: StartBot) -> None:
    h = await verbatim()
    fake = h.fake
    ix = fake.slash_command("ask", {"question": DOD_QUESTION})
    answer = await h.run(ix)

    defer, followup = fake.interaction_calls(ix)
    assert defer.route == CALLBACK and defer.json == {"type": 5}
    assert followup is answer and answer.route == WEBHOOK and not is_ephemeral(answer)
    body = answer.json
    assert body["allowed_mentions"] == {"parse": []}
    embed = embed_of(answer)
    assert embed["title"] == DOD_QUESTION
    assert embed["description"].startswith("> ")
    quotes = assert_verbatim_quotes(h, embed["description"], DOD_QUESTION)
    assert any("remove all safety guardrails" in q for q, _ in quotes)
    assert all(c.startswith(SEED_NAME + ", line") for _, c in quotes)
    assert "— anthropic\\-dod\\-standoff.txt, line " in embed["description"]  # the citation is escaped too
    assert h.service.engine.built_at and embed["footer"]["text"].endswith(f"Index built {h.service.engine.built_at}")
    assert [b.get("label") or b["emoji"]["name"] for b in buttons(body)] == ["More passages", "👍", "👎", "Dismiss"]
    # What the asker sees: the "thinking" message replaced by the public answer.
    message = stored(fake, answer)
    assert message["embeds"][0]["description"] == embed["description"] and not message["flags"] & EPHEMERAL

    # "More passages": further, distinct passages, only for the clicker.
    more_ix = fake.component_click(button_id(body, label="More passages"), message)
    more = await h.run(more_ix)
    assert fake.interaction_calls(more_ix)[0].json == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert is_ephemeral(more) and stored(fake, more)["flags"] & EPHEMERAL
    more_embed = embed_of(more)
    extra = quotes_in(more_embed["description"])
    assert extra and more_embed["description"].startswith(f"**{len(quotes) + 1}.**")
    shown = [q for q, _ in quotes]
    assert all(q not in shown for q, _ in extra) and len({q for q, _ in extra}) == len(extra)
    search = h.service.engine.search(DOD_QUESTION, k=len(quotes) + 5)
    assert [q for q, _ in extra] == [p.text for p in search[len(quotes) :]][: len(extra)]
    for text, _ in extra:
        assert text in h.doc_text(SEED_NAME) or text in h.doc_text(NOTICES_NAME)

    # 👍 is recorded with the question and citations, and acknowledged privately.
    up = await h.run(fake.component_click(button_id(body, emoji="👍"), message))
    assert up.json["type"] == 4 and is_ephemeral(up) and up.json["data"]["content"] == "Thanks, noted."
    [vote] = h.feedback()
    assert vote["kind"] == "up" and vote["question"] == DOD_QUESTION
    assert vote["user_id"] == int(fake.member["id"]) and json.loads(vote["citations"]) == [c for _, c in quotes]

    # Voting again (either way) is refused politely and not recorded.
    for emoji in ("👍", "👎"):
        again = await h.run(fake.component_click(button_id(body, emoji=emoji), message))
        assert is_ephemeral(again) and "already voted" in again.json["data"]["content"]
    assert len(h.feedback()) == 1
    # Another user's 👎 counts.
    down = await h.run(fake.component_click(button_id(body, emoji="👎"), message, user=fake.admin))
    assert down.json["data"]["content"] == "Thanks, noted."
    assert [(r["kind"], r["user_id"]) for r in h.feedback()] == [
        ("up", int(fake.member["id"])),
        ("down", int(fake.admin["id"])),
    ]
    assert not h.settings.feedback_file.exists()  # the old JSON-lines file is no longer written


# --------------------------------------------------------------------------------- 3. abstaining


async def test_unrelated_question_is_not_in_the_documents_and_listed_by_unanswered(verbatim: StartBot) -> None:
    h = await verbatim()
    fake = h.fake
    question = "How do I bake banana bread?"
    answer = await h.ask(question)
    embed = embed_of(answer)
    assert embed["description"].startswith("**Not in the documents.**")
    assert "Nearest sections:" in embed["description"]
    suggestions = [unescape(line[2:]) for line in embed["description"].splitlines() if line.startswith("• ")]
    assert suggestions and all(s.split(" › ")[0].split(" (line")[0] in (SEED_NAME, NOTICES_NAME) for s in suggestions)
    assert quotes_in(embed["description"]) == []
    # No "More passages"; instead the nearest sections, each a button showing its opening privately.
    answer_ = h.service.engine.ask(question)
    sections = [s.section[-1] if s.section else s.document for s in answer_.suggestions[:3]]
    labels = [b.get("label") or b["emoji"]["name"] for b in buttons(answer.json)]
    assert sections and labels == ["👍", "👎", "Dismiss", *sections]
    chosen = answer_.suggestions[0]
    shown = await h.run(fake.component_click(button_id(answer.json, label=sections[0]), stored(fake, answer)))
    assert is_ephemeral(shown)
    section_embed = embed_of(shown)
    assert section_embed["title"] == " › ".join((chosen.document, *chosen.section))
    [(text, cited)] = quotes_in(section_embed["description"])
    opening = h.service.engine.section_opening(chosen.document, chosen.section)
    assert text == opening.text == h.doc_text(chosen.document)[opening.start : opening.end]
    assert cited == opening.citation and (opening.document, opening.section) == (chosen.document, chosen.section)
    [record] = h.questions()
    assert record["question"] == question and record["user_id"] == int(fake.member["id"])
    assert record["guild_id"] == fake.guild_id and record["outcome"] == "not_found" and record["via"] == "command"

    listing = await h.run(fake.slash_command("unanswered", user=fake.admin))
    assert listing.route == WEBHOOK and is_ephemeral(listing)
    listed = unescape(embed_of(listing)["description"])
    assert listed.startswith(f"**1 question** like “{question}” (1 not found; last ")


# --------------------------------------------------------------------------------- 4. pings and Markdown in documents


async def test_quoted_mentions_never_ping_and_show_literally(verbatim: StartBot) -> None:
    h = await verbatim()
    question = "Who does the keeper ping in a llama emergency?"
    answer = await h.ask(question)
    body = answer.json
    assert body["allowed_mentions"] == {"parse": []}  # no @everyone, roles or users, whatever the text says
    description = embed_of(answer)["description"]
    quotes = assert_verbatim_quotes(h, description, question)
    sentence = next(q for q, _ in quotes if "@everyone" in q)
    assert "<@123>" in sentence and "<@&456>" in sentence and sentence in NOTICES
    # Shown escaped, so Discord renders the characters instead of a mention.
    assert "\\@everyone" in description and "\\<\\@123\\>" in description and "\\<\\@&456\\>" in description
    assert re.search(r"(?<!\\)[<@]", description) is None
    assert "— notices.md › Notices › Llama emergencies" in unescape(description)


async def test_markdown_characters_in_quotes_are_escaped_and_round_trip(verbatim: StartBot) -> None:
    h = await verbatim()
    question = "How are llama config files named and which command feeds every llama?"
    answer = await h.ask(question)
    description = embed_of(answer)["description"]
    quotes = assert_verbatim_quotes(h, description, question)
    sentence = next(q for q, _ in quotes if "llama_config_file.yaml" in q)
    assert "`llama --feed *`" in sentence and "*bold*" in sentence and "__underlined__" in sentence
    assert "llama\\_config\\_file.yaml" in description and "\\`llama \\-\\-feed \\*\\`" in description
    assert "\\*bold\\*" in description and "\\_\\_underlined\\_\\_" in description
    assert re.search(r"(?<!\\)[*_`]", description.replace("**", "")) is None


# --------------------------------------------------------------------------------- 5. /search


async def test_search_is_private_paged_and_can_be_posted(verbatim: StartBot) -> None:
    h = await verbatim()
    fake = h.fake
    ix = fake.slash_command("search", {"query": "Anthropic Department of Defense"})
    first = await h.run(ix)
    assert fake.interaction_calls(ix)[0].json == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert is_ephemeral(first) and stored(fake, first)["flags"] & EPHEMERAL
    footer = embed_of(first)["footer"]["text"]
    pages = int(re.match(r"Page 1 of (\d+) · \d+ passages", footer).group(1))  # type: ignore[union-attr]
    assert pages >= 2
    state = {b["label"]: b.get("disabled", False) for b in buttons(first.json)}
    assert state == {"Previous": True, "Next": False, "Post publicly": False}
    assert embed_of(first)["description"].startswith("**1.**\n> ")
    message = stored(fake, first)

    turned = await h.run(fake.component_click(button_id(message, label="Next"), message))
    assert turned.route == CALLBACK and turned.json["type"] == 7
    page_two = turned.json["data"]["embeds"][0]
    assert page_two["footer"]["text"].startswith(f"Page 2 of {pages}")
    assert (
        page_two["description"].startswith("**4.**\n> ") and page_two["description"] != embed_of(first)["description"]
    )
    assert {b["label"]: b.get("disabled", False) for b in buttons(turned.json["data"])}["Previous"] is False
    assert stored(fake, first)["embeds"][0]["footer"]["text"].startswith("Page 2")  # the message was edited

    back = await h.run(fake.component_click(button_id(message, label="Previous"), message))
    assert back.json["type"] == 7 and back.json["data"]["embeds"][0]["footer"]["text"].startswith("Page 1")
    assert {b["label"]: b.get("disabled", False) for b in buttons(back.json["data"])}["Previous"] is True

    posted = await h.run(fake.component_click(button_id(message, label="Post publicly"), message, user=fake.member))
    assert posted.json["type"] == 4 and not is_ephemeral(posted)
    shared = embed_of(posted)
    assert shared["author"]["name"] == "Shared by bob" and shared["footer"]["text"].startswith("Page 1")
    assert not stored(fake, posted)["flags"] & EPHEMERAL
    for text, _ in quotes_in(shared["description"]):
        assert text in h.doc_text(SEED_NAME) or text in h.doc_text(NOTICES_NAME)


# --------------------------------------------------------------------------------- 6. /sources and /source


async def test_sources_lists_documents_with_chunk_counts(verbatim: StartBot) -> None:
    h = await verbatim()
    answer = await h.run(h.fake.slash_command("sources"))
    assert answer.json["type"] == 4 and is_ephemeral(answer)
    embed = embed_of(answer)
    assert embed["title"] == "2 documents"
    lines = unescape(embed["description"]).splitlines()
    for document in h.service.documents():
        assert any(line.startswith(f"• **{document.path}**: {document.chunks} chunks") for line in lines)
    assert {d.path for d in h.service.documents()} == {SEED_NAME, NOTICES_NAME}


async def test_source_autocomplete_is_filtered_and_capped_at_25(verbatim: StartBot, tmp_path: Path) -> None:
    extra = tmp_path / "docs" / "more"
    extra.mkdir(parents=True)
    for n in range(30):
        (extra / f"extra-{n:02}.txt").write_text(f"Extra note number {n} about alpacas.\n", encoding="utf-8")
    h = await verbatim()
    fake = h.fake

    async def choices(typed: str) -> list[str]:
        answer = await h.run(fake.autocomplete("source", {"name": typed}, focused="name"))
        assert answer.json["type"] == 8
        return [c["value"] for c in answer.json["data"]["choices"]]

    assert len(await choices("")) == 25
    assert len(found := await choices("EXTRA-1")) == 10 and all("extra-1" in c for c in found)
    assert await choices("notic") == [NOTICES_NAME]
    assert await choices("no such thing") == []
    assert await choices("notcies") == [NOTICES_NAME]  # a typo: nothing contains it, the closest is offered

    typo = await h.run(fake.slash_command("source", {"name": "notcies.md"}))
    assert typo.json["data"]["content"] == (
        "No document named 'notcies.md' is indexed. See the list with /sources. Did you mean `notices.md`?"
    )

    shown = await h.run(fake.slash_command("source", {"name": NOTICES_NAME}))
    embed = embed_of(shown)
    assert is_ephemeral(shown) and embed["title"] == "Notices"
    assert "Notices › Llama emergencies" in unescape(embed["fields"][0]["value"])


async def test_source_autocomplete_offers_only_names_discord_accepts(verbatim: StartBot, tmp_path: Path) -> None:
    """Discord refuses a whole autocomplete answer if one choice is over 100 characters."""
    docs = tmp_path / "docs"
    docs.mkdir()
    longest = "a" * 96 + ".txt"  # 100 characters: allowed
    too_long = "b" * 97 + ".txt"  # 101
    for name in (longest, too_long):
        (docs / name).write_text(f"Alpaca note {name[0]}: alpacas hum.\n", encoding="utf-8")
    h = await verbatim()
    answer = await h.run(h.fake.autocomplete("source", {"name": ""}, focused="name"))
    choices = answer.json["data"]["choices"]
    assert {c["value"] for c in choices} == {SEED_NAME, NOTICES_NAME, longest}
    assert all(1 <= len(c["name"]) <= 100 and 1 <= len(c["value"]) <= 100 for c in choices)
    # Not offered, but still indexed and shown to whoever types its name.
    shown = await h.run(h.fake.slash_command("source", {"name": too_long}))
    assert embed_of(shown)["title"] and "No document" not in json.dumps(shown.json)


# Names that lead out of the documents folder, to files that exist ({secret} is next to it).
ESCAPING_NAMES = [
    "../secret.txt",
    "{secret}",
    "../docs/../secret.txt",
    "/etc/passwd",
    "../../../../../../../../etc/passwd",
    "../../etc/passwd",
    "nope.txt",
    f"../{SEED_NAME}",
]


@pytest.mark.parametrize("name", ESCAPING_NAMES)
async def test_source_never_opens_a_file_outside_the_documents(verbatim: StartBot, tmp_path: Path, name: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("The launch code is 0000.\n", encoding="utf-8")
    name = name.format(secret=secret)
    h = await verbatim()
    with files_opened() as opened:
        (h.docs_dir / SEED_NAME).read_bytes()  # the spy sees pathlib's reads (and every other route)
        answer = await h.run(h.fake.slash_command("source", {"name": name}))
    assert opened[0] == str(h.docs_dir / SEED_NAME)

    assert answer.json["type"] == 4 and is_ephemeral(answer)
    content = answer.json["data"]["content"]
    refusal = f"No document named {name!r} is indexed. See the list with /sources."
    # "Did you mean" names an indexed document, never the file outside.
    assert content in (refusal, f"{refusal} Did you mean `{SEED_NAME}`?") and len(content) < 250
    assert "Traceback" not in content and "embeds" not in answer.json["data"] and "0000" not in json.dumps(answer.json)
    outside = {secret.resolve(), Path("/etc/passwd").resolve()}
    assert [p for p in opened if Path(p).resolve() in outside] == []


# --------------------------------------------------------------------------------- pings: each safeguard alone


async def test_every_reply_forbids_pings_without_the_bot_default(verbatim: StartBot, fake_discord: FakeDiscord) -> None:
    """Each send passes ``allowed_mentions`` itself: with the bot-wide default removed, no
    message of any command may ping (checked on every call at teardown, and here)."""
    fake = fake_discord
    help_channel = fake.guild.channel_ids[1]
    h = await verbatim(auto_answer=True, help_channel_ids=[help_channel])
    h.bot.allowed_mentions = None
    question = "Who does the keeper ping in a llama emergency?"

    answer = await h.ask(question)
    message = stored(fake, answer)
    await h.run(fake.component_click(button_id(answer.json, label="More passages"), message))
    await h.run(fake.component_click(button_id(answer.json, emoji="👍"), message))
    await h.run(fake.component_click(button_id(answer.json, emoji="👍"), message))  # already voted
    await h.ask("How do I bake banana bread?")  # not in the documents
    found = await h.run(fake.slash_command("search", {"query": "llama emergency @everyone"}))
    results = stored(fake, found)
    await h.run(fake.component_click(button_id(results, label="Next"), results))
    await h.run(fake.component_click(button_id(results, label="Post publicly"), results))
    await h.run(fake.slash_command("sources"))
    await h.run(fake.slash_command("source", {"name": NOTICES_NAME}))
    await h.run(fake.slash_command("source", {"name": "@everyone.md"}))
    target = await fake.dispatch_message(fake.message_create(question, author=fake.admin))
    await h.run(fake.message_command("Ask the docs", target))
    since = len(fake.calls)
    await fake.dispatch_message(fake.message_create(f"{fake.mention(fake.bot_user)} {question}"))
    await fake.wait_for(lambda c: c.ok and c.matches("POST", CHANNEL_MESSAGES), since=since)
    since = len(fake.calls)
    await fake.dispatch_message(fake.message_create(question, channel_id=help_channel))
    await fake.wait_for(lambda c: c.ok and c.matches("POST", CHANNEL_MESSAGES), since=since)
    ix = fake.slash_command("reindex", user=fake.admin)
    await h.run(ix)
    await fake.wait_for(lambda c: c.ok and "Reindex done" in json.dumps(c.json or {}), timeout=15)
    await h.run(fake.slash_command("unanswered", user=fake.admin))
    # The record's commands and buttons (issue 10): /stats, /config, a section button, Dismiss,
    # a note in the moderator log channel, and a follow-up in the bot's thread.
    await h.run(fake.slash_command("stats", user=fake.admin))
    await h.run(fake.slash_command("config log-channel", {"channel": fake.channel_id}, user=fake.admin))
    await h.run(fake.slash_command("config show", user=fake.admin))
    since = len(fake.calls)
    refused = await h.ask("How do I bake banana bread? @everyone")
    await fake.wait_for(lambda c: c.ok and c.path == f"/channels/{fake.channel_id}/messages", since=since)
    section = next(b for b in buttons(refused.json) if b.get("label") not in (None, "Dismiss"))
    await h.run(fake.component_click(section["custom_id"], stored(fake, refused)))
    await h.run(fake.component_click(button_id(refused.json, label="Dismiss"), stored(fake, refused), user=fake.admin))
    threads = [c for c in fake.calls_to("POST", "/channels/{c}/messages/{m}/threads") if c.ok]
    since = len(fake.calls)
    await fake.dispatch_message(
        fake.message_create(f"And who pings {question}", channel_id=int(threads[0].response["id"]))
    )
    await fake.wait_for(lambda c: c.ok and c.matches("POST", CHANNEL_MESSAGES), since=since)

    assert len([c for c in fake.calls if message_sending(c)]) >= 25
    assert ping_problems(fake) == []


async def test_a_message_sent_without_allowed_mentions_still_pings_nobody(verbatim: StartBot) -> None:
    """The bot-wide default forbids pings on its own: code that forgets ``allowed_mentions``
    (a new command, a library helper) pings nobody either."""
    h = await verbatim()
    channel = h.bot.get_channel(h.fake.channel_id)
    assert isinstance(channel, discord.TextChannel)
    await channel.send("@everyone <@123> <@&456> the llamas are loose")
    await channel.send(embed=discord.Embed(description="@here"))
    posted = [c for c in h.fake.calls_to("POST", CHANNEL_MESSAGES) if c.ok]
    assert [c.json.get("allowed_mentions") for c in posted] == [{"parse": []}, {"parse": []}]


# --------------------------------------------------------------------------------- 7. "Ask the docs"


async def test_ask_the_docs_replies_to_the_message_and_confirms_privately(verbatim: StartBot) -> None:
    h = await verbatim()
    fake = h.fake
    target = await fake.dispatch_message(fake.message_create(DOD_QUESTION, author=fake.admin))
    ix = fake.message_command("Ask the docs", target, user=fake.member)
    confirmation = await h.run(ix)

    assert fake.interaction_calls(ix)[0].json == {"type": 5, "data": {"flags": EPHEMERAL}}
    [reply] = [c for c in fake.calls_to("POST", CHANNEL_MESSAGES) if c.ok]
    body = reply.json
    assert body["message_reference"]["message_id"] == int(target["id"])
    assert body["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert_verbatim_quotes(h, embed_of(reply)["description"], DOD_QUESTION)
    assert [b.get("label") or b["emoji"]["name"] for b in buttons(body)] == ["More passages", "👍", "👎", "Dismiss"]
    assert reply.response["referenced_message"]["id"] == target["id"]
    assert is_ephemeral(confirmation) and confirmation.json["content"] == "Answered in the channel."
    assert stored(fake, confirmation)["flags"] & EPHEMERAL


async def test_ask_the_docs_on_a_message_without_text_says_so(verbatim: StartBot) -> None:
    h = await verbatim()
    fake = h.fake
    target = await fake.dispatch_message(fake.message_create("   ", author=fake.admin))
    answer = await h.run(fake.message_command("Ask the docs", target))
    assert answer.json["type"] == 4 and is_ephemeral(answer)
    assert answer.json["data"]["content"] == "That message has no text to ask about."


# --------------------------------------------------------------------------------- 8. mentions and auto-answers


async def test_mention_with_a_question_gets_a_reply_and_a_bare_mention_a_hint(verbatim: StartBot) -> None:
    h = await verbatim()
    fake = h.fake
    asked = await fake.dispatch_message(fake.message_create(f"{fake.mention(fake.bot_user)} what did the DoD demand?"))
    reply = await fake.wait_for(lambda c: c.ok and c.matches("POST", CHANNEL_MESSAGES))
    body = reply.json
    assert body["message_reference"]["message_id"] == int(asked["id"])
    assert body["allowed_mentions"] == {"parse": [], "replied_user": False}
    quotes = assert_verbatim_quotes(h, embed_of(reply)["description"], "what did the DoD demand?")
    assert quotes and buttons(body)

    since = len(fake.calls)
    bare = await fake.dispatch_message(fake.message_create(f"<@!{fake.bot_user['id']}>  "))
    hint = await fake.wait_for(lambda c: c.ok and c.matches("POST", CHANNEL_MESSAGES), since=since)
    assert hint.json["message_reference"]["message_id"] == int(bare["id"])
    assert hint.json["content"].startswith("Ask me a question after the mention") and "embeds" not in hint.json
    assert hint.json["allowed_mentions"]["replied_user"] is False


async def test_auto_answer_posts_in_a_new_thread_in_help_channels_only(
    verbatim: StartBot, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    help_channel, other = fake.guild.channel_ids[:2]
    h = await verbatim(auto_answer=True, help_channel_ids=[help_channel])
    await fake.dispatch_message(fake.message_create("What did the Department of Defense demand?", channel_id=other))
    question = await fake.dispatch_message(fake.message_create(DOD_QUESTION, channel_id=help_channel))

    thread_call = await fake.wait_for(lambda c: c.ok and c.matches("POST", "/channels/{c}/messages/{m}/threads"))
    assert thread_call.path == f"/channels/{help_channel}/messages/{question['id']}/threads"
    assert thread_call.json["name"] == DOD_QUESTION
    thread_id = int(thread_call.response["id"])
    posted = await fake.wait_for(lambda c: c.ok and c.path == f"/channels/{thread_id}/messages")
    assert posted.json["allowed_mentions"] == {"parse": []} and "message_reference" not in posted.json
    assert_verbatim_quotes(h, embed_of(posted)["description"], DOD_QUESTION)
    await asyncio.sleep(0.2)  # the message in the other channel had its chance
    assert [c.path for c in fake.calls_to("POST", CHANNEL_MESSAGES) if c.ok] == [f"/channels/{thread_id}/messages"]
    assert len(fake.calls_to("POST", "/channels/{c}/messages/{m}/threads")) == 1
    # A message inside the answer thread is not answered again.
    await fake.dispatch_message(fake.message_create("thanks!", channel_id=thread_id))
    await asyncio.sleep(0.2)
    assert len(fake.calls_to("POST", "/channels/{c}/messages/{m}/threads")) == 1


# --------------------------------------------------------------------------------- 9. /reindex


class GatedEmbedder(HashingEmbedder):
    """Embedding documents blocks while ``gate`` is closed: a reindex that takes as long as the test wants."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()

    def embed_documents(self, texts: list[str], *, batch_size: int = 32) -> Any:
        if not self.gate.is_set():
            self.waiting.set()
            assert self.gate.wait(30), "the test never opened the gate"
        return super().embed_documents(texts, batch_size=batch_size)


def add_moderator(fake: FakeDiscord) -> tuple[dict[str, Any], int]:
    """A user with a plain role (no Manage Server) that settings can make a moderator."""
    role_id = fake.world.snowflake()
    fake.guild.roles[role_id] = fp.role(role_id, "Librarians", PERMISSIONS_MEMBER, position=1)
    carol = fake.add_user("carol")
    fake.guild.members[int(carol["id"])]["roles"].append(str(role_id))
    return carol, role_id


async def test_reindex_is_for_moderators_runs_in_background_and_keeps_answering(
    verbatim: StartBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = GatedEmbedder()
    h = await verbatim(embedder=embedder)
    # load_extension imports a fresh module object per bot: patch the one this bot uses.
    admin_module = sys.modules[type(h.bot.get_cog("AdminCog")).__module__]
    monkeypatch.setattr(admin_module, "PROGRESS_EDIT_SECONDS", 0.05)
    fake = h.fake
    old_engine = h.service.engine

    # A plain member (the command is hidden from them, but a crafted interaction arrives).
    refused = await h.run(fake.slash_command("reindex", user=fake.member))
    assert refused.json["type"] == 4 and is_ephemeral(refused)
    assert refused.json["data"]["content"] == "Only moderators can do that."
    denied = await h.run(fake.slash_command("unanswered", user=fake.member))
    assert denied.json["data"]["content"] == "Only moderators can do that." and is_ephemeral(denied)
    assert not h.service.reindexing and h.service.engine is old_engine
    embedded_before = len(embedder.embedded)

    (h.docs_dir / "alpacas.md").write_text(
        "# Alpacas\n\nAlpacas hum when they are content and spit when annoyed.\n", encoding="utf-8"
    )
    embedder.gate.clear()
    ix = fake.slash_command("reindex", user=fake.admin)
    started = await h.run(ix)
    assert started.json["type"] == 4 and is_ephemeral(started)
    assert started.json["data"]["content"].startswith("Reindexing…")
    assert len(embedder.embedded) == embedded_before  # the refused /reindex built nothing
    assert await asyncio.to_thread(embedder.waiting.wait, 10)
    assert h.service.reindexing

    second = await h.run(fake.slash_command("reindex", user=fake.admin))
    assert is_ephemeral(second) and "already running" in second.json["data"]["content"]

    # Progress shows in the first reply while the build works.
    progress = await fake.wait_for(
        lambda c: c.ok and f"/{ix['token']}/messages/@original" in c.path and c.method == "PATCH", timeout=5
    )
    assert re.fullmatch(
        r"Reindexing… (reading documents|embedding new text)( \(\d+/\d+\))?\.", progress.json["content"]
    )
    assert progress.json["allowed_mentions"] == {"parse": []}

    # Questions are answered from the old index meanwhile.
    during = await h.ask(DOD_QUESTION, user=fake.admin)
    assert any("remove all safety guardrails" in q for q, _ in quotes_in(embed_of(during)["description"]))
    assert h.service.engine is old_engine

    embedder.gate.set()
    done = await fake.wait_for(
        lambda c: (
            c.ok
            and c.method == "PATCH"
            and f"/{ix['token']}/messages/@original" in c.path
            and "Reindex done" in (c.json.get("content") or "")
        ),
        timeout=15,
    )
    text = done.json["content"]
    assert re.match(r"\*\*Reindex done\*\* in \d+\.\d s: \d+ chunks\.", text)
    assert "Added (1): alpacas.md" in text and "Unchanged: 2" in text
    assert "Changed" not in text and "Removed" not in text
    assert done.json["allowed_mentions"] == {"parse": []}
    assert stored(fake, started)["content"] == text and stored(fake, started)["flags"] & EPHEMERAL
    assert h.service.engine is not old_engine and not h.service.reindexing

    alpacas = await h.ask("When do alpacas hum?", user=fake.admin)
    assert any(c.startswith("alpacas.md") for _, c in quotes_in(embed_of(alpacas)["description"]))

    # Removing and changing documents are reported too.
    (h.docs_dir / "alpacas.md").unlink()
    (h.docs_dir / NOTICES_NAME).write_text(NOTICES + "\nOne more rule about llamas.\n", encoding="utf-8")
    again = fake.slash_command("reindex", user=fake.admin)
    await h.run(again)
    report = await fake.wait_for(
        lambda c: (
            c.ok
            and f"/{again['token']}/messages/@original" in c.path
            and "Reindex done" in (c.json.get("content") or "")
        ),
        timeout=15,
    )
    assert "Changed (1): notices.md" in report.json["content"] and "Removed (1): alpacas.md" in report.json["content"]


async def test_a_moderator_role_may_reindex_without_manage_server(
    verbatim: StartBot, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    carol, role_id = add_moderator(fake)  # before the bot receives the guild and its roles
    h = await verbatim(moderator_role_ids=[role_id])
    ix = fake.slash_command("reindex", user=carol)
    assert not int(ix["member"]["permissions"]) & 0x20  # no Manage Server
    started = await h.run(ix)
    assert started.json["data"]["content"].startswith("Reindexing…") and is_ephemeral(started)
    done = await fake.wait_for(
        lambda c: (
            c.ok and f"/{ix['token']}/messages/@original" in c.path and "Reindex done" in (c.json.get("content") or "")
        ),
        timeout=15,
    )
    assert "Unchanged: 2" in done.json["content"]
    listing = await h.run(fake.slash_command("unanswered", user=carol))
    assert embed_of(listing)["description"] == "No unanswered, unsure or 👎 questions in the last 30 days."


# --------------------------------------------------------------------------------- 10. cooldown


async def test_cooldown_refuses_a_second_question_from_the_same_user_only(verbatim: StartBot) -> None:
    h = await verbatim(cooldown_seconds=60)
    fake = h.fake
    first = await h.ask(DOD_QUESTION)
    assert quotes_in(embed_of(first)["description"])
    again = await h.ask("Who leads OpenAI?")
    assert again.json["type"] == 4 and is_ephemeral(again)
    assert re.fullmatch(r"Slow down a little: you can ask again in (59|60) s\.", again.json["data"]["content"])
    other = await h.ask("Who leads OpenAI?", user=fake.admin)
    assert quotes_in(embed_of(other)["description"])

    # The same cooldown covers "Ask the docs" and mentions.
    target = await fake.dispatch_message(fake.message_create(DOD_QUESTION, author=fake.admin))
    menu = await h.run(fake.message_command("Ask the docs", target, user=fake.member))
    assert menu.json["type"] == 4 and is_ephemeral(menu) and menu.json["data"]["content"].startswith("Slow down")
    since = len(fake.calls)
    mention = await fake.dispatch_message(fake.message_create(f"{fake.mention(fake.bot_user)} who leads OpenAI?"))
    reply = await fake.wait_for(lambda c: c.ok and c.matches("POST", CHANNEL_MESSAGES), since=since)
    assert reply.json["content"].startswith("Slow down") and "embeds" not in reply.json
    assert reply.json["message_reference"]["message_id"] == int(mention["id"])


# --------------------------------------------------------------------------------- 11. errors


async def test_an_internal_error_is_a_short_private_message_and_logged(
    verbatim: StartBot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    h = await verbatim()
    fake = h.fake
    h.expect_error("command_failed")

    async def broken(question: str, *, k: int | None = None) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(h.service, "ask", broken)
    ix = fake.slash_command("ask", {"question": DOD_QUESTION})
    answer = await h.run(ix)
    content = message_body(answer)["content"]
    assert content.startswith("Something went wrong on my side.")
    assert "boom" not in content and "Traceback" not in content and "RuntimeError" not in content
    # The user sees it privately: the public "thinking…" message does not stay around as the error.
    visible = [m for m in fake.world.channel_messages[fake.channel_id] if m["author"]["id"] == fake.bot_user["id"]]
    assert visible and all(m["flags"] & EPHEMERAL for m in visible), visible
    assert fake.interaction_state(ix).original_message_id in fake.world.deleted_message_ids
    [record] = [r for r in h.bot_errors if r.getMessage() == "command_failed"]
    assert record.exc_info is not None and "boom" in repr(record.exc_info[1])


async def test_an_invalid_question_gets_its_clear_message(verbatim: StartBot) -> None:
    h = await verbatim()
    with pytest.raises(InvalidQuestionError) as raised:
        h.service.engine.ask("\x00\x01")
    answer = await h.ask("\x00\x01")
    content = message_body(answer)["content"]
    assert content == str(raised.value) and "question" in content.lower()
    assert "Something went wrong" not in content and "Traceback" not in content
    assert is_ephemeral(answer) and stored(h.fake, answer)["flags"] & EPHEMERAL
    assert h.bot_errors == []


# --------------------------------------------------------------------------------- 15. the console shows the same


async def test_chat_prints_the_same_quotes_the_bot_posts(verbatim: StartBot) -> None:
    h = await verbatim()
    answer = await h.ask(DOD_QUESTION)
    posted = quotes_in(embed_of(answer)["description"])
    printed = await reply_to(DOD_QUESTION, h.service, h.settings)
    assert unescape(embed_of(answer)["description"]) in printed
    for quote, citation in posted:
        quoted = "\n".join(f"> {line}" for line in quote.splitlines())  # a quote across lines keeps "> " on each
        assert f"{quoted}\n— {citation}" in printed
    assert printed.startswith(f"## {DOD_QUESTION}")


async def test_a_quick_reindex_reports_even_when_its_first_reply_is_slow(verbatim: StartBot) -> None:
    """The report edits the first reply, so it must wait for that reply to exist."""
    h = await verbatim()
    fake = h.fake
    fake.rate_limit("POST", CALLBACK, retry_after=0.5)  # the "Reindexing…" reply arrives late
    ix = fake.slash_command("reindex", user=fake.admin)
    await fake.dispatch_interaction(ix)
    done = await fake.wait_for(
        lambda c: (
            c.ok and f"/{ix['token']}/messages/@original" in c.path and "Reindex done" in (c.json.get("content") or "")
        ),
        timeout=10,
    )
    assert "Unchanged: 2" in done.json["content"]
    assert [c.status for c in fake.interaction_calls(ix) if c.method == "PATCH"] == [200]


async def test_a_failed_reindex_says_so_and_the_old_index_keeps_answering(verbatim: StartBot) -> None:
    embedder = HashingEmbedder()
    h = await verbatim(embedder=embedder)
    fake = h.fake
    h.expect_error("reindex_failed")
    old_engine = h.service.engine
    (h.docs_dir / "alpacas.md").write_text("# Alpacas\n\nAlpacas hum.\n", encoding="utf-8")
    embedder.fail_after = len(embedder.embedded)  # the next embedding raises
    ix = fake.slash_command("reindex", user=fake.admin)
    await h.run(ix)
    failed = await fake.wait_for(
        lambda c: (
            c.ok
            and f"/{ix['token']}/messages/@original" in c.path
            and "Reindex failed" in (c.json.get("content") or "")
        ),
        timeout=10,
    )
    text = failed.json["content"]
    assert text.startswith("**Reindex failed**; the previous index is still answering.")
    assert "injected" not in text and "Traceback" not in text
    assert h.service.engine is old_engine and not h.service.reindexing
    embedder.fail_after = None
    answer = await h.ask(DOD_QUESTION)
    assert quotes_in(embed_of(answer)["description"])
    [record] = [r for r in h.bot_errors if r.getMessage() == "reindex_failed"]
    assert "injected embedding failure" in repr(record.exc_info[1])  # type: ignore[index]


async def test_a_rate_limited_answer_is_retried_and_delivered_once(verbatim: StartBot) -> None:
    h = await verbatim()
    fake = h.fake
    fault = fake.rate_limit("POST", WEBHOOK, retry_after=0.05)
    answer = await h.ask(DOD_QUESTION)
    assert fault.hits == 1 and quotes_in(embed_of(answer)["description"])
    assert [c.status for c in fake.calls_to("POST", WEBHOOK)] == [429, 200]
    assert len(fake.bot_messages()) == 1
