"""Visible text of an HTML page, with headings kept as structure.

BeautifulSoup (lxml parser) does the parsing; this module only walks the tree, dropping
what a reader never sees (scripts, styles, navigation) and laying block elements out as
paragraphs separated by blank lines, so sentence and chunk boundaries follow the page.
"""

from __future__ import annotations

import re

from index.types import Heading

_INVISIBLE = frozenset(
    {"script", "style", "noscript", "template", "head", "svg", "canvas", "iframe", "object",
     "nav", "header", "footer", "aside", "form", "button", "select", "input", "textarea"}
)
_SKIPPED_ROLES = frozenset({"navigation", "search", "banner", "contentinfo", "complementary"})
_SKIPPED_CLASS = re.compile(r"(^|[-_])(nav|navigation|sidebar|sphinxsidebar|related|footer|breadcrumbs?)($|[-_])")
_BLOCKS = frozenset(
    {"p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "table",
     "tr", "thead", "tbody", "blockquote", "pre", "figure", "figcaption", "body", "br", "hr",
     "h1", "h2", "h3", "h4", "h5", "h6", "caption", "address", "details", "summary"}
)
_CELLS = frozenset({"td", "th"})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_SPACE = re.compile(r"[ \t\r\n\f\v]+")


class _TextBuilder:
    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.current: list[str] = []
        self.headings: list[Heading] = []
        self.length = 0  # length of "\n\n".join(blocks) so far

    def add_inline(self, text: str) -> None:
        self.current.append(text)

    def break_block(self) -> str | None:
        block = _SPACE.sub(" ", "".join(self.current)).strip()
        self.current = []
        return self._push(block) if block else None

    def add_preformatted(self, text: str) -> None:
        self.break_block()
        text = text.strip("\n")
        if text.strip():
            self._push(text)

    def _push(self, block: str) -> str:
        if self.blocks:
            self.length += 2
        start = self.length
        self.blocks.append(block)
        self.length += len(block)
        self._last_start = start
        return block

    def add_heading(self, level: int, text: str) -> None:
        self.break_block()
        title = _SPACE.sub(" ", text).strip()
        if title:
            self._push(title)
            self.headings.append(Heading(self._last_start, level, title))

    def text(self) -> str:
        self.break_block()
        return "\n\n".join(self.blocks)


def _hidden(tag) -> bool:  # type: ignore[no-untyped-def]
    if tag.name in _INVISIBLE:
        return True
    attrs = tag.attrs or {}
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    if attrs.get("role") in _SKIPPED_ROLES:
        return True
    classes = attrs.get("class") or []
    return any(_SKIPPED_CLASS.search(c.lower()) for c in classes)


_END_BLOCK = object()  # stack marker: a block element's children are done


def _walk(root, out: _TextBuilder) -> None:  # type: ignore[no-untyped-def]
    """Depth-first, with an explicit stack: deeply nested pages must not exhaust recursion."""
    from bs4 import Comment, NavigableString, Tag

    stack: list[object] = list(reversed(list(root.children)))
    while stack:
        node = stack.pop()
        if node is _END_BLOCK:
            out.break_block()
            continue
        if isinstance(node, Comment):
            continue
        if isinstance(node, NavigableString):
            out.add_inline(str(node))
            continue
        if not isinstance(node, Tag) or _hidden(node):
            continue
        name = node.name
        children = list(reversed(list(node.children)))
        if name in _HEADINGS:
            out.add_heading(_HEADINGS[name], node.get_text(" "))
        elif name == "pre":
            out.add_preformatted(node.get_text())
        elif name in _BLOCKS:
            out.break_block()
            stack.append(_END_BLOCK)
            stack.extend(children)
        elif name in _CELLS:
            out.add_inline(" ")
            stack.append(NavigableString(" "))
            stack.extend(children)
        else:
            stack.extend(children)


def parse_html(html: str):  # type: ignore[no-untyped-def]
    import warnings

    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    from index.formats import ParsedText

    with warnings.catch_warnings():
        # XHTML pages (PostgreSQL's docs, for one) are fine to read as HTML.
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(html, "lxml")
    title_tag = soup.find("title")
    title = _SPACE.sub(" ", title_tag.get_text()).strip() if title_tag else None
    canonical = soup.find("link", rel="canonical")
    og_url = soup.find("meta", property="og:url")
    source_url = None
    if canonical is not None and canonical.get("href"):
        source_url = str(canonical["href"])
    elif og_url is not None and og_url.get("content"):
        source_url = str(og_url["content"])
    root = soup.find("main") or soup.find(None, {"role": "main"}) or soup.body or soup
    builder = _TextBuilder()
    _walk(root, builder)
    text = builder.text()
    return ParsedText(text=text, title=title or None, headings=tuple(builder.headings), source_url=source_url)
