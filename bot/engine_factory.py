"""Builds the engine from settings; shared by the command line and the bot."""

from __future__ import annotations

from collections.abc import Callable

from bot.settings import Settings
from index import Engine, IndexNotFoundError, SentenceTransformerEmbedder, build_index
from index.build import Progress
from index.types import BuildReport


def make_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(settings.model, device=settings.device, allow_download=settings.allow_download)


def open_engine(
    settings: Settings,
    embedder: SentenceTransformerEmbedder,
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
