"""How a passage is cited, the same in Discord, the terminal and JSON."""

from __future__ import annotations

from index import Passage

# Formats whose quoted text is extracted from markup: their line numbers count lines of the
# extracted text (what is quoted), not of the file, and the citation must say so.
EXTRACTED_TEXT_SUFFIXES = (".html", ".htm", ".xhtml")


def citation(passage: Passage) -> str:
    """``file › Section, lines a–b``; for HTML, ``… of the extracted text``."""
    text = passage.citation
    if passage.document.lower().endswith(EXTRACTED_TEXT_SUFFIXES):
        return f"{text} of the extracted text"
    return text
