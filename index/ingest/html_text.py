"""Visible text of an HTML page, with headings kept as structure.

BeautifulSoup (lxml parser) does the parsing; this module only walks the tree, dropping
what a reader never sees (scripts, styles) and the page furniture around the content
(navigation, headers and footers, sidebars, breadcrumbs, Next/Previous bars, tables of
contents, edit links, skip links, cookie banners), and laying block elements out as
paragraphs separated by blank lines, so sentence and chunk boundaries follow the page.

When a page has a clear main-content container (a documentation theme's body, ``main``,
``[role=main]``, a lone ``article``) only that is read; inside it and elsewhere the known
furniture of Sphinx, MkDocs, Docusaurus, Texinfo, DocBook, AsciiDoc and SQLite's pages is
dropped. The rules were taken from those generators' real pages (see tests/index/pages/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.ingest.formats import ParsedText
from index.types import Heading

_INVISIBLE = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "head",
        "svg",
        "canvas",
        "iframe",
        "object",
        "nav",
        "footer",
        "aside",
        "form",
        "button",
        "select",
        "input",
        "textarea",
    }
)
_SKIPPED_ROLES = frozenset({"navigation", "search", "banner", "contentinfo", "complementary", "doc-toc"})
# One class token, between separators: "md-sidebar", "wy-breadcrumbs", "theme-doc-toc-mobile",
# "pagination-nav", "rst-footer-buttons", "theme-edit-this-page". A token followed by
# "content" is the content itself (readthedocs' "wy-nav-content"), and so is a grid "for" it
# (readthedocs' "wy-grid-for-nav" holds the whole page): never furniture.
_SKIPPED_CLASS = re.compile(
    r"(?<!for)(^|[-_])(nav|navigation|navbar|sidebar|sphinxsidebar|related|footer|breadcrumbs?|toc|"
    r"table-of-contents|toccollapsible|pagination|pager|skip|skiptocontent|skip-link|edit-this-page|"
    r"editthispage|last-updated|announcement-bar|announce|banner|cookies?|consent|"
    r"navheader|navfooter|rst-versions|version-badge|md-source|md-top|md-dialog|md-tabs|"
    r"md-search|menu|mainmenu|submenu|tagline)($|[-_])(?!content)"
)
# "header" boxes are furniture unless they hold a heading (AsciiDoc's #header holds the h1;
# Texinfo's div.header holds only its Next/Previous/Up line).
_HEADER_CLASS = re.compile(r"(^|[-_])header($|[-_])")
_SKIPPED_IDS = frozenset(
    {
        "footer",
        "toc",
        "toctitle",
        "sidebar",
        "breadcrumbs",
        "navigation",
        "navbar",
        "cookie-banner",
        "cookie-consent",
        "skip-link",
    }
)
# Texinfo's "Table of Contents" boxes (6.x: div.Contents_element; 7.x: div.element-contents).
_TEXINFO_CONTENTS = frozenset(
    {
        "contents_element",
        "shortcontents_element",
        "element-contents",
        "element-shortcontents",
        "contents-heading",
        "shortcontents-heading",
    }
)
# Elements a class or id never removes: content structure, where Sphinx derives ids from
# titles (a section titled "Navigation" has id="navigation").
_NEVER_FURNITURE = frozenset(
    {
        "section",
        "article",
        "main",
        "body",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "dl",
        "dt",
        "dd",
        "li",
        "tr",
        "td",
        "th",
        "thead",
        "tbody",
        "code",
        "pre",
        "blockquote",
    }
)
_BLOCKS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "table",
        "tr",
        "thead",
        "tbody",
        "blockquote",
        "pre",
        "figure",
        "figcaption",
        "body",
        "br",
        "hr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "caption",
        "address",
        "details",
        "summary",
        "header",
    }
)
_CELLS = frozenset({"td", "th"})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_SPACE = re.compile(r"[ \t\r\n\f\v]+")

# A Next/Previous/Up bar written as plain links (Texinfo, texi2html, GNU manuals): besides
# its links it holds only these labels and punctuation.
_NAV_WORDS = frozenset({"next", "previous", "prev", "up", "top", "contents", "index", "home", "back", "forward"})
_NAV_RELS = frozenset({"next", "prev", "previous", "up", "start", "contents", "index", "top", "home"})
_NAV_PUNCTUATION = re.compile(r"[\[\]()|,:;.·«»<>←→↑?&/\-–—\s\u00a0]+")
_NAV_BAR_MAX_NODES = 80  # a bar is small; bigger blocks are never searched through
_NAV_BAR_TAGS = frozenset({"p", "div", "table"})
_SKIP_LINK = re.compile(r"^skip to\b", re.IGNORECASE)


class _TextBuilder:
    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.current: list[str] = []
        self.headings: list[Heading] = []
        self.code_blocks: list[tuple[int, int]] = []
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
            self.code_blocks.append((self._last_start, self.length))

    def _push(self, block: str) -> str:
        if self.blocks:
            self.length += 2
        start = self.length
        self.blocks.append(block)
        self.length += len(block)
        self._last_start = start
        return block

    def add_heading(self, level: int, text: str, anchor: str | None = None) -> None:
        self.break_block()
        title = _SPACE.sub(" ", text).strip()
        if title:
            self._push(title)
            self.headings.append(Heading(self._last_start, level, title, anchor))

    def end_entry(self, level: int, anchor: str) -> None:
        """The signature just read opens a section; it stays quotable text."""
        signature = self.break_block()
        if signature:
            title = signature if len(signature) <= _ENTRY_TITLE_CHARS else signature[: _ENTRY_TITLE_CHARS - 1] + "…"
            self.headings.append(Heading(self._last_start, level, title, anchor, entry=True))

    def text(self) -> str:
        self.break_block()
        return "\n\n".join(self.blocks)


def _bounded_descendants(tag, limit: int):  # type: ignore[no-untyped-def]
    """The tag's descendants, or None when there are more than ``limit``: the furniture
    tests look only at small elements, so deeply nested pages stay linear."""
    nodes = []
    for node in tag.descendants:
        nodes.append(node)
        if len(nodes) > limit:
            return None
    return nodes


def _has_heading(tag) -> bool:  # type: ignore[no-untyped-def]
    return tag.find(list(_HEADINGS)) is not None


def _is_nav_link(link) -> bool:  # type: ignore[no-untyped-def]
    rels = {r.lower() for r in (link.get("rel") or [])}
    return bool(rels & _NAV_RELS) or str(link.get("accesskey", "")).lower() in {"n", "p", "u"}


def _is_nav_label(link) -> bool:  # type: ignore[no-untyped-def]
    """A link that reads like a button of a bar: "Next", "Up", "[Contents]", "<<", "?";
    never code ("next()" in the Python docs links to the builtin)."""
    if link.find(["code", "tt", "kbd", "samp", "var"]) is not None:
        return False
    label = link.get_text(" ").strip() or " ".join(str(img.get("alt", "")) for img in link.find_all("img"))
    if not label.strip() or "(" in label:
        return False
    return set(_NAV_PUNCTUATION.sub(" ", label.lower()).split()) <= _NAV_WORDS


def _is_nav_bar(tag) -> bool:  # type: ignore[no-untyped-def]
    """A small block of links whose other text is only "Next:", "Previous:", "Up:",
    brackets and commas: "Next: Thread Safety, Previous: The Closure API, Up: Using libffi [Index]",
    or texi2html's "[ << ] [ >> ] [Top] [Contents] [Index] [ ? ]"."""
    from bs4 import NavigableString, Tag

    nodes = _bounded_descendants(tag, _NAV_BAR_MAX_NODES)
    if not nodes:
        return False
    links = [n for n in nodes if isinstance(n, Tag) and n.name == "a" and n.get("href")]
    if not links:
        return False
    inside_links = {id(n) for link in links for n in link.descendants}
    residual = [str(n) for n in nodes if isinstance(n, NavigableString) and id(n) not in inside_links]
    words = _NAV_PUNCTUATION.sub(" ", " ".join(residual).lower()).split()
    if not set(words) <= _NAV_WORDS:
        return False
    if words or any(_is_nav_link(link) for link in links):
        return True
    return len(links) >= 2 and all(_is_nav_label(link) for link in links)


def _furniture(tag, in_main: bool) -> bool:  # type: ignore[no-untyped-def]
    name = tag.name
    if name in _INVISIBLE:
        return True
    attrs = tag.attrs or {}
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    if attrs.get("role") in _SKIPPED_ROLES or "breadcrumb" in str(attrs.get("aria-label", "")).lower():
        return True
    if name == "header":  # a page's banner, unless it is the content's own title block
        return not (in_main and _has_heading(tag))
    if name == "a" and str(attrs.get("href", "")).startswith("#") and _SKIP_LINK.match(tag.get_text().strip()):
        return True
    if name == "a" and _is_permalink(tag):
        return True
    if name in _NEVER_FURNITURE:
        return False
    classes = [c.lower() for c in attrs.get("class") or []]
    if any(c in _TEXINFO_CONTENTS or _SKIPPED_CLASS.search(c) for c in classes):
        return True
    if str(attrs.get("id", "")).lower() in _SKIPPED_IDS and not _has_heading(tag):
        return True
    if any(_HEADER_CLASS.search(c) for c in classes) and not _has_heading(tag):
        return True
    return name in _NAV_BAR_TAGS and _is_nav_bar(tag)


_END_BLOCK = object()  # stack marker: a block element's children are done
# An API entry's signature (Sphinx's ``<dt id="os.path.join">``) opens a section this many
# levels below h6 per nesting depth: a method inside a class is one deeper.
_ENTRY_LEVEL = 6
_ENTRY_TITLE_CHARS = 120


@dataclass(frozen=True, slots=True)
class _EntryEnd:
    """Stack marker: the signature of an API entry is done; it opens a section."""

    level: int
    anchor: str


def _is_permalink(link) -> bool:  # type: ignore[no-untyped-def]
    """The "¶" after a heading or a signature (Sphinx's headerlink, Texinfo's copiable-link,
    MkDocs' anchor): a link, not text to quote."""
    classes = link.get("class") or []
    mark = link.get_text().strip()
    return "headerlink" in classes or mark == "¶" or ("anchor" in classes and mark in ("#", ""))


def _visible_text(tag) -> str:  # type: ignore[no-untyped-def]
    """The text of ``tag`` without its permalinks."""
    from bs4 import NavigableString

    return "".join(
        str(node)
        for node in tag.descendants
        if isinstance(node, NavigableString) and not any(p.name == "a" and _is_permalink(p) for p in node.parents)
    )


def _entry_depth(dt) -> int:  # type: ignore[no-untyped-def]
    """How many API entries (``<dl>`` whose signature has an id) hold this ``<dt>``, itself included."""
    return sum(1 for dl in dt.find_parents("dl") if dl.find("dt", id=True, recursive=False) is not None)


def _anchor(heading) -> str | None:  # type: ignore[no-untyped-def]
    """The id a link to this heading uses: its own, its permalink's (Sphinx's ``headerlink``),
    an ``<a id|name>`` inside it, or that of the section it opens (Sphinx, MkDocs)."""
    if heading.get("id"):
        return str(heading["id"])
    for link in heading.find_all("a"):
        href = str(link.get("href") or "")
        if href.startswith("#") and len(href) > 1:
            return href[1:]
        if link.get("id") or link.get("name"):
            return str(link.get("id") or link.get("name"))
    parent = heading.parent
    if parent is not None and parent.name in ("section", "div") and parent.get("id"):
        if parent.find(True) is heading:
            return str(parent["id"])
    return None


def _walk(root, out: _TextBuilder, in_main: bool) -> None:  # type: ignore[no-untyped-def]
    """Depth-first, with an explicit stack: deeply nested pages must not exhaust recursion."""
    from bs4 import Comment, NavigableString, Tag

    stack: list[object] = list(reversed(list(root.children)))
    while stack:
        node = stack.pop()
        if node is _END_BLOCK:
            out.break_block()
            continue
        if isinstance(node, _EntryEnd):
            out.end_entry(node.level, node.anchor)
            continue
        if isinstance(node, Comment):
            continue
        if isinstance(node, NavigableString):
            out.add_inline(str(node))
            continue
        if not isinstance(node, Tag) or _furniture(node, in_main):
            continue
        name = node.name
        children = list(reversed(list(node.children)))
        if name in _HEADINGS:
            out.add_heading(_HEADINGS[name], _visible_text(node), _anchor(node))
        elif name == "dt" and node.get("id") and node.parent is not None and node.parent.name == "dl":
            out.break_block()
            stack.append(_EntryEnd(_ENTRY_LEVEL + _entry_depth(node), str(node["id"])))
            stack.extend(children)
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


def _sphinx_body(soup):  # type: ignore[no-untyped-def]
    for body in soup.find_all("div", class_="body", limit=5):
        parent_classes = (body.parent.get("class") or []) if body.parent is not None else []
        if {"bodywrapper", "documentwrapper"} & set(parent_classes):
            return body
    return None


def _lone(tags):  # type: ignore[no-untyped-def]
    return tags[0] if len(tags) == 1 else None


# The main-content container, most specific first: Docusaurus' doc body, Sphinx's
# div.body, MkDocs Material's md-content, then the generic landmarks.
_MAIN_CONTENT = (
    lambda soup: soup.find(class_="theme-doc-markdown"),
    _sphinx_body,
    lambda soup: soup.find("div", class_="md-content"),
    lambda soup: soup.find(None, {"role": "main"}),
    lambda soup: soup.find("main"),
    lambda soup: _lone(soup.find_all("article", limit=2)),
    lambda soup: soup.find("div", class_="document"),
)


def _read(soup) -> _TextBuilder:  # type: ignore[no-untyped-def]
    for find in _MAIN_CONTENT:
        root = find(soup)
        if root is not None:
            builder = _TextBuilder()
            _walk(root, builder, in_main=True)
            if builder.text().strip():
                return builder
            break  # an empty container (filled by a script): read the whole page instead
    builder = _TextBuilder()
    _walk(soup.body or soup, builder, in_main=False)
    return builder


def parse_html(html: str) -> ParsedText:
    import warnings

    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

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
    builder = _read(soup)
    text = builder.text()
    return ParsedText(
        text=text,
        title=title or None,
        headings=tuple(builder.headings),
        source_url=source_url,
        code_blocks=tuple(builder.code_blocks),
    )
