"""Quote spans: the runs of whole sentences of a chunk that may be quoted.

A quote is one to three sentences within the character budget (a quote should be the
answer, not its paragraph). A quote never ends on a lead-in (a sentence ending in ":"):
it takes the list items that follow, as many as fit, so "what kinds of X are there" is
answered with the kinds and not only the sentence announcing them. A quote never starts
inside a code block's middle (a piece of a long block after its first), and never runs
from one paragraph into the next (the last sentence of the paragraph before an answer is
not part of it), except from a lead-in into its list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.types import Chunk

MAX_SENTENCES = 3
# A lead-in and at most this many list items.
MAX_LIST_ITEMS = 8
# The cheap pre-ranking of spans inside a chunk: each sentence beyond the first must add
# at least this much coverage to be worth it.
EXTRA_SENTENCE_COST = 0.08

_LIST_MARKER = re.compile(r"\s*(?:[-*+•▪‣◦]|\d{1,3}[.)]|[a-z][.)])\s")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# Sentence-final punctuation, before any closing quotes or brackets: "(see below.)" ends a
# sentence, "items()" does not.
_SENTENCE_END = re.compile(r"[.!?:…][\"'”’)\]]*\s*$")


def is_lead_in(text: str) -> bool:
    return text.rstrip().endswith(":")


def quote_windows(chunk: Chunk, max_chars: int) -> list[tuple[int, int]]:
    """``(first, last)`` sentence indexes of every span of ``chunk`` that may be quoted.

    A span that holds a lead-in never stops before the list after it: it takes the list
    items, as many as fit in ``max_chars``. None for a chunk that is all inside one code
    block's middle."""
    layout = _Layout.of(chunk)
    sentences = chunk.sentences
    lead_ins = [k for k, text in enumerate(layout.texts) if is_lead_in(text)]
    windows: dict[tuple[int, int], None] = {}
    mid_code = set(chunk.mid_code)
    breaks = _paragraph_starts(layout, mid_code)
    for i in (i for i in range(len(sentences)) if i not in mid_code):
        for j in range(i, min(i + MAX_SENTENCES, len(sentences))):
            if j > i and (sentences[j][1] - sentences[i][0] > max_chars or j in breaks):
                break
            for k in (k for k in lead_ins if i <= k <= j):
                j = max(j, _list_end(chunk, layout, i, k, max_chars))
            windows[(i, j)] = None
    return list(windows)


@dataclass(frozen=True, slots=True)
class _Layout:
    """A chunk's sentences' texts and the whitespace before each (none before the first)."""

    texts: list[str]
    gaps: list[str]

    @classmethod
    def of(cls, chunk: Chunk) -> _Layout:
        text, base, sentences = chunk.text, chunk.start, chunk.sentences
        return cls(
            texts=[text[a - base : b - base] for a, b in sentences],
            gaps=[""] + [text[sentences[k - 1][1] - base : sentences[k][0] - base] for k in range(1, len(sentences))],
        )


def _list_end(chunk: Chunk, layout: _Layout, first: int, lead_in: int, max_chars: int) -> int:
    """The last list item after ``lead_in`` that still fits in a span starting at ``first``."""
    sentences = chunk.sentences
    last = lead_in
    marked = None  # whether the items carry list markers ("- ", "1. "): all of them, or none
    separator = None  # what stands between two items: all alike
    while (
        last + 1 < len(sentences)
        and last + 1 - lead_in <= MAX_LIST_ITEMS
        and sentences[last + 1][1] - sentences[first][0] <= max_chars
        # Items begin a line of their own (Markdown's "- ", or an HTML <li>, laid out as a block).
        and "\n" in layout.gaps[last + 1]
    ):
        item = last + 1
        has_marker = bool(_LIST_MARKER.match(layout.texts[item]))
        if marked is not None and has_marker != marked:
            break
        gap = layout.gaps[item]
        if item > lead_in + 1 and separator is not None and gap != separator:
            break
        if item > lead_in + 1:
            separator = gap
        marked = has_marker
        last = item
    return last


def _paragraph_starts(layout: _Layout, mid_code: set[int]) -> set[int]:
    """The sentences that begin a new paragraph: after a blank line, or after a line break
    where lines are not wrapped (no sentence of the chunk holds a line break, as in text
    with one paragraph a line). A line that is not a sentence (an API entry's signature, a
    label) belongs with the paragraph under it, and the pieces of a cut code block continue it."""
    texts, gaps = layout.texts, layout.gaps
    wrapped = any("\n" in text.strip() for text in texts)
    starts = set()
    for k in range(1, len(texts)):
        gap = gaps[k]
        broken = _BLANK_LINE.search(gap) or ("\n" in gap and not wrapped)
        if broken and k not in mid_code and _SENTENCE_END.search(texts[k - 1]):
            starts.add(k)
    return starts
