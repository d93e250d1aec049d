import os

import pytest

from index.ingest import DocumentSkipped, load_documents, parse_document
from index.types import SkippedFile
from tests.pdf import make_pdf


def loaded(folder):
    documents, skipped = {}, {}
    for item in load_documents(folder):
        if isinstance(item, SkippedFile):
            skipped[item.path] = item.reason
        else:
            documents[item.path] = item
    return documents, skipped


def test_markdown_headings_front_matter_and_exact_text():
    source = "---\ntitle: Llama care\nsource_url: https://example.org/llamas\n---\n# Llamas\r\n\r\nThey eat hay.\r\n\r\n## Food\r\n\r\nGrass too.\r\n"
    document = parse_document("llamas.md", source.encode())
    assert document.text == source
    assert document.title == "Llama care"
    assert document.source_url == "https://example.org/llamas"
    assert [(h.level, h.title) for h in document.headings] == [(1, "Llamas"), (2, "Food")]
    assert all(source[h.start :].startswith("#") for h in document.headings)
    assert document.body_start == source.index("# Llamas")


def test_restructuredtext_section_titles():
    source = "Guide\n=====\n\nIntro.\n\nInstall\n-------\n\nRun it.\n"
    document = parse_document("guide.rst", source.encode())
    assert [(h.level, h.title) for h in document.headings] == [(1, "Guide"), (2, "Install")]
    assert source[document.headings[1].start :].startswith("Install\n---")


def test_html_keeps_visible_text_and_headings_but_not_scripts_or_navigation():
    html = """<html><head><title>Page</title><script>alert('x')</script><link rel="canonical" href="https://ex.org/p"></head>
    <body><nav>Home | Next</nav><div role="main"><h1>Main title</h1><p>First <b>bold</b> paragraph.</p>
    <script>var hidden = 1;</script><style>p {}</style><h2>Part</h2><ul><li>One</li><li>Two</li></ul></div></body></html>"""
    document = parse_document("page.html", html.encode())
    assert "alert" not in document.text and "hidden" not in document.text and "Home" not in document.text
    assert "First bold paragraph." in document.text
    assert [(h.level, h.title) for h in document.headings] == [(1, "Main title"), (2, "Part")]
    assert document.title == "Page" and document.source_url == "https://ex.org/p"
    for heading in document.headings:
        assert document.text[heading.start :].startswith(heading.title)


def test_pdf_text_per_page_with_page_starts():
    document = parse_document("report.pdf", make_pdf(["Page one says hello.", "Page two says goodbye."]))
    assert "Page one says hello." in document.text and "Page two says goodbye." in document.text
    assert len(document.page_starts) == 2
    assert document.text[document.page_starts[1] :].startswith("Page two")
    assert document.title == "Test PDF"


def test_latin1_text_is_decoded():
    document = parse_document("old.txt", "Café crème brûlée, naïve façade, déjà vu.".encode("latin-1"))
    assert "Café crème brûlée" in document.text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"", "no text"),
        ("blank.txt", b"  \n\n\t ", "no text"),
        ("binary.txt", b"\x00\x01\x02PNG\x00" * 100, "binary"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
    ],
)
def test_unusable_files_are_refused_with_a_reason(name, content, reason):
    with pytest.raises(DocumentSkipped, match=reason):
        parse_document(name, content)


def test_folder_walk_skips_and_names_bad_files_without_stopping(tmp_path):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "good.md").write_text("# Good\n\nFine text.\n")
    (docs / "sub" / "also.txt").write_text("Also fine.")
    (docs / "image.png").write_bytes(b"\x89PNG\r\n")
    (docs / "empty.txt").write_text("")
    (docs / ".hidden.md").write_text("secret")
    (docs / "bin.md").write_bytes(b"\x00" * 64)
    outside = tmp_path / "outside.txt"
    outside.write_text("private data outside the documents")
    os.symlink(outside, docs / "link.txt")
    documents, skipped = loaded(docs)
    assert set(documents) == {"good.md", "sub/also.txt"}
    assert "unsupported" in skipped["image.png"]
    assert "no text" in skipped["empty.txt"]
    assert "binary" in skipped["bin.md"]
    assert "outside" in skipped["link.txt"]
    assert ".hidden.md" not in skipped and ".hidden.md" not in documents


def test_too_large_files_are_skipped(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "big.txt").write_text("x " * 2000)
    skipped = {i.path: i.reason for i in load_documents(docs, max_bytes=1000) if isinstance(i, SkippedFile)}
    assert "too large" in skipped["big.txt"]
