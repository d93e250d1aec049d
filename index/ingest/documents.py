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
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from index.ingest import formats
from index.ingest.formats import DocumentSkipped, ParsedText
from index.ingest.html_text import parse_html
from index.types import Heading, SkippedFile
from index.units import MB, size_text

log = logging.getLogger(__name__)

__all__ = ["DocumentSkipped", "Document", "DocumentRoot", "discover", "discover_roots", "parse_document"]


def _plain(text: str) -> ParsedText:
    return ParsedText(text=text)


# One table from suffix to parser: the text parsers take decoded text, PDF takes bytes.
_TEXT_PARSERS: dict[str, Callable[[str], ParsedText]] = {
    ".md": formats.parse_markdown,
    ".markdown": formats.parse_markdown,
    ".rst": formats.parse_rst,
    ".html": parse_html,
    ".htm": parse_html,
    ".txt": _plain,
    ".text": _plain,
}
_BYTES_PARSERS: dict[str, Callable[[bytes], ParsedText]] = {".pdf": formats.parse_pdf}
SUPPORTED_SUFFIXES = frozenset(_TEXT_PARSERS) | frozenset(_BYTES_PARSERS)
DEFAULT_MAX_DOCUMENT_BYTES = 20 * MB


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
    code_blocks: tuple[tuple[int, int], ...] = ()  # (start, end) of each code block


@dataclass(frozen=True, slots=True)
class Candidate:
    path: Path
    relative: str  # the document's name in the index (with its root's prefix)
    size: int
    root: DocumentRoot | None = None
    mtime_ns: int = 0  # when it was last modified, as discovery found it


@dataclass(frozen=True, slots=True)
class DocumentRoot:
    """A local folder of documents, as one source of the index.

    ``prefix`` starts each document's name (``"guide/"``), so two sources never clash;
    ``include`` globs (``docs/**/*.md``) narrow what is read; ``link`` is the citation link
    template with ``{path}`` and ``{commit}`` filled in here; ``urls`` names the page each
    file was fetched from (websites)."""

    folder: Path
    prefix: str = ""
    source: str | None = None
    include: tuple[str, ...] = ()
    link: str | None = None
    commit: str | None = None
    urls: Mapping[str, str] = field(default_factory=dict)

    def link_for(self, relative: str) -> str | None:
        """The link template of one file (``relative`` to the folder)."""
        if relative in self.urls:
            return self.urls[relative].replace("{", "%7B").replace("}", "%7D") + "{anchor}"
        if self.link is None:
            return None
        return self.link.replace("{path}", relative).replace("{commit}", self.commit or "HEAD")


def glob_pattern(pattern: str) -> re.Pattern[str]:
    """A path glob as a regular expression: ``**/`` any folders, ``*`` and ``?`` within one."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def discover_roots(roots: list[DocumentRoot]) -> tuple[list[Candidate], list[SkippedFile]]:
    """Every indexable file of every root, named with the root's prefix."""
    found: list[Candidate] = []
    skipped: list[SkippedFile] = []
    for root in roots:
        if not root.folder.is_dir():
            skipped.append(SkippedFile(root.prefix or str(root.folder), "the folder is missing (not synced yet?)"))
            continue
        patterns = [glob_pattern(p) for p in root.include]
        candidates, passed = discover(root.folder)
        for c in candidates:
            if patterns and not any(p.match(c.relative) for p in patterns):
                continue
            found.append(Candidate(c.path, root.prefix + c.relative, c.size, root, c.mtime_ns))
        skipped.extend(
            SkippedFile(root.prefix + s.path, s.reason)
            for s in passed
            if not patterns or any(p.match(s.path) for p in patterns)
        )
    return found, skipped


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
                status = path.stat()
            except OSError as exc:
                skipped.append(SkippedFile(relative, f"cannot read: {exc.strerror}"))
                continue
            found.append(Candidate(path, relative, status.st_size, mtime_ns=status.st_mtime_ns))
    return found, skipped


def read_bytes(candidate: Candidate, max_bytes: int) -> bytes:
    if candidate.size > max_bytes:
        raise DocumentSkipped(f"too large ({size_text(candidate.size)}; the limit is {size_text(max_bytes)})")
    try:
        with open(candidate.path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise DocumentSkipped(f"cannot read: {exc.strerror}") from exc
    if len(data) > max_bytes:
        raise DocumentSkipped(f"too large (over {size_text(max_bytes)})")
    return data


def parse_document(relative: str, data: bytes) -> Document:
    """Turn a file's bytes into a :class:`Document`, or raise :class:`DocumentSkipped`."""
    suffix = Path(relative).suffix.lower()
    digest = hashlib.sha256(data).hexdigest()
    if suffix in _BYTES_PARSERS:
        parsed = _BYTES_PARSERS[suffix](data)
    elif suffix in _TEXT_PARSERS:
        parsed = _TEXT_PARSERS[suffix](formats.decode_text(data))
    else:
        raise DocumentSkipped(f"unsupported file type {suffix or '(none)'}")
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
        code_blocks=parsed.code_blocks,
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
