"""Odd and hostile files in the documents folder: each is indexed correctly or skipped with
its reason; none stops the build, escapes the folder, or breaks a quote."""

import os

import pytest

from index import Engine, EngineConfig, build_index
from index.ingest import ChunkingParams


@pytest.fixture
def hostile_docs(tmp_path):
    docs = tmp_path / "docs"
    (docs / "nested" / ".secret").mkdir(parents=True)
    files = {
        "empty.md": b"",
        "whitespace.txt": b" \n\t\r\n ",
        "binary.md": bytes(range(256)) * 40,
        "invalid-utf8.txt": b"Caf\xe9 au lait costs \xa33.50 in the old station.\xff\xfe\n",
        "latin1.txt": "Le garçon a mangé une crème brûlée à la gare.".encode("latin-1"),
        "one-line.txt": ("llama " * 175_000).encode(),  # ~1 MB on one line
        "crlf.md": b"# Windows\r\n\r\nFirst line here.\r\nSecond line about zebras.\r\n\r\nThird paragraph on otters.\r\n",
        "deep.md": (
            ">" * 3000
            + " deep quote about ferrets\n\n"
            + "- " * 2000
            + "deep list\n\n"
            + "| a | b |\n|---|---|\n"
            + "| walrus | tusk |\n" * 500
        ).encode(),
        "broken.html": b"<html><body><p>Unclosed <b>bold <script>alert('pwned')</script><style>p{}</style>"
        b"<table><tr><td>cell one<td>cell two</table><p>Penguins waddle. <div",
        "deep.html": ("<div>" * 20000 + "Narwhals have tusks." + "</div>" * 20000).encode(),
        "fake.pdf": b"%PDF-1.7\n this is not a pdf at all",
        "photo.jpg": b"\xff\xd8\xff\xe0" + b"\x00" * 100,
        ".hidden.md": b"# Hidden\n\nNever index me.",
        "nested/.secret/inside.md": b"Inside a hidden folder.",
        "nested/ok.md": b"# Nested\n\nBeavers build dams.",
    }
    for name, data in files.items():
        (docs / name).write_bytes(data)
    (tmp_path / "outside.txt").write_text("The password is hunter2.")
    os.symlink(tmp_path / "outside.txt", docs / "escape.txt")
    os.symlink(tmp_path, docs / "parent-dir")
    return docs


def test_hostile_folder_builds_reports_each_skip_and_answers(tmp_path, hostile_docs, embedder):
    config = EngineConfig(
        documents_dir=hostile_docs, index_dir=tmp_path / "index", chunking=ChunkingParams(max_chars=400), threshold=0.1
    )
    report = build_index(config, embedder)
    skipped = {s.path: s.reason for s in report.skipped}
    assert "no text" in skipped["empty.md"] and "no text" in skipped["whitespace.txt"]
    assert "binary" in skipped["binary.md"]
    assert "PDF" in skipped["fake.pdf"]
    assert "unsupported" in skipped["photo.jpg"]
    assert "outside" in skipped["escape.txt"]
    indexed = set(report.added)
    assert {
        "invalid-utf8.txt",
        "latin1.txt",
        "one-line.txt",
        "crlf.md",
        "deep.md",
        "broken.html",
        "deep.html",
        "nested/ok.md",
    } <= indexed
    assert not any(".hidden" in p or ".secret" in p or "parent-dir" in p for p in indexed | set(skipped))

    engine = Engine.load(config, embedder)
    everything = " ".join(
        p.text for q in ("password hunter2", "alert pwned", "Never index me") for p in engine.search(q, k=20)
    )
    assert "hunter2" not in everything and "alert(" not in everything and "Never index me" not in everything

    crlf = engine.ask("Second line about zebras", k=1).passages[0]
    # CRLF lines count as an editor counts them; the quote may take the sentence before it along.
    assert crlf.text.endswith("Second line about zebras.") and crlf.line_end == 4
    assert crlf.line_start == (3 if crlf.text.startswith("First line here.") else 4)
    assert engine.ask("Third paragraph otters", k=1).passages[0].line_start == 6
    assert engine.ask("crème brûlée gare", k=1).passages[0].document == "latin1.txt"
    assert engine.ask("Narwhals tusks", k=1).passages[0].text == "Narwhals have tusks."
    assert engine.ask("Penguins waddle", k=1).passages[0].document == "broken.html"
    long_line = [p for p in engine.search("llama", k=20) if p.document == "one-line.txt"]
    assert long_line and all(len(p.text) <= 400 for p in long_line)
