"""Sentence boundaries as ``(start, end)`` offsets into the original text.

Two layers. Structure first: blank lines, list items, headings and table rows always end
a sentence, whatever punctuation says. Then, inside each block, Bling Fire's sentence
breaker (a compiled finite-state model that knows abbreviations such as "U.S.", "Dr.",
"e.g.", decimals, money, quotes and ellipses) finds the boundaries. Its offsets are
checked; a block it cannot handle falls back to a plain punctuation rule, so splitting
never fails and never invents text. A code block is one sentence, whatever it holds: its
"# comment" is no heading and its "os.path." no full stop.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
# A line that starts a block of its own: list item, Markdown heading, table row, quote.
_BLOCK_START = re.compile(r"^[ \t]*(?:[-*+•▪‣◦]\s|\d{1,3}[.)]\s|#{1,6}\s|\||>\s?)", re.MULTILINE)
# Lines that are a block by themselves, ended by their line break: headings, table rows.
_WHOLE_LINE = re.compile(r"^[ \t]*(?:#{1,6}\s|\|).*$", re.MULTILINE)
# What Bling Fire sometimes leaves alone in front of a list item's text: "1." "b)" "iv."
_LIST_MARKER = re.compile(r"(?:\d{1,3}|[A-Za-z]|[ivxlcdm]{1,5})[.)]|[-*+•▪‣◦]")
_FALLBACK_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")


def split_sentences(
    text: str, start: int = 0, end: int | None = None, code_blocks: Sequence[tuple[int, int]] = ()
) -> list[tuple[int, int]]:
    """Sentences of ``text[start:end]``, trimmed of surrounding whitespace, in order. Each
    of the ``code_blocks`` (sorted ``(start, end)`` ranges) inside it is one sentence."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    position = start
    for code_start, code_end in code_blocks:
        code_start, code_end = max(code_start, position), min(code_end, end)
        if code_start >= code_end:
            continue
        spans.extend(_prose(text, position, code_start))
        a, b = _trim(text, code_start, code_end)
        if a < b:
            spans.append((a, b))
        position = code_end
    spans.extend(_prose(text, position, end))
    return spans


def _prose(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for block_start, block_end in _blocks(text, start, end):
        spans.extend(_sentences_in_block(text, block_start, block_end))
    return spans


def _blocks(text: str, start: int, end: int) -> list[tuple[int, int]]:
    cuts = {start, end}
    region = text[start:end]
    for match in _BLANK_LINE.finditer(region):
        cuts.add(start + match.start())
        cuts.add(start + match.end())
    for match in _BLOCK_START.finditer(region):
        cuts.add(start + match.start())
    for match in _WHOLE_LINE.finditer(region):
        cuts.add(start + match.start())
        cuts.add(start + match.end())
    ordered = sorted(cuts)
    blocks = []
    for a, b in zip(ordered, ordered[1:]):
        a, b = _trim(text, a, b)
        if a < b:
            blocks.append((a, b))
    return blocks


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _sentences_in_block(text: str, start: int, end: int) -> list[tuple[int, int]]:
    block = text[start:end]
    if "\n" not in block and _WHOLE_LINE.fullmatch(block):
        return [(start, end)]
    spans = _blingfire_spans(block)
    if spans is None:
        spans = _fallback_spans(block)
    result: list[tuple[int, int]] = []
    glue_next = False
    for a, b in spans:
        a, b = _trim(text, start + a, start + b)
        if a >= b:
            continue
        if glue_next and result:
            result[-1] = (result[-1][0], b)
        else:
            result.append((a, b))
        glue_next = _LIST_MARKER.fullmatch(text, result[-1][0], result[-1][1]) is not None
    return result


def _blingfire_spans(block: str) -> list[tuple[int, int]] | None:
    try:
        import blingfire

        _, offsets = blingfire.text_to_sentences_and_offsets(block)
    except Exception:  # Bling Fire rejects some inputs (e.g. lone surrogates)
        return None
    spans = [(int(a), int(b)) for a, b in offsets]
    if not spans:
        return None
    # Accept only in-range, ordered, non-overlapping spans; then make them cover the
    # block, so nothing between two sentences is ever lost.
    previous_end = 0
    for a, b in spans:
        if not (previous_end <= a <= b <= len(block)):
            return None
        previous_end = b
    covered = []
    for i, (a, _) in enumerate(spans):
        next_start = spans[i + 1][0] if i + 1 < len(spans) else len(block)
        covered.append((0 if i == 0 else a, next_start))
    return covered


def _fallback_spans(block: str) -> list[tuple[int, int]]:
    spans = []
    a = 0
    for match in _FALLBACK_END.finditer(block):
        spans.append((a, match.end()))
        a = match.end()
    spans.append((a, len(block)))
    return spans
