"""bot/discord/render.py on its own: Discord's limits, verbatim quotes, and escaping."""

from __future__ import annotations

import re

import discord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.discord.render import (
    EMBED_DESCRIPTION_LIMIT,
    EMBED_FIELD_LIMIT,
    EMBED_TITLE_LIMIT,
    EMBED_TOTAL_LIMIT,
    answer_embed,
    escape,
    search_embed,
    source_embed,
    sources_embed,
    unescape,
)
from index import Answer, DocumentInfo, Passage, split_sentences
from tests.bot.conftest import quotes_in

MARKDOWN = "*_~`|>#-[]()<@:\\"
WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz" + MARKDOWN + "0123456789'’", min_size=1, max_size=12)
SENTENCE = st.builds(
    lambda words, mark: " ".join(words).capitalize() + mark,
    st.lists(WORD, min_size=3, max_size=40),
    st.sampled_from([".", "!", "?"]),
)
PASSAGE_TEXT = st.builds(
    lambda sentences, seps: "".join(
        s + (seps[i % len(seps)] if i < len(sentences) - 1 else "") for i, s in enumerate(sentences)
    ),
    st.lists(SENTENCE, min_size=1, max_size=30),
    st.lists(st.sampled_from([" ", " ", "\n", "\n\n"]), min_size=1, max_size=5),
)


def passage(text: str, n: int = 0, *, document: str = "notes_[draft].md", source_url: str | None = None) -> Passage:
    return Passage(
        document=document,
        title="Notes",
        section=("Part *one*", f"Sub_{n}"),
        start=0,
        end=len(text),
        line_start=1 + n,
        line_end=3 + n,
        text=text,
        score=0.9,
        relevance=0.8,
        source_url=source_url,
    )


def embed_total(embed: discord.Embed) -> int:
    """Characters Discord counts towards the 6000 limit."""
    total = len(embed.title or "") + len(embed.description or "")
    total += len(embed.footer.text or "") if embed.footer else 0
    total += len(embed.author.name or "") if embed.author else 0
    total += sum(len(f.name or "") + len(f.value or "") for f in embed.fields)
    return total


def sentence_prefixes(text: str) -> set[str]:
    return {text[:end] for _, end in split_sentences(text)} | {text}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_escaping_round_trips(text: str) -> None:
    assert unescape(escape(text)) == text


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=MARKDOWN + "ab \n", max_size=60))
def test_escaped_text_has_no_live_markdown_or_mentions(text: str) -> None:
    shown = escape(text)
    # Every Markdown or mention character is preceded by an odd number of backslashes.
    for match in re.finditer(r"(\\*)([*_~`|>#\-\[\]()<@:])", shown):
        assert len(match.group(1)) % 2 == 1, shown


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(PASSAGE_TEXT, min_size=1, max_size=8), st.text(min_size=1, max_size=1000))
def test_answer_embed_stays_inside_discord_limits_and_quotes_verbatim_prefixes(texts: list[str], question: str) -> None:
    passages = tuple(passage(t, n) for n, t in enumerate(texts))
    answer = Answer(question=question, passages=passages, abstained=False, index_built_at="2026-01-01T00:00:00+00:00")
    rendered = answer_embed(answer)
    embed = rendered.embed
    assert len(embed.description or "") <= EMBED_DESCRIPTION_LIMIT
    assert len(embed.title or "") <= EMBED_TITLE_LIMIT
    assert embed_total(embed) <= EMBED_TOTAL_LIMIT
    # Whole passages are dropped from the end; the ones shown are the first ones, in order.
    assert rendered.shown == passages[: len(rendered.shown)]
    quotes = quotes_in(embed.description or "")
    assert len(quotes) == len(rendered.shown)
    for (quote, citation), shown in zip(quotes, rendered.shown):
        assert citation == shown.citation
        assert quote in sentence_prefixes(shown.text), (quote[-80:], shown.text[:200])
    # A shortened quote says so after the quotation, never inside it.
    for line in (embed.description or "").split("\n"):
        if "…" in line and not line.startswith("— "):
            assert line == "…"


def test_a_very_long_quote_is_cut_at_a_sentence_end_with_the_ellipsis_outside() -> None:
    sentence = "The llama keeper *always* writes <@123> in the log_file before noon. "
    text = (sentence * 120).strip()
    assert len(text) > EMBED_DESCRIPTION_LIMIT
    rendered = answer_embed(Answer("q", (passage(text), passage("Short one."), passage("Another.")), False))
    description = rendered.embed.description or ""
    assert len(description) <= EMBED_DESCRIPTION_LIMIT
    [(quote, _)] = quotes_in(description)
    assert text.startswith(quote) and quote.endswith("before noon.") and len(quote) < len(text)
    assert "\n…\n— " in description and rendered.shown == (rendered.shown[0],)
    assert "\\<\\@123\\>" in description and "\\*always\\*" in description and "log\\_file" in description


def test_citation_links_to_the_source_url_without_an_embed_preview() -> None:
    rendered = answer_embed(Answer("q", (passage("One sentence.", source_url="https://example.org/a_b"),), False))
    description = rendered.embed.description or ""
    assert description.endswith("](<https://example.org/a_b>)")
    assert "[notes\\_\\[draft\\].md › Part \\*one\\* › Sub\\_0, lines 1–3]" in description


def test_abstention_lists_suggestions_and_has_no_quotes() -> None:
    from index import SectionRef

    answer = Answer("q", (), True, suggestions=(SectionRef("a_b.md", ("Intro",), 4, 0.1),), index_built_at="t")
    embed = answer_embed(answer).embed
    assert (
        embed.description
        == "**Not in the documents.** I found nothing that answers this.\n\nNearest sections:\n• a\\_b.md › Intro \\(line 4\\)"
    )
    assert embed.footer.text == "Index built t"


def test_search_sources_and_source_embeds_stay_inside_limits() -> None:
    passages = [passage("A sentence about llamas. " * 30 + "End.", n) for n in range(15)]
    for page in range(5):
        embed = search_embed("q" * 600, passages, page, 3)
        assert len(embed.description or "") <= EMBED_DESCRIPTION_LIMIT and embed_total(embed) <= EMBED_TOTAL_LIMIT
        assert len(embed.title or "") <= EMBED_TITLE_LIMIT
    documents = [
        DocumentInfo(
            path=f"folder_{n}/" + "x" * 80 + ".md",
            title="T",
            chunks=n,
            indexed_at="2026-01-01",
            sha256="0",
            sections=tuple((f"Section {m}", "Sub") for m in range(100)),
        )
        for n in range(400)
    ]
    embed = sources_embed(documents, "2026-01-01")
    assert len(embed.description or "") <= EMBED_DESCRIPTION_LIMIT and embed_total(embed) <= EMBED_TOTAL_LIMIT
    assert (embed.description or "").endswith("more")
    one = source_embed(documents[0])
    assert all(len(f.value or "") <= EMBED_FIELD_LIMIT for f in one.fields) and embed_total(one) <= EMBED_TOTAL_LIMIT


def test_the_answer_shows_as_many_passages_as_the_engine_chose() -> None:
    """top_k is decided once, by the engine: the renderer shows every passage that fits."""
    answer = Answer("q", tuple(passage(f"Sentence number {n}.", n) for n in range(5)), False)
    assert len(quotes_in(answer_embed(answer).embed.description or "")) == 5


def test_discord_and_the_terminal_say_not_in_the_documents_alike() -> None:
    from bot.cli.terminal import render_answer
    from bot.errors import NOT_IN_DOCUMENTS

    answer = Answer("q", (), True)
    assert render_answer(answer).startswith(NOT_IN_DOCUMENTS)
    assert (answer_embed(answer).embed.description or "").startswith(f"**{NOT_IN_DOCUMENTS}**")


def test_html_citations_say_their_lines_count_the_extracted_text() -> None:
    """An HTML document's line 5 is the fifth line of its visible text, not of the file."""
    from bot.cli.terminal import quote_block

    page = passage("Llamas hum.", document="guide/page.html")
    shown = [quote_block(page), answer_embed(Answer("q", (page,), False)).embed.description or ""]
    for text in shown:
        assert "lines 1–3 of the extracted text" in unescape(text)
    plain = passage("Llamas hum.", document="guide/page.md")
    assert "extracted" not in quote_block(plain)


def test_a_not_sure_answer_says_so_before_its_quotes() -> None:
    answer = Answer("q", (passage("Llamas hum softly."),), False, outcome="not_sure")
    description = answer_embed(answer).embed.description or ""
    assert description.startswith("**Not sure.** These passages may help, but none answers this directly.")
    assert "Llamas hum softly." in description
    assert "Not sure" not in (
        answer_embed(Answer("q", (passage("Llamas hum softly."),), False)).embed.description or ""
    )
