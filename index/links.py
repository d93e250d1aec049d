"""Where a citation links to: the cited lines at the recorded commit, or the page's heading.

A document's link template (see ``DocumentRecord.link``) keeps ``{line_start}``,
``{line_end}`` and ``{anchor}`` open until a passage is cited; the anchor is the id of the
nearest heading above the passage that has one.
"""

from __future__ import annotations

import bisect

from index.store import DocumentRecord


def passage_link(record: DocumentRecord, start: int, line_start: int, line_end: int) -> str | None:
    """The link of a passage starting at offset ``start``: its lines, or its section's anchor."""
    if record.link is None:
        return record.source_url
    anchor = ""
    if record.anchors:
        at = bisect.bisect_right([offset for offset, _ in record.anchors], start) - 1
        if at >= 0:
            anchor = "#" + record.anchors[at][1]
    return (
        record.link.replace("{line_start}", str(line_start))
        .replace("{line_end}", str(line_end))
        .replace("{anchor}", anchor)
    )


def document_link(record: DocumentRecord) -> str | None:
    """The link of a whole document: its template without lines or anchor."""
    if record.link is None:
        return record.source_url
    if "{line_start}" in record.link or "{line_end}" in record.link:
        return record.link.split("#", 1)[0]
    return record.link.replace("{anchor}", "")
