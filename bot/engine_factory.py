"""Builds the engine from settings; shared by the command line, the console chat and the bot."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Literal

from bot.settings import Settings
from index import Embedder, Engine, EngineConfig, IndexMismatchError, IndexNotFoundError, update_index
from index.build import Progress
from index.onnx_embedding import make_embedder as make_backend_embedder
from index.sources.sync import changed_since_build
from index.types import BuildReport

PREPARING_MODEL = "Preparing the embedding model (once, ~10 s)…"

#: When :func:`open_index` builds: never (an index must exist), only if there is none, or
#: always (bring it up to date first; unchanged documents are not embedded again).
BuildPolicy = Literal["never", "if-missing", "always"]


def _say_preparing() -> None:
    print(PREPARING_MODEL, file=sys.stderr, flush=True)


def make_embedder(settings: Settings) -> Embedder:
    """The configured model on the configured backend (ONNX int8 by default, exported
    once from the packaged weights into the user's model cache; torch fp32 as the fallback).
    The one-time export is announced on stderr: it takes seconds and would look like a hang."""
    return make_backend_embedder(
        settings.model,
        backend=settings.backend,
        cache_dir=settings.model_cache(),
        device=settings.device,
        allow_download=settings.allow_download,
        on_export=_say_preparing,
    )


def open_index(
    config: EngineConfig,
    embedder: Embedder,
    *,
    build: BuildPolicy = "if-missing",
    on_first_build: Callable[[], None] | None = None,
    on_stale: Callable[[list[str]], None] | None = None,
    on_outdated: Callable[[str], None] | None = None,
    progress: Progress | None = None,
    only: str | None = None,
) -> tuple[Engine, BuildReport | None]:
    """The one way to get a loaded engine: load the index, building it first as ``build`` says.
    Returns the engine and the build report (``None`` when nothing was built). ``only``: with
    ``"always"``, fetch only this source before the build. An index another version wrote
    (another model, embedder export or format) is rebuilt unless ``build`` is ``"never"``;
    ``on_outdated`` is told why first."""
    report = None
    if build == "always":
        report = update_index(config, embedder, progress=progress, only=only)
        return Engine.load(config, embedder), report
    try:
        engine = Engine.load(config, embedder)
    except IndexNotFoundError:
        if build == "never":
            raise
    except IndexMismatchError as exc:
        if build == "never":
            raise
        if on_outdated:
            on_outdated(exc.message)
        report = update_index(config, embedder, progress=progress)
        return Engine.load(config, embedder), report
    else:
        if build == "never":
            return engine, None
        # The documents may have changed while nothing was running (a new volume mounted into
        # the container, a git pull): bring the index up to date before answering.
        changed = changed_since_build(config, engine.manifest)
        if not changed:
            return engine, None
        if on_stale:
            on_stale(changed)
        report = update_index(config, embedder, progress=progress, fetch=False)
        return Engine.load(config, embedder), report
    if on_first_build:
        on_first_build()
    report = update_index(config, embedder, progress=progress)
    return Engine.load(config, embedder), report
