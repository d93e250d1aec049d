"""Code blocks in documents: each parser says where they are, a block is one sentence
(its "# comment" no heading, its "os.path." no full stop), and a quote never starts inside
a code block's middle."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from index import Engine, build_index
from index.ingest import ChunkingParams, chunk_document, parse_document

MARKDOWN = (
    "# Paths\n\n"
    "Join paths with the helper. For example:\n\n"
    "```python\n"
    "# build the path\n"
    "import os.path\n"
    "full = os.path.join(base, name). strip()\n"
    "```\n\n"
    "That is all there is to it.\n"
)

RST = (
    "Paths\n=====\n\n"
    "Join paths with the helper::\n\n"
    "    import os.path\n"
    "    # build it\n\n"
    "    full = os.path.join(base, name)\n\n"
    "Or with a directive:\n\n"
    ".. code-block:: python\n"
    "   :linenos:\n\n"
    "   print(full)\n\n"
    "A session:\n\n"
    ">>> 1 + 1\n"
    "2\n\n"
    "The end.\n"
)

HTML = (
    "<html><head><title>Paths</title></head><body><main><h1>Paths</h1>"
    "<p>Join paths with the helper.</p>"
    "<div class='highlight'><pre>import os.path\n# build it\nfull = os.path.join(base, name)\n</pre></div>"
    "<p>That is all.</p></main></body></html>"
)

# A long example: the question's words sit only in its middle lines.
LONG_EXAMPLE = "\n".join(
    ["# Configure the scheduler", "", "```python", "import scheduler", ""]
    + [f"scheduler.register('task_{n}', every={n}, retries=3)" for n in range(30)]
    + ["zebra_quokka_frobnicate = scheduler.frobnicate(zebra=True, quokka=7)"]
    + [f"scheduler.register('late_{n}', every={n}, retries=3)" for n in range(30)]
    + ["```", "", "The scheduler runs every task on its own interval.", ""]
)


def blocks(relative: str, text: str) -> list[str]:
    document = parse_document(relative, text.encode())
    return [document.text[a:b] for a, b in document.code_blocks]


def test_markdown_fenced_block_is_found_whole():
    (block,) = blocks("paths.md", MARKDOWN)
    assert block.startswith("```python\n# build the path")
    assert block.rstrip().endswith("```")


def test_rst_literal_block_directive_and_doctest_are_found():
    found = blocks("paths.rst", RST)
    assert found[0].startswith("    import os.path") and found[0].endswith("os.path.join(base, name)")
    assert found[1].startswith(".. code-block:: python") and found[1].endswith("print(full)")
    assert found[2] == ">>> 1 + 1\n2"
    assert len(found) == 3  # "Or with a directive:" (one colon) introduces no literal block


def test_html_pre_is_found_in_the_visible_text():
    (block,) = blocks("paths.html", HTML)
    assert block == "import os.path\n# build it\nfull = os.path.join(base, name)"


@pytest.mark.parametrize(("relative", "text"), [("paths.md", MARKDOWN), ("paths.rst", RST), ("paths.html", HTML)])
def test_a_code_block_is_one_sentence(relative, text):
    document = parse_document(relative, text.encode())
    sentences = [document.text[a:b] for c in chunk_document(document, ChunkingParams()) for a, b in c.sentences]
    for a, b in document.code_blocks:
        code = document.text[a:b].strip()
        assert code in sentences, f"{code!r} was split into {sentences}"


def test_a_long_code_block_is_cut_between_lines_and_its_pieces_are_marked():
    document = parse_document("scheduler.md", LONG_EXAMPLE.encode())
    chunks = chunk_document(document, ChunkingParams(max_chars=400, overlap=1))
    pieces = [(c, i) for c in chunks for i in range(len(c.sentences))]
    marked = [c.sentences[i] for c, i in pieces if i in c.mid_code]
    assert marked, "the pieces after the first of a long block are not marked"
    (code_start, code_end) = document.code_blocks[0]
    for a, _ in marked:
        assert code_start < a < code_end
        assert document.text[a - 1] == "\n", "a long code block was cut inside a line"
    first_piece = next(c.sentences[i] for c, i in pieces if c.sentences[i][0] == code_start)
    assert first_piece not in marked


@pytest.fixture
def code_docs(tmp_path: Path) -> Path:
    folder = tmp_path / "code-docs"
    folder.mkdir()
    (folder / "scheduler.md").write_text(LONG_EXAMPLE, encoding="utf-8")
    return folder


def test_no_quote_starts_inside_a_code_blocks_middle(code_docs, config, embedder):
    config = dataclasses.replace(config, documents_dir=code_docs, chunking=ChunkingParams(max_chars=400, overlap=1))
    build_index(config, embedder)
    engine = Engine.load(config, embedder)
    text = (code_docs / "scheduler.md").read_text(encoding="utf-8")
    code_start = text.index("```python")
    code_end = text.rindex("```") + 3
    passages = engine.search("zebra quokka frobnicate", k=5)
    assert passages, "the example is never quoted"
    for passage in passages:
        assert text[passage.start : passage.end] == passage.text
        assert not code_start < passage.start < code_end, f"a quote starts mid-block: {passage.text[:60]!r}"
