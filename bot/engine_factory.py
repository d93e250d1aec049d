"""Builds the engine from settings; shared by the command line and the bot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.settings import Settings
from index import Embedder, Engine, IndexNotFoundError, build_index
from index.build import Progress
from index.onnx_embedding import make_embedder as make_backend_embedder
from index.types import BuildReport


def make_embedder(settings: Settings) -> Embedder:
    """The configured model on the configured backend (ONNX int8 by default, exported
    once from the packaged weights into the model cache; torch fp32 as the fallback)."""
    return make_backend_embedder(
        settings.model,
        backend=settings.backend,
        cache_dir=model_cache_dir(settings),
        device=settings.device,
        allow_download=settings.allow_download,
    )


def model_cache_dir(settings: Settings) -> Path:
    """Beside the index by default (``.verbatim/models``), shared by the eval indexes."""
    return settings.model_cache_dir or settings.index_dir.parent / "models"


def open_engine(
    settings: Settings,
    embedder: Embedder,
    *,
    build_if_missing: bool = True,
    on_first_build: Callable[[], None] | None = None,
    progress: Progress | None = None,
) -> tuple[Engine, BuildReport | None]:
    """Load the index; with ``build_if_missing``, build it first when there is none."""
    config = settings.engine_config()
    try:
        return Engine.load(config, embedder), None
    except IndexNotFoundError:
        if not build_if_missing:
            raise
    if on_first_build:
        on_first_build()
    report = build_index(config, embedder, progress=progress)
    return Engine.load(config, embedder), report
