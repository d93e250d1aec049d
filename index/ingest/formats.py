"""Per-format parsers: bytes or text in, quotable text plus headings out.

Each parser leans on a maintained library (markdown-it-py, docutils, BeautifulSoup with
lxml, pypdf) for structure and only maps what it finds back to offsets in the text.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass

from index.ingest.lines import LineIndex
from index.types import Heading

log = logging.getLogger(__name__)

_BINARY_SNIFF_BYTES = 8192


class DocumentSkipped(Exception):
    """Raised by a parser for a file that cannot be indexed; the message says why."""


@dataclass(frozen=True, slots=True)
class ParsedText:
    text: str
    title: str | None = None
    headings: tuple[Heading, ...] = ()
    page_starts: tuple[int, ...] = ()
    source_url: str | None = None
    body_start: int = 0
    # (start, end) of each code block (fenced or indented Markdown code, reStructuredText
    # literal blocks and code directives, HTML <pre>): a quote never starts in one's middle.
    code_blocks: tuple[tuple[int, int], ...] = ()


def decode_text(data: bytes) -> str:
    """Decode a text file: UTF-8 first, then the best guess of charset-normalizer.

    Raises ``DocumentSkipped`` for binary content (NUL bytes) or content no text
    encoding explains.
    """
    if b"\x00" in data[:_BINARY_SNIFF_BYTES]:
        raise DocumentSkipped("binary content (NUL bytes) in a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise DocumentSkipped("not valid UTF-8 and no other text encoding fits")
    # Among equally plausible guesses, Windows-1252 (a superset of Latin-1) is by far
    # the likeliest for legacy documents; short texts otherwise tie with cp1250 and co.
    least_chaos = min(m.chaos for m in matches)
    best = next((m for m in matches if m.chaos == least_chaos and m.encoding == "cp1252"), matches[0])
    log.info("decoded_with_fallback", extra={"encoding": best.encoding})
    return str(best)


_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?\r?\n)?---[ \t]*(\r?\n|\Z)", re.DOTALL)


def _front_matter(text: str) -> tuple[dict[str, str], int]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, 0
    import yaml

    try:
        data = yaml.safe_load(match.group(1) or "") or {}
    except yaml.YAMLError:
        return {}, 0
    if not isinstance(data, dict):
        return {}, 0
    return {str(k): str(v) for k, v in data.items() if v is not None}, match.end()


def parse_markdown(text: str) -> ParsedText:
    """Markdown: headings from markdown-it-py's token line map; optional YAML front
    matter (``title``, ``source_url`` or ``url``) is read and kept out of quotes."""
    from markdown_it import MarkdownIt

    meta, body_start = _front_matter(text)
    # Blank the front matter (keeping its line breaks) so it is not read as a heading.
    masked = re.sub(r"[^\n]", " ", text[:body_start]) + text[body_start:]
    lines = LineIndex(text)
    tokens = MarkdownIt("commonmark").parse(masked)
    headings: list[Heading] = []
    code_blocks: list[tuple[int, int]] = []
    for i, token in enumerate(tokens):
        if token.type in ("fence", "code_block") and token.map:
            first, after = token.map
            end = lines.start_of_line(after + 1) if after < lines.count else len(text)
            code_blocks.append((lines.start_of_line(first + 1), end))
        if token.type == "heading_open" and token.map:
            heading = tokens[i + 1].content.strip() if i + 1 < len(tokens) else ""
            if heading:
                start = lines.start_of_line(token.map[0] + 1)
                headings.append(Heading(start, int(token.tag[1]), heading))
    title = meta.get("title") or next((h.title for h in headings if h.level == 1), None)
    return ParsedText(
        text=text,
        title=title,
        headings=tuple(headings),
        source_url=meta.get("source_url") or meta.get("url"),
        body_start=body_start,
        code_blocks=tuple(code_blocks),
    )


def parse_rst(text: str) -> ParsedText:
    """reStructuredText: section titles from docutils, located on their source lines."""
    from docutils import nodes
    from docutils.core import publish_doctree

    doctree = publish_doctree(
        text,
        settings_overrides={
            "report_level": 5,
            "halt_level": 5,
            "doctitle_xform": False,
            "file_insertion_enabled": False,
            "raw_enabled": False,
            "warning_stream": io.StringIO(),
        },
    )
    lines = LineIndex(text)
    source_lines = text.split("\n")
    headings: list[Heading] = []
    for section in doctree.findall(nodes.section):
        title_node = section.next_node(nodes.title)
        if title_node is None or title_node.line is None:
            continue
        title = title_node.astext().strip()
        depth = sum(1 for p in _ancestors(section) if isinstance(p, nodes.section))
        # docutils reports the underline's line; the title is usually just above it.
        for line_no in (title_node.line - 1, title_node.line, title_node.line - 2):
            if 1 <= line_no <= len(source_lines) and source_lines[line_no - 1].strip() == title:
                headings.append(Heading(lines.start_of_line(line_no), depth, title))
                break
    headings.sort(key=lambda h: h.start)
    title = next((h.title for h in headings if h.level == 1), None)
    return ParsedText(text=text, title=title, headings=tuple(headings), code_blocks=rst_code_blocks(text))


# What introduces a reStructuredText code block: a paragraph ending in "::" (a literal
# block follows), or a code directive ("code-block" and friends are Sphinx's).
_RST_CODE_DIRECTIVE = re.compile(
    r"^[ \t]*\.\.[ \t]+(?:code-block|code|sourcecode|doctest|testcode|testoutput|highlight|ipython|jupyter-execute)::"
)
_RST_DIRECTIVE_OPTION = re.compile(r"^[ \t]*:[\w-]+:")


def rst_code_blocks(text: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of the literal blocks and code directives of reStructuredText, and of
    its doctest blocks (paragraphs of ">>> " lines). Found on lines, as the markup defines
    them: docutils' tree does not say where a literal block starts in the source."""
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    blocks: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        directive = _RST_CODE_DIRECTIVE.match(line) is not None
        if directive or (stripped.endswith("::") and not stripped.startswith("..")):
            indent = len(line) - len(line.lstrip())
            body = i + 1
            if directive:  # the directive's own options belong to it
                while body < len(lines) and _RST_DIRECTIVE_OPTION.match(lines[body]):
                    body += 1
            last = body
            j = body
            while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
                if lines[j].strip():
                    last = j + 1
                j += 1
            if last > body:
                first_line = i if directive else next(k for k in range(body, last) if lines[k].strip())
                blocks.append((starts[first_line], min(starts[last] - 1, len(text))))
                i = last
                continue
        elif stripped.startswith(">>> "):
            j = i
            while j < len(lines) and lines[j].strip():
                j += 1
            blocks.append((starts[i], min(starts[j] - 1, len(text))))
            i = j
            continue
        i += 1
    return tuple(blocks)


def _ancestors(node):  # type: ignore[no-untyped-def]
    while node is not None:
        yield node
        node = node.parent


def parse_pdf(data: bytes) -> ParsedText:
    """PDF: the text of each page, pages separated by a blank line; page starts kept."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentSkipped("the PDF is encrypted")
        pieces: list[str] = []
        starts: list[int] = []
        offset = 0
        for page in reader.pages:
            page_text = (page.extract_text() or "").strip("\n")
            starts.append(offset)
            pieces.append(page_text)
            offset += len(page_text) + 2
        title = None
        if reader.metadata is not None and reader.metadata.title:
            title = str(reader.metadata.title)
    except DocumentSkipped:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentSkipped(f"broken PDF ({exc})") from exc
    return ParsedText(text="\n\n".join(pieces), title=title, page_starts=tuple(starts))
