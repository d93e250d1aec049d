"""The columnar chunk store: what goes in comes out verbatim, rows are built only when read,
damage is refused with the way out, a reindex carries unchanged rows over, and an index of
the previous (chunks.jsonl) format still answers."""

import json
import shutil

import numpy as np
import pytest

from index import CorruptIndexError, Engine, build_index
from index.chunk_store import ChunkTable, bm25_tokens
from index.features import sentence_signals
from index.ingest import parse_document
from index.lexical import chunk_tokens
from index.store import (
    IndexDirectory,
    read_chunks,
    read_manifest,
    read_sentence_vectors,
    read_vectors,
    verify_index,
    write_manifest,
)


def _live(config):
    return IndexDirectory(config.index_dir).current_build()


def _many_documents(folder, count=40):
    for i in range(count):
        body = " ".join(f"Paragraph {i} sentence {j} talks about topic{i} and café{j}." for j in range(30))
        (folder / f"many{i:02d}.md").write_text(f"# Many {i}\n\n## Part\n\n{body}\n", encoding="utf-8")


def test_every_stored_chunk_is_its_document_text_at_its_offsets(config, embedder, docs_dir):
    _many_documents(docs_dir, 5)
    build_index(config, embedder)
    chunks = read_chunks(_live(config))
    texts = {p.name: parse_document(p.name, p.read_bytes()).text for p in docs_dir.iterdir()}
    assert len(chunks) > 10
    for chunk in chunks:
        text = texts[chunk.document]
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.sentences and all(chunk.start <= a < b <= chunk.end for a, b in chunk.sentences)
        assert len(chunk.sentence_tokens) == len(chunk.sentences)


def test_the_store_gives_back_exactly_the_chunks_it_was_given(config, embedder, docs_dir, tmp_path):
    _many_documents(docs_dir, 3)
    code = "\n".join(f"    result_{i} = compute(value_{i}, factor={i})" for i in range(40))
    (docs_dir / "code.md").write_text(f"# Code\n\nAn example:\n\n```python\n{code}\n```\n", encoding="utf-8")
    build_index(config, embedder)
    original = list(read_chunks(_live(config)))
    assert any(c.mid_code for c in original) and any(c.page is None for c in original)
    folder = tmp_path / "copy"
    folder.mkdir()
    ChunkTable.from_chunks(original).save(folder)
    again = ChunkTable.load(folder)
    assert list(again) == original
    assert again[-1] == original[-1] and again[1:3] == original[1:3]
    assert again.sentence_count == sum(len(c.sentences) for c in original)
    # BM25 is built from the token blob, without building rows: the same tokens either way.
    assert bm25_tokens(again) == bm25_tokens(original) == [chunk_tokens(c) for c in original]


def test_loading_and_answering_build_only_the_rows_they_read(config, embedder, docs_dir, monkeypatch):
    _many_documents(docs_dir)
    build_index(config, embedder)
    built = []
    real_build = ChunkTable._build
    monkeypatch.setattr(ChunkTable, "_build", lambda self, row: built.append(row) or real_build(self, row))
    engine = Engine.load(config, embedder)
    assert built == [] and engine.chunk_count > 100
    assert "topic7" in engine.ask("Which paragraph talks about topic7?").passages[0].text
    assert engine.documents() and 0 < len(set(built)) < engine.chunk_count // 2


@pytest.mark.parametrize("damaged", ["chunks/text.bin", "chunks/sentences.npy", "chunks/names.json"])
def test_a_truncated_store_is_refused_at_load_with_the_rebuild_hint(config, embedder, damaged):
    build_index(config, embedder)
    target = _live(config) / damaged
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    with pytest.raises(CorruptIndexError, match="verbatim index --rebuild"):
        Engine.load(config, embedder)


def test_a_file_of_another_size_than_written_is_refused_at_load(config, embedder):
    """A vector file with bytes past its data still maps; the manifest's sizes catch it."""
    build_index(config, embedder)
    with open(_live(config) / "sentence_vectors.npy", "ab") as handle:
        handle.write(b"\0" * 128)
    with pytest.raises(CorruptIndexError, match="sentence_vectors.npy.*verbatim index --rebuild"):
        Engine.load(config, embedder)


def test_a_store_whose_files_do_not_fit_together_is_refused(config, embedder, docs_dir, tmp_path):
    """Sizes in the manifest aside, the store checks its own shapes: a rows file from
    another build is caught when the store is mapped."""
    build_index(config, embedder)
    build = _live(config)
    other = tmp_path / "other"
    other.mkdir()
    ChunkTable.from_chunks(list(read_chunks(build))[:2]).save(other)
    shutil.copy(other / "chunks" / "rows.npy", build / "chunks" / "rows.npy")
    with pytest.raises(CorruptIndexError, match="rows.npy.*verbatim index --rebuild"):
        read_chunks(build)


def test_a_changed_byte_is_found_by_the_full_verification_only(config, embedder):
    build_index(config, embedder)
    checked = verify_index(config.index_dir)
    assert checked.chunks == len(read_chunks(_live(config))) and checked.files >= 10
    target = _live(config) / "chunks" / "text.bin"
    data = bytearray(target.read_bytes())
    data[3] ^= 0x01
    target.write_bytes(bytes(data))
    Engine.load(config, embedder)  # sizes match: the quick load check passes
    with pytest.raises(CorruptIndexError, match="chunks/text.bin.*verbatim index --rebuild"):
        verify_index(config.index_dir)


_VARIED = (
    "the river floods every spring after the snow melts.",
    "Maria Lopez and Tom Weber mapped it in 1997.",
    "Eleven bridges were built in March.",
    "nobody lives on the eastern bank.",
)


def _varied_documents(folder, count=6):
    """Sentences that differ in what the ranker's signals see (numbers, years, months, names),
    in a different order in each document, so that misaligned rows show."""
    for i in range(count):
        body = " ".join(_VARIED[(i * 3 + j * j) % len(_VARIED)].replace("it", f"river{i}") for j in range(25))
        (folder / f"varied{i:02d}.md").write_text(f"# Varied {i}\n\n{body}\n", encoding="utf-8")


def _assert_signals_are_the_sentences(table):
    for row in range(len(table)):
        chunk = table[row]
        texts = [chunk.text[a - chunk.start : b - chunk.start] for a, b in chunk.sentences]
        assert np.array_equal(table.sentence_signals(row), sentence_signals(texts)), f"row {row} of {chunk.document}"


def test_each_sentence_keeps_its_signals_through_the_store_a_reindex_and_an_upgrade(config, embedder, docs_dir):
    """The ranking signals stored per sentence are those of its text: as written, as carried
    over by a reindex, and for a format-3 store (none stored) until a reindex stores them."""
    _varied_documents(docs_dir)
    build_index(config, embedder)
    table = read_chunks(_live(config))
    assert len({tuple(map(tuple, table.sentence_signals(r))) for r in range(len(table))}) > 3
    _assert_signals_are_the_sentences(table)
    (docs_dir / "varied02.md").write_text("# Changed\n\nIn 1850, Anna Berg counted 40 boats.\n", encoding="utf-8")
    build_index(config, embedder)
    _assert_signals_are_the_sentences(read_chunks(_live(config)))

    question = "Who mapped river3 in 1997?"
    expected = [p.text for p in Engine.load(config, embedder).ask(question).passages]
    build = _live(config)
    manifest = read_manifest(build, expected_model=None)
    (build / "chunks" / "signals.npy").unlink()
    (build / "manifest.json").unlink()
    fields = {k: getattr(manifest, k) for k in ("model", "dimension", "chunking", "versions", "built_at")}
    write_manifest(build, fields | {"documents": manifest.documents, "dense_index": manifest.dense_index})
    data = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    (build / "manifest.json").write_text(json.dumps(data | {"format_version": 3}), encoding="utf-8")
    _assert_signals_are_the_sentences(read_chunks(build))
    assert [p.text for p in Engine.load(config, embedder, verify=True).ask(question).passages] == expected
    build_index(config, embedder)
    assert (_live(config) / "chunks" / "signals.npy").is_file()
    _assert_signals_are_the_sentences(read_chunks(_live(config)))


@pytest.mark.parametrize("change", ["changed", "removed"])
def test_a_reindex_carries_unchanged_rows_and_their_vectors_over(config, embedder, docs_dir, change):
    _many_documents(docs_dir, 6)
    build_index(config, embedder)
    build = _live(config)
    before = read_chunks(build)
    vectors, sentence_vectors = read_vectors(build), read_sentence_vectors(build)
    kept = {c.document for c in before} - {"many02.md"}
    if change == "removed":  # the rows after it move up with nothing in between
        (docs_dir / "many02.md").unlink()
        (docs_dir / "seed.txt").write_text("A new sentence about walruses.\n", encoding="utf-8")
        kept -= {"seed.txt"}
    else:
        (docs_dir / "many02.md").write_text("# Changed\n\nA new sentence about walruses.\n", encoding="utf-8")
    embedder.embedded.clear()
    report = build_index(config, embedder)
    assert report.embedded_chunks == 1
    assert report.changed == (("seed.txt",) if change == "removed" else ("many02.md",))
    after_build = _live(config)
    after = read_chunks(after_build)
    new_vectors, new_sentence_vectors = read_vectors(after_build), read_sentence_vectors(after_build)
    old_rows = {(c.document, c.start): i for i, c in enumerate(before)}
    carried = [i for i, c in enumerate(after) if c.document in kept]
    assert len(carried) == sum(1 for c in before if c.document in kept)
    for i in carried:
        old = old_rows[(after[i].document, after[i].start)]
        assert after[i] == before[old]
        assert np.array_equal(new_vectors[i], vectors[old])
        new_sentences = new_sentence_vectors[after.sentence_offsets[i] : after.sentence_offsets[i + 1]]
        old_sentences = sentence_vectors[before.sentence_offsets[old] : before.sentence_offsets[old + 1]]
        assert np.array_equal(new_sentences, old_sentences)
    engine = Engine.load(config, embedder, verify=True)
    assert engine.ask("What is the sentence about walruses?").passages[0].text == "A new sentence about walruses."


def _as_format_2(build) -> None:
    """Rewrite ``build`` as the previous release wrote it: chunks.jsonl, format 2."""
    manifest = read_manifest(build, expected_model=None)
    lines = [
        json.dumps(
            [
                c.document,
                c.start,
                c.end,
                c.line_start,
                c.line_end,
                list(c.section),
                c.text,
                [list(s) for s in c.sentences],
                c.page,
                list(c.sentence_tokens),
            ],
            ensure_ascii=False,
        )
        for c in read_chunks(build)
    ]
    shutil.rmtree(build / "chunks")
    (build / "chunks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (build / "manifest.json").unlink()
    fields = {k: getattr(manifest, k) for k in ("model", "dimension", "chunking", "versions", "built_at")}
    fields |= {"documents": manifest.documents, "dense_index": manifest.dense_index, "sources": manifest.sources}
    write_manifest(build, fields)
    data = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    (build / "manifest.json").write_text(json.dumps(data | {"format_version": 2}), encoding="utf-8")


def test_an_index_of_the_previous_format_answers_and_is_carried_into_the_new_one(config, embedder, docs_dir):
    build_index(config, embedder)
    question = "How much can a llama carry?"
    expected = Engine.load(config, embedder).ask(question).passages[0].text
    _as_format_2(_live(config))
    assert Engine.load(config, embedder, verify=True).ask(question).passages[0].text == expected
    report = build_index(config, embedder)
    assert report.embedded_chunks == 0 and not report.rebuilt
    assert (_live(config) / "chunks" / "rows.npy").is_file() and not (_live(config) / "chunks.jsonl").exists()
    assert Engine.load(config, embedder).ask(question).passages[0].text == expected
