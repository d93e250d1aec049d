"""Offsets to 1-based line numbers."""

from __future__ import annotations

import bisect


class LineIndex:
    """Maps character offsets of a text to 1-based line numbers.

    Lines end at ``\\n``; a ``\\r\\n`` pair counts as one line break, so CRLF files
    number their lines the way an editor does.
    """

    __slots__ = ("_starts",)

    def __init__(self, text: str) -> None:
        starts = [0]
        find = text.find
        pos = find("\n")
        while pos != -1:
            starts.append(pos + 1)
            pos = find("\n", pos + 1)
        self._starts = starts

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset)

    def start_of_line(self, line: int) -> int:
        """Offset of the first character of 1-based ``line``."""
        return self._starts[line - 1]

    def span_lines(self, start: int, end: int) -> tuple[int, int]:
        """First and last line touched by ``text[start:end]`` (``end`` exclusive)."""
        return self.line_of(start), self.line_of(max(start, end - 1))

    @property
    def count(self) -> int:
        return len(self._starts)
