"""Answers as Discord messages, inside Discord's limits, with quotes kept verbatim.

Quotes are shown as block quotes with Markdown characters escaped, so Discord displays the
document's characters exactly (``un_escape(shown) == passage.text``). When something must
be cut, whole passages go first; a single over-long quote is shortened to its leading whole
sentences, with the ellipsis placed outside the quotation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import discord

from bot.citation import citation
from bot.errors import NOT_IN_DOCUMENTS, NOT_SURE, NOT_SURE_DETAIL
from index import Answer, BuildReport, DocumentInfo, Passage, split_sentences

# Discord's limits (https://discord.com/developers/docs/resources/message).
MESSAGE_LIMIT = 2000
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_TITLE_LIMIT = 256
EMBED_FIELD_LIMIT = 1024
EMBED_FIELDS_MAX = 25
EMBED_TOTAL_LIMIT = 6000
EMBED_FOOTER_LIMIT = 2048
CHOICES_MAX = 25
CHOICE_NAME_LIMIT = 100
THREAD_NAME_LIMIT = 100

COLOUR_ANSWER = discord.Colour.blurple()
COLOUR_ABSTAIN = discord.Colour.light_grey()
COLOUR_NOT_SURE = discord.Colour.gold()
NOT_SURE_LEAD = f"**{NOT_SURE}** {NOT_SURE_DETAIL}\n\n"
NO_PINGS = discord.AllowedMentions.none()

_MARKDOWN = re.compile(r"([\\*_~`|>#\-\[\]()<@:])")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def escape(text: str) -> str:
    """Backslash every character Discord's Markdown could act on (incl. mention syntax)."""
    return _MARKDOWN.sub(r"\\\1", text)


def unescape(text: str) -> str:
    return _ESCAPE.sub(r"\1", text)


def shorten(text: str, limit: int) -> str:
    """Plain (non-quoted) text cut to ``limit`` characters, at a sentence or word if possible."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    for mark in (". ", "\n", " "):
        position = cut.rfind(mark)
        if position > limit // 2:
            return cut[: position + (1 if mark == ". " else 0)].rstrip() + "…"
    return cut + "…"


def quote_markdown(passage: Passage, limit: int) -> str:
    """A block quote of ``passage`` and its citation in at most ``limit`` characters.

    If the quote does not fit, it keeps its leading whole sentences (still a verbatim
    span) and the ellipsis goes after the quotation. Returns "" if not even one fits.
    """
    cited = _citation(passage)
    text = passage.text
    ends = [b for _, b in split_sentences(text)] or [len(text)]
    for end in reversed(ends):
        shown = _block(text[:end]) + ("\n…" if end < len(text.rstrip()) else "")
        block = f"{shown}\n{cited}"
        if len(block) <= limit:
            return block
    return ""


def _block(text: str) -> str:
    return "\n".join("> " + escape(line) if line.strip() else ">" for line in text.splitlines())


def _citation(passage: Passage) -> str:
    label = escape(citation(passage))
    if passage.source_url:
        return f"— [{label}](<{passage.source_url}>)"
    return f"— {label}"


@dataclass(frozen=True, slots=True)
class Rendered:
    embed: discord.Embed
    shown: tuple[Passage, ...]


def answer_embed(answer: Answer) -> Rendered:
    """The /ask reply: the answer's quotes (as many as fit), or "not in the documents" with
    suggestions. How many passages an answer has is the engine's choice (``top_k``)."""
    title = shorten(answer.question, EMBED_TITLE_LIMIT)
    if answer.abstained:
        lines = [f"**{NOT_IN_DOCUMENTS}** I found nothing that answers this."]
        if answer.suggestions:
            lines.append("\nNearest sections:")
            lines += [f"• {escape(s.label)}" for s in answer.suggestions]
        embed = discord.Embed(title=title, description="\n".join(lines), colour=COLOUR_ABSTAIN)
        _footer(embed, answer.index_built_at, quoted=False)
        return Rendered(embed, ())
    lead = NOT_SURE_LEAD if answer.outcome == "not_sure" else ""
    description, shown = quotes_description(answer.passages, room=EMBED_DESCRIPTION_LIMIT - len(lead))
    colour = COLOUR_NOT_SURE if answer.outcome == "not_sure" else COLOUR_ANSWER
    embed = discord.Embed(title=title, description=lead + description, colour=colour)
    _footer(embed, answer.index_built_at)
    return Rendered(embed, shown)


def quotes_description(
    passages: tuple[Passage, ...] | list[Passage],
    *,
    numbered: int | None = None,
    room: int = EMBED_DESCRIPTION_LIMIT,
) -> tuple[str, tuple[Passage, ...]]:
    blocks: list[str] = []
    shown: list[Passage] = []
    used = 0
    for i, passage in enumerate(passages):
        prefix = f"**{numbered + i}.**\n" if numbered is not None else ""
        space = room - used - (2 if blocks else 0) - len(prefix)
        block = quote_markdown(passage, space)
        if not block:
            break
        blocks.append(prefix + block)
        shown.append(passage)
        used += len(prefix + block) + (2 if len(blocks) > 1 else 0)
    return "\n\n".join(blocks), tuple(shown)


def _footer(embed: discord.Embed, built_at: str | None, *, quoted: bool = True) -> None:
    if built_at:
        lead = "Quoted verbatim from the documents · " if quoted else ""
        embed.set_footer(text=f"{lead}Index built {built_at}")


def search_embed(query: str, passages: list[Passage], page: int, per_page: int) -> discord.Embed:
    pages = max(1, -(-len(passages) // per_page))
    chunk = passages[page * per_page : (page + 1) * per_page]
    description, _ = quotes_description(chunk, numbered=page * per_page + 1)
    embed = discord.Embed(
        title=shorten(f"Search: {query}", EMBED_TITLE_LIMIT),
        description=description or "No passages match.",
        colour=COLOUR_ANSWER,
    )
    embed.set_footer(text=f"Page {page + 1} of {pages} · {len(passages)} passages")
    return embed


def sources_embed(documents: list[DocumentInfo], built_at: str) -> discord.Embed:
    lines = []
    used = 0
    for n, document in enumerate(documents):
        line = f"• **{escape(document.path)}**: {document.chunks} chunks, indexed {document.indexed_at}"
        if used + len(line) + 1 > EMBED_DESCRIPTION_LIMIT - 40:
            lines.append(f"… and {len(documents) - n} more")
            break
        lines.append(line)
        used += len(line) + 1
    noun = "document" if len(documents) == 1 else "documents"
    embed = discord.Embed(title=f"{len(documents)} {noun}", description="\n".join(lines), colour=COLOUR_ANSWER)
    embed.set_footer(text=f"Index built {built_at}")
    return embed


def source_embed(document: DocumentInfo) -> discord.Embed:
    embed = discord.Embed(
        title=shorten(document.title, EMBED_TITLE_LIMIT),
        url=document.source_url,
        colour=COLOUR_ANSWER,
        description=f"`{escape(document.path)}` · {document.chunks} chunks · indexed {document.indexed_at}",
    )
    sections = [" › ".join(s) for s in document.sections] or ["(no headings)"]
    value = ""
    for n, section in enumerate(sections):
        line = f"• {escape(section)}\n"
        if len(value) + len(line) > EMBED_FIELD_LIMIT - 20:
            value += f"… and {len(sections) - n} more"
            break
        value += line
    embed.add_field(name="Sections", value=value.strip(), inline=False)
    return embed


def embed_as_text(embed: discord.Embed) -> str:
    """What an embed shows, as plain text, for ``verbatim chat`` (Markdown escapes removed)."""
    parts = []
    if embed.title:
        parts.append(f"## {embed.title}")
    if embed.description:
        parts.append(unescape(embed.description))
    for field in embed.fields:
        parts.append(f"{field.name}:\n{unescape(field.value or '')}")
    if embed.footer and embed.footer.text:
        parts.append(f"-- {embed.footer.text}")
    return "\n\n".join(parts)


def report_text(report: BuildReport, seconds: float) -> str:
    lines = [f"**Reindex done** in {seconds:.1f} s: {report.chunks} chunks."]
    lines += [f"Synced {escape(line)}" for line in report.fetches]
    lines += [f"**Fetch failed**: {escape(line)}" for line in report.failed_fetches]
    for label, names in (("Added", report.added), ("Changed", report.changed), ("Removed", report.removed)):
        if names:
            shown = ", ".join(escape(n) for n in names[:10]) + (
                f" and {len(names) - 10} more" if len(names) > 10 else ""
            )
            lines.append(f"{label} ({len(names)}): {shown}")
    lines.append(f"Unchanged: {len(report.unchanged)}")
    if report.skipped:
        lines.append(
            f"Skipped ({len(report.skipped)}): "
            + "; ".join(f"{escape(s.path)} ({escape(s.reason)})" for s in report.skipped[:5])
        )
    return shorten("\n".join(lines), EMBED_DESCRIPTION_LIMIT)
