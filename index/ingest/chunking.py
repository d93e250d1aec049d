"""Documents to chunks: windows of whole sentences inside one section.

Pure functions, no I/O. A chunk never crosses a heading, holds at most ``max_chars``
characters (about ``max_chars / 4`` word pieces, inside the embedding model's sequence
limit), and repeats the last ``overlap`` sentences of the previous chunk so an answer
that straddles a boundary is still whole in one of them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

from index.ingest.documents import Document
from index.ingest.lines import LineIndex
from index.ingest.sentences import split_sentences
from index.types import Chunk, Heading


@dataclass(frozen=True, slots=True)
class ChunkingParams:
    max_chars: int = 800
    overlap: int = 1  # sentences repeated from the previous chunk

    def __post_init__(self) -> None:
        if self.max_chars < 50:
            raise ValueError("chunk size must be at least 50 characters")
        if self.overlap < 0:
            raise ValueError("chunk overlap cannot be negative")


def chunk_document(document: Document, params: ChunkingParams) -> list[Chunk]:
    text = document.text
    lines = LineIndex(text)
    chunks: list[Chunk] = []
    code_blocks = sorted(document.code_blocks)
    inside_code = _CodeInteriors(text, code_blocks)
    heading_starts = {h.start for h in document.headings if not h.entry}
    for section, start, end in _sections(document):
        sentences = _bounded(split_sentences(text, start, end, code_blocks), text, params.max_chars)
        sentences = [s for s in sentences if s[0] not in heading_starts]
        for window in _windows(sentences, params):
            a, b = window[0][0], window[-1][1]
            line_start, line_end = lines.span_lines(a, b)
            chunks.append(
                Chunk(
                    document=document.path,
                    start=a,
                    end=b,
                    line_start=line_start,
                    line_end=line_end,
                    section=section,
                    text=text[a:b],
                    sentences=tuple(window),
                    page=_page_of(document, a),
                    mid_code=tuple(i for i, (s, _) in enumerate(window) if inside_code.holds(s)),
                )
            )
    return chunks


class _CodeInteriors:
    """Whether an offset lies inside a code block, past its first character: where a long
    block was cut into pieces, and where no quote may start."""

    def __init__(self, text: str, code_blocks: list[tuple[int, int]]) -> None:
        self._heads = []
        self._ends = []
        for start, end in code_blocks:
            while start < end and text[start].isspace():
                start += 1
            self._heads.append(start)
            self._ends.append(end)

    def holds(self, offset: int) -> bool:
        k = bisect.bisect_right(self._heads, offset) - 1
        return k >= 0 and self._heads[k] < offset < self._ends[k]


def _sections(document: Document) -> Iterator[tuple[tuple[str, ...], int, int]]:
    """(heading path, start, end) for the text before the first heading and each section."""
    stack: list[Heading] = []
    position = document.body_start
    path: tuple[str, ...] = ()
    for heading in sorted(document.headings, key=lambda h: h.start):
        if heading.start < position:
            continue
        yield path, position, heading.start
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        stack.append(heading)
        path = tuple(h.title for h in stack)
        position = heading.start
    yield path, position, len(document.text)


def _bounded(sentences: list[tuple[int, int]], text: str, max_chars: int) -> list[tuple[int, int]]:
    """Cut any sentence longer than ``max_chars`` into pieces, at a line break or else at
    whitespace if possible (a long code block is cut between its lines).

    This is what keeps a 1 MB single-line file from becoming one giant chunk.
    """
    out: list[tuple[int, int]] = []
    for a, b in sentences:
        while b - a > max_chars:
            cut = text.rfind("\n", a + max_chars // 2, a + max_chars)
            if cut <= a:
                cut = text.rfind(" ", a + max_chars // 2, a + max_chars)
            cut = cut if cut > a else a + max_chars
            piece_end = cut
            while piece_end > a and text[piece_end - 1].isspace():
                piece_end -= 1
            out.append((a, piece_end))
            a = cut
            while a < b and text[a].isspace():
                a += 1
        if a < b:
            out.append((a, b))
    return out


def _windows(sentences: list[tuple[int, int]], params: ChunkingParams) -> Iterator[list[tuple[int, int]]]:
    i = 0
    n = len(sentences)
    while i < n:
        j = i + 1
        while j < n and sentences[j][1] - sentences[i][0] <= params.max_chars:
            j += 1
        yield sentences[i:j]
        if j >= n:
            return
        i = max(i + 1, j - params.overlap)


def _page_of(document: Document, offset: int) -> int | None:
    if not document.page_starts:
        return None
    return bisect.bisect_right(document.page_starts, offset)
