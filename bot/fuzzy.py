""" "Did you mean": documents whose name or title is close to what was typed (rapidfuzz).

Names are compared without folder or extension, word by word in any order, so "notcies"
finds notices.md and "extra 1" finds more/extra-01.txt, while ".txt" alone matches nothing.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from rapidfuzz import fuzz, utils

from index import DocumentInfo

#: Below this (0-100) a name is not offered: "nope.txt" scores about 55 against notices.md.
CLOSE_ENOUGH = 70.0


def _stem(name: str) -> str:
    return posixpath.splitext(posixpath.basename(name.strip().replace("\\", "/")))[0]


def closest_documents(typed: str, documents: Sequence[DocumentInfo], *, limit: int = 3) -> list[str]:
    """Paths of the documents closest to ``typed``, best first; none below :data:`CLOSE_ENOUGH`."""
    query = _stem(typed)
    if not utils.default_process(query):
        return []
    scored = []
    for document in documents:
        score = max(
            fuzz.token_set_ratio(query, _stem(document.path), processor=utils.default_process),
            fuzz.token_set_ratio(query, document.title, processor=utils.default_process),
        )
        if score >= CLOSE_ENOUGH:
            scored.append((-score, document.path))
    return [path for _, path in sorted(scored)[:limit]]
