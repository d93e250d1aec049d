import dataclasses
import json
import os
import shutil

import pytest

from index import (
    CorruptIndexError,
    Engine,
    IndexMismatchError,
    IndexNotFoundError,
    NoDocumentsError,
    ReindexInProgressError,
    build_index,
)
from index.store import IndexDirectory, read_chunks
from tests.conftest import HashingEmbedder, on_vector_store


@pytest.fixture
def config(config, vector_store, tmp_path):
    """The engine tests run on each vector store (tests/conftest.py, VECTOR_STORES)."""
    return on_vector_store(config, vector_store, tmp_path)


def test_incremental_reindex_embeds_only_what_changed(config, embedder, docs_dir):
    first = build_index(config, embedder)
    assert sorted(first.added) == ["guide.md", "seed.txt"] and first.embedded_chunks == first.chunks
    embedder.embedded.clear()
    (docs_dir / "guide.md").write_text("# Guide\n\nLlamas now eat apples.\n", encoding="utf-8")
    (docs_dir / "new.txt").write_text("Alpacas are smaller than llamas.", encoding="utf-8")
    second = build_index(config, embedder)
    assert second.added == ("new.txt",) and second.changed == ("guide.md",) and second.unchanged == ("seed.txt",)
    assert all("Anthropic" not in text for text in embedder.embedded), "unchanged seed was embedded again"
    (docs_dir / "new.txt").unlink()
    third = build_index(config, embedder)
    assert third.removed == ("new.txt",) and third.embedded_chunks == 0
    engine = Engine.load(config, embedder)
    assert "new.txt" not in {d.path for d in engine.documents()}
    assert engine.ask("What do llamas eat now?").passages[0].text == "Llamas now eat apples."


def test_failed_build_leaves_the_previous_index_answering(config, embedder, docs_dir):
    build_index(config, embedder)
    before = Engine.load(config, embedder).ask("How much can a llama carry?").passages[0].text
    (docs_dir / "more.md").write_text("# More\n\n" + "Another sentence here. " * 200, encoding="utf-8")
    embedder.fail_after = len(embedder.embedded) + 3
    with pytest.raises(RuntimeError, match="injected"):
        build_index(config, embedder)
    embedder.fail_after = None
    engine = Engine.load(config, embedder)
    assert "more.md" not in {d.path for d in engine.documents()}
    assert engine.ask("How much can a llama carry?").passages[0].text == before
    assert not list(IndexDirectory(config.index_dir).builds.glob("*.partial"))


def test_a_second_builder_is_refused_while_one_is_writing(config, embedder, docs_dir):
    build_index(config, embedder)
    directory = IndexDirectory(config.index_dir)
    live = directory.current_build()
    (docs_dir / "new.txt").write_text("Alpacas hum when they are curious.", encoding="utf-8")
    with directory.write_lock():  # another process's build, as far as the lock can tell
        with pytest.raises(ReindexInProgressError, match="Another build"):
            build_index(config, embedder)
        assert directory.current_build() == live
    assert build_index(config, embedder).added == ("new.txt",)  # once it is done, the next one runs


def test_manifest_records_model_chunking_versions_and_hashes(config, embedder, vector_store):
    build_index(config, embedder)
    build = IndexDirectory(config.index_dir).current_build()
    manifest = json.loads((build / "manifest.json").read_text())
    assert manifest["model"] == HashingEmbedder.name and manifest["dimension"] == 256
    assert manifest["chunking"] == {"max_chars": 400, "overlap": 1, "sentences": 2}
    assert {"faiss-cpu", "bm25s", "numpy"} <= set(manifest["versions"])
    assert len(manifest["documents"]["seed.txt"]["sha256"]) == 64
    in_the_build = {"faiss": {"vectors.npy", "dense.faiss"}, "qdrant": {"lexical/terms.json"}}
    assert {"chunks/rows.npy", "chunks/text.bin", *in_the_build[vector_store]} <= set(manifest["files"])
    assert manifest.get("vector_store", {}).get("kind", "faiss") == vector_store


def test_missing_index_says_how_to_build_one(config, embedder):
    with pytest.raises(IndexNotFoundError, match="verbatim index"):
        Engine.load(config, embedder)


def test_a_different_model_is_refused_with_the_way_out(config, embedder):
    build_index(config, embedder)

    class OtherModel(HashingEmbedder):
        name = "another-model"

    with pytest.raises(IndexMismatchError, match="another-model.*verbatim index"):
        Engine.load(config, OtherModel())


@pytest.mark.parametrize("damage", ["truncate", "garble", "delete"])
def test_damaged_index_files_are_detected_on_load(config, embedder, damage, vector_store):
    build_index(config, embedder)
    Engine.load(config, embedder, verify=True)  # whole: every checksum matches
    damaged = "vectors.npy" if vector_store == "faiss" else "sentence_vectors.npy"  # Qdrant holds the vectors
    target = IndexDirectory(config.index_dir).current_build() / damaged
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "garble":
        data = bytearray(target.read_bytes())
        data[-10] ^= 0xFF
        target.write_bytes(bytes(data))
    else:
        target.unlink()
    with pytest.raises(CorruptIndexError, match=f"file {damaged} .*--rebuild"):
        # A changed byte keeps the size: only the full checksums see it.
        Engine.load(config, embedder, verify=damage == "garble")


def test_corrupt_previous_index_is_rebuilt_from_scratch(config, embedder):
    build_index(config, embedder)
    (IndexDirectory(config.index_dir).current_build() / "chunks" / "names.json").write_text("garbage")
    report = build_index(config, embedder)
    assert report.rebuilt and len(report.added) == 2
    assert Engine.load(config, embedder).ask("llama carry").passages


def test_empty_documents_folder_keeps_the_old_index(config, embedder, docs_dir):
    build_index(config, embedder)
    shutil.rmtree(docs_dir)
    docs_dir.mkdir()
    with pytest.raises(NoDocumentsError):
        build_index(config, embedder)
    assert len(Engine.load(config, embedder).documents()) == 2


def test_broken_file_is_skipped_and_named_without_stopping_the_build(config, embedder, docs_dir):
    (docs_dir / "broken.pdf").write_bytes(b"%PDF-1.4 nonsense")
    (docs_dir / "binary.md").write_bytes(os.urandom(2000).replace(b"\x00", b"") + b"\x00")
    report = build_index(config, embedder)
    reasons = {s.path: s.reason for s in report.skipped}
    assert "PDF" in reasons["broken.pdf"] and "binary" in reasons["binary.md"]
    assert sorted(report.added) == ["guide.md", "seed.txt"]


def test_stored_sentence_tokens_are_the_bm25_tokens_of_the_text(config, embedder):
    from index.lexical import chunk_tokens, tokenize
    from index.store import read_chunks

    build_index(config, embedder)
    chunks = read_chunks(IndexDirectory(config.index_dir).current_build())
    assert chunks and all(len(c.sentence_tokens) == len(c.sentences) for c in chunks)
    for chunk in chunks:
        assert chunk_tokens(chunk) == tokenize(chunk.text)


def test_an_index_written_without_stored_tokens_still_answers(config, embedder, docs_dir):
    from index.store import write_chunks

    build_index(config, embedder)
    build = IndexDirectory(config.index_dir).current_build()
    stripped = [dataclasses.replace(c, sentence_tokens=()) for c in read_chunks(build)]
    shutil.rmtree(build / "chunks")
    write_chunks(build, stripped)  # the store tokenizes what comes without tokens
    engine = Engine.load(config, embedder, verify=False)
    assert engine.ask("How much can a llama carry?").passages[0].text.endswith("A llama can carry 25 kg over 20 km.")


def _reads(monkeypatch) -> list[str]:
    """The documents a build reads from disk, in order."""
    import index.build

    read: list[str] = []
    original = index.build.read_bytes

    def reading(candidate, max_bytes):
        read.append(candidate.relative)
        return original(candidate, max_bytes)

    monkeypatch.setattr(index.build, "read_bytes", reading)
    return read


def _age(folder, seconds=3600):
    for path in folder.iterdir():
        status = path.stat()
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns - seconds * 10**9))


def test_a_reindex_reads_only_files_whose_size_or_time_changed(config, embedder, docs_dir, monkeypatch):
    _age(docs_dir)
    build_index(config, embedder)
    read = _reads(monkeypatch)
    guide = docs_dir / "guide.md"
    # The same size, other words, and a new modification time: read, and seen as changed.
    guide.write_text(guide.read_text(encoding="utf-8").replace("llama", "camel"), encoding="utf-8")
    report = build_index(config, embedder)
    assert read == ["guide.md"] and report.changed == ("guide.md",) and "seed.txt" in report.unchanged


def test_a_file_modified_just_before_it_was_read_is_read_again(config, embedder, docs_dir, monkeypatch):
    """Its time may not change with a second edit in the same clock tick: it is not trusted."""
    build_index(config, embedder)
    read = _reads(monkeypatch)
    report = build_index(config, embedder)
    assert sorted(read) == ["guide.md", "seed.txt"] and report.embedded_chunks == 0
    _age(docs_dir)
    build_index(config, embedder)  # read once more, now old enough to be trusted
    read.clear()
    report = build_index(config, embedder)
    assert read == [] and sorted(report.unchanged) == ["guide.md", "seed.txt"]


def test_a_touched_file_is_read_but_not_embedded_again(config, embedder, docs_dir, monkeypatch):
    _age(docs_dir)
    build_index(config, embedder)
    os.utime(docs_dir / "seed.txt")
    read = _reads(monkeypatch)
    embedder.embedded.clear()
    report = build_index(config, embedder)
    assert read == ["seed.txt"] and report.embedded_chunks == 0 and report.changed == ()


def test_the_start_up_check_reads_only_files_whose_size_or_time_changed(config, embedder, docs_dir, monkeypatch):
    import index.sources.sync as sync

    _age(docs_dir)
    build_index(config, embedder)
    manifest = Engine.load(config, embedder).manifest
    read: list[str] = []
    original = sync.read_bytes
    monkeypatch.setattr(
        sync, "read_bytes", lambda candidate, limit: read.append(candidate.relative) or original(candidate, limit)
    )
    assert sync.changed_since_build(config, manifest) == [] and read == []
    guide = docs_dir / "guide.md"
    guide.write_text(guide.read_text(encoding="utf-8").replace("llama", "camel"), encoding="utf-8")
    assert sync.changed_since_build(config, manifest) == ["guide.md"] and read == ["guide.md"]


def test_a_reindex_with_nothing_new_writes_no_build_but_keeps_the_new_file_times(
    config, embedder, docs_dir, monkeypatch
):
    _age(docs_dir)
    build_index(config, embedder)
    live = IndexDirectory(config.index_dir).current_build()
    status = (docs_dir / "seed.txt").stat()
    os.utime(docs_dir / "seed.txt", ns=(status.st_atime_ns, status.st_mtime_ns + 60 * 10**9))  # touched
    report = build_index(config, embedder)
    assert IndexDirectory(config.index_dir).current_build() == live
    assert report.embedded_chunks == 0 and sorted(report.unchanged) == ["guide.md", "seed.txt"]
    read = _reads(monkeypatch)
    build_index(config, embedder)
    assert read == []  # the touched file's new time was kept
    Engine.load(config, embedder, verify=True)  # and the manifest still vouches for every file
