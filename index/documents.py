"""Find the documents under a folder and read each into text plus structure.

A :class:`Document`'s ``text`` is what quotes are cut from: for plain text, Markdown and
reStructuredText it is the file's decoded content, unchanged (no newline translation), so
offsets and line numbers point into the file itself. For HTML it is the visible text and
for PDF the text of each page, since those files hold no quotable text as such.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from index import formats
from index.html_text import parse_html
from index.types import Heading, SkippedFile

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".text", ".rst", ".html", ".htm", ".pdf"})
DEFAULT_MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Document:
    path: str  # relative to the documents folder, with forward slashes
    text: str
    sha256: str
    title: str
    headings: tuple[Heading, ...] = ()
    page_starts: tuple[int, ...] = ()  # offset where each PDF page begins
    source_url: str | None = None
    body_start: int = 0  # where quotable text starts (after front matter)


class DocumentSkipped(Exception):
    """Raised by a loader for a file that cannot be indexed; the message says why."""


@dataclass(frozen=True, slots=True)
class Candidate:
    path: Path
    relative: str
    size: int


def discover(root: Path) -> tuple[list[Candidate], list[SkippedFile]]:
    """Every indexable file under ``root``, and the files passed over, with reasons.

    Hidden files and folders are ignored silently (``.git``, editor swap files). Symbolic
    links are never followed out of ``root``.
    """
    root = root.resolve()
    found: list[Candidate] = []
    skipped: list[SkippedFile] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath, name)
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root):
                    skipped.append(SkippedFile(relative, "symbolic link to a file outside the documents folder"))
                    continue
                if not target.is_file():
                    skipped.append(SkippedFile(relative, "broken symbolic link"))
                    continue
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                skipped.append(SkippedFile(relative, f"unsupported file type {path.suffix or '(none)'}"))
                continue
            try:
                size = path.stat().st_size
            except OSError as exc:
                skipped.append(SkippedFile(relative, f"cannot read: {exc.strerror}"))
                continue
            found.append(Candidate(path, relative, size))
    return found, skipped


def read_bytes(candidate: Candidate, max_bytes: int) -> bytes:
    if candidate.size > max_bytes:
        raise DocumentSkipped(f"too large ({candidate.size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB)")
    try:
        with open(candidate.path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise DocumentSkipped(f"cannot read: {exc.strerror}") from exc
    if len(data) > max_bytes:
        raise DocumentSkipped(f"too large (over {max_bytes / 1e6:.1f} MB)")
    return data


def parse_document(relative: str, data: bytes) -> Document:
    """Turn a file's bytes into a :class:`Document`, or raise :class:`DocumentSkipped`."""
    suffix = Path(relative).suffix.lower()
    digest = hashlib.sha256(data).hexdigest()
    if suffix == ".pdf":
        parsed = formats.parse_pdf(data)
    else:
        text = formats.decode_text(data)
        if suffix in (".md", ".markdown"):
            parsed = formats.parse_markdown(text)
        elif suffix == ".rst":
            parsed = formats.parse_rst(text)
        elif suffix in (".html", ".htm"):
            parsed = parse_html(text)
        else:
            parsed = formats.ParsedText(text=text)
    if not parsed.text[parsed.body_start :].strip():
        raise DocumentSkipped("no text in it")
    return Document(
        path=relative,
        text=parsed.text,
        sha256=digest,
        title=parsed.title or Path(relative).stem.replace("_", " ").replace("-", " "),
        headings=parsed.headings,
        page_starts=parsed.page_starts,
        source_url=parsed.source_url,
        body_start=parsed.body_start,
    )


def load_documents(root: Path, *, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES) -> Iterator[Document | SkippedFile]:
    """Yield each document under ``root`` in path order, or a :class:`SkippedFile` for
    each file that cannot be used. One broken file never stops the others."""
    candidates, skipped = discover(root)
    yield from skipped
    for candidate in candidates:
        try:
            yield parse_document(candidate.relative, read_bytes(candidate, max_bytes))
        except DocumentSkipped as exc:
            yield SkippedFile(candidate.relative, str(exc))
        except Exception as exc:  # a parser bug must not stop the build
            log.warning("document_failed", extra={"document": candidate.relative}, exc_info=True)
            yield SkippedFile(candidate.relative, f"could not be parsed ({type(exc).__name__})")
