"""API reference pages: each entry (Sphinx's ``<dl class="py function"><dt id=...>``) is a
section of its own, so a chunk never mixes two functions, the model reads the signature
with the description, and a citation links to the entry. The signature stays quotable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from index import Engine, build_index
from index.ingest import ChunkingParams, chunk_document, parse_document
from index.links import passage_link
from index.quotes import quote_windows

PAGES = Path(__file__).parent / "pages"
SPHINX_PAGE = "sphinx-python-os-path.html"

NESTED = (
    "<html><body><main><h1>queue</h1>"
    '<dl class="py class"><dt class="sig" id="queue.Queue">class queue.Queue(maxsize=0)'
    '<a class="headerlink" href="#queue.Queue">¶</a></dt>'
    "<dd><p>Constructor for a FIFO queue.</p>"
    '<dl class="py method"><dt class="sig" id="queue.Queue.put">put(item)'
    '<a class="headerlink" href="#queue.Queue.put">¶</a></dt>'
    "<dd><p>Put item into the queue.</p></dd></dl></dd></dl>"
    "<h2>Examples</h2><p>Queues hand work between threads.</p>"
    "</main></body></html>"
)


def sphinx_document():  # type: ignore[no-untyped-def]
    return parse_document(SPHINX_PAGE, (PAGES / SPHINX_PAGE).read_bytes())


def test_each_entry_opens_a_section_at_its_signature_with_its_anchor():
    document = sphinx_document()
    entries = {h.title: h for h in document.headings if h.entry}
    abspath = entries["os.path.abspath(path)"]
    assert abspath.anchor == "os.path.abspath"
    assert document.text[abspath.start :].startswith("os.path.abspath(path)\n\nReturn a normalized")
    assert "¶" not in document.text


def test_a_chunk_never_mixes_two_entries_and_keeps_the_signature_quotable():
    document = sphinx_document()
    chunks = chunk_document(document, ChunkingParams(max_chars=800, overlap=1))
    (abspath,) = [c for c in chunks if "Return a normalized absolutized version" in c.text]
    assert abspath.section[-1] == "os.path.abspath(path)"
    assert abspath.text.startswith("os.path.abspath(path)")
    assert "os.path.basename" not in abspath.text
    first_sentence = abspath.sentences[0]
    assert document.text[first_sentence[0] : first_sentence[1]] == "os.path.abspath(path)"


def test_nested_entries_nest_and_a_heading_after_them_closes_them():
    document = parse_document("queue.html", NESTED.encode())
    chunks = chunk_document(document, ChunkingParams(max_chars=800, overlap=0))
    sections = {c.text.split("\n")[0]: c.section for c in chunks}
    assert sections["put(item)"] == ("queue", "class queue.Queue(maxsize=0)", "put(item)")
    assert sections["class queue.Queue(maxsize=0)"] == ("queue", "class queue.Queue(maxsize=0)")
    assert sections["Queues hand work between threads."] == ("queue", "Examples")


def test_a_quote_from_an_entry_is_cited_at_the_entry(tmp_path, config, embedder):
    docs = tmp_path / "api-docs"
    docs.mkdir()
    (docs / SPHINX_PAGE).write_bytes((PAGES / SPHINX_PAGE).read_bytes())
    config = dataclasses.replace(config, documents_dir=docs)
    build_index(config, embedder)
    engine = Engine.load(config, embedder)
    top = engine.search("normalized absolutized version of the pathname", k=1)[0]
    assert top.section[-1] == "os.path.abspath(path)"
    assert engine.manifest.documents[SPHINX_PAGE].anchors
    record = dataclasses.replace(engine.manifest.documents[SPHINX_PAGE], link="https://docs.example/{anchor}")
    assert passage_link(record, top.start, top.line_start, top.line_end) == "https://docs.example/#os.path.abspath"


def test_texinfo_permalinks_are_dropped_from_text_and_titles():
    html = (
        '<html><body><dl class="first-deftypefn"><dt class="deftypefn" id="index-ffi_005fcall">'
        '<span>void <strong>ffi_call</strong> (ffi_cif *cif)<a class="copiable-link" href="#index-ffi_005fcall"> ¶</a>'
        "</span></dt><dd><p>This calls the function fn according to the description given in cif.</p></dd></dl>"
        "</body></html>"
    )
    document = parse_document("libffi.html", html.encode())
    assert "¶" not in document.text
    (entry,) = [h for h in document.headings if h.entry]
    assert entry.title == "void ffi_call (ffi_cif *cif)" and entry.anchor == "index-ffi_005fcall"


def test_a_signature_is_quoted_with_the_paragraph_under_it():
    """A signature line is no sentence of its own paragraph: a quote may hold it and the
    description after the blank line, so "what does abspath do" can quote both."""
    document = sphinx_document()
    chunks = chunk_document(document, ChunkingParams(max_chars=800, overlap=1))
    (abspath,) = [c for c in chunks if "Return a normalized absolutized version" in c.text]
    assert (0, 1) in quote_windows(abspath, 500)
