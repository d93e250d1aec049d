"""Quote spans: the runs of whole sentences of a chunk that may be quoted.

A quote is one to three sentences within the character budget (a quote should be the
answer, not its paragraph). A quote never ends on a lead-in (a sentence ending in ":"):
it takes the list items that follow, as many as fit, so "what kinds of X are there" is
answered with the kinds and not only the sentence announcing them. A quote never starts
inside a code block's middle (a piece of a long block after its first).
"""

from __future__ import annotations

import re

from index.types import Chunk

MAX_SENTENCES = 3
# A lead-in and at most this many list items.
MAX_LIST_ITEMS = 8
# The cheap pre-ranking of spans inside a chunk: each sentence beyond the first must add
# at least this much coverage to be worth it.
EXTRA_SENTENCE_COST = 0.08

_LIST_MARKER = re.compile(r"\s*(?:[-*+•▪‣◦]|\d{1,3}[.)]|[a-z][.)])\s")


def is_lead_in(text: str) -> bool:
    return text.rstrip().endswith(":")


def quote_windows(chunk: Chunk, max_chars: int) -> list[tuple[int, int]]:
    """``(first, last)`` sentence indexes of every span of ``chunk`` that may be quoted.

    A span that holds a lead-in never stops before the list after it: it takes the list
    items, as many as fit in ``max_chars``. None for a chunk that is all inside one code
    block's middle."""
    sentences = chunk.sentences
    lead_ins = [k for k in range(len(sentences)) if is_lead_in(_text(chunk, k))]
    windows: dict[tuple[int, int], None] = {}
    mid_code = set(chunk.mid_code)
    for i in (i for i in range(len(sentences)) if i not in mid_code):
        for j in range(i, min(i + MAX_SENTENCES, len(sentences))):
            if j > i and sentences[j][1] - sentences[i][0] > max_chars:
                break
            for k in (k for k in lead_ins if i <= k <= j):
                j = max(j, _list_end(chunk, i, k, max_chars))
            windows[(i, j)] = None
    return list(windows)


def _list_end(chunk: Chunk, first: int, lead_in: int, max_chars: int) -> int:
    """The last list item after ``lead_in`` that still fits in a span starting at ``first``."""
    sentences = chunk.sentences
    last = lead_in
    marked = None  # whether the items carry list markers ("- ", "1. "): all of them, or none
    separator = None  # what stands between two items: all alike
    while (
        last + 1 < len(sentences)
        and last + 1 - lead_in <= MAX_LIST_ITEMS
        and sentences[last + 1][1] - sentences[first][0] <= max_chars
        and _starts_line(chunk, last + 1)
    ):
        item = last + 1
        has_marker = bool(_LIST_MARKER.match(_text(chunk, item)))
        if marked is not None and has_marker != marked:
            break
        gap = _gap(chunk, item)
        if item > lead_in + 1 and separator is not None and gap != separator:
            break
        if item > lead_in + 1:
            separator = gap
        marked = has_marker
        last = item
    return last


def _gap(chunk: Chunk, i: int) -> str:
    """The whitespace between sentence ``i - 1`` and sentence ``i``."""
    return chunk.text[chunk.sentences[i - 1][1] - chunk.start : chunk.sentences[i][0] - chunk.start]


def _starts_line(chunk: Chunk, i: int) -> bool:
    """Sentence ``i`` begins a line of its own, as list items do (Markdown's "- ", or an
    HTML ``<li>``, which the reader lays out as a block)."""
    return "\n" in _gap(chunk, i)


def _text(chunk: Chunk, i: int) -> str:
    a, b = chunk.sentences[i]
    return chunk.text[a - chunk.start : b - chunk.start]
