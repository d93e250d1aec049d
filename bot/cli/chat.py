"""``verbatim chat``: the bot in a terminal, showing exactly what it would post."""

from __future__ import annotations

import asyncio
import sys

from bot.discord.render import answer_embed, embed_as_text, search_embed, source_embed, sources_embed
from bot.errors import describe, report_failure
from bot.service import AnswerService
from bot.settings import Settings

HELP = """Type a question to get what /ask would post. Also:
  /search QUERY    what /search shows (first page)
  /sources         what /sources shows
  /source NAME     what /source shows
  /quit            leave (or Ctrl-D)"""


async def reply_to(line: str, service: AnswerService, settings: Settings) -> str:
    """The text of what the bot would post for one line typed in the console."""
    command, _, rest = line.partition(" ")
    rest = rest.strip()
    if command == "/help":
        return HELP
    if command == "/search":
        passages = await service.search(rest, k=15)
        return embed_as_text(search_embed(rest, passages, 0, 3))
    if command == "/sources":
        return embed_as_text(sources_embed(service.documents(), service.engine.built_at))
    if command == "/source":
        return embed_as_text(source_embed(service.document(rest)))
    if command == "/ask":
        line = rest
    answer = await service.ask(line)
    return embed_as_text(answer_embed(answer).embed)


async def chat(settings: Settings, service: AnswerService) -> int:
    print("Loading the index…", file=sys.stderr)
    report = await service.load()
    if report is not None:
        print(f"Built the index: {report.summary}", file=sys.stderr)
    print(HELP, file=sys.stderr)
    try:
        while True:
            try:
                line = (await asyncio.to_thread(input, "you> ")).strip()
            except EOFError:
                return 0
            if not line:
                continue
            if line in ("/quit", "/exit"):
                return 0
            try:
                print(await reply_to(line, service, settings) + "\n")
            except Exception as exc:  # what the bot would tell the user, from the same helper
                report_failure(exc, "command_failed", "terminal")
                print(f"(the bot would say, privately) {describe(exc, 'discord')}\n")
    finally:
        service.close()
