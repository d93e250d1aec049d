"""The engine as the bot sees it: async, off the event loop, with a hot-swappable index.

Questions run on a small thread pool; a reindex runs on its own thread, so questions keep
being answered from the old index while it works. The new engine replaces the old one in a
single assignment once it has loaded, which is atomic for readers.

Several bot processes (shards) may share one index directory: only the writer builds it;
the others wait for it and load it read-only, and every process reloads when ``CURRENT``
names a new build (see :meth:`AnswerService.follow`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import numpy as np

from bot.engine_factory import open_index
from index import (
    Answer,
    BuildReport,
    DocumentInfo,
    Embedder,
    Engine,
    EngineConfig,
    IndexMismatchError,
    IndexNotFoundError,
    Passage,
    ReindexInProgressError,
    VerbatimError,
)
from index.store import IndexDirectory

log = logging.getLogger(__name__)

#: How often a shard process looks whether another process swapped in a new build.
FOLLOW_SECONDS = 5.0

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ReindexProgress:
    stage: str
    done: int
    total: int


class AnswerService:
    """Async facade over :class:`Engine` for the bot and the console chat."""

    def __init__(
        self, config: EngineConfig, embedder: Embedder, *, query_threads: int = 2, writer: bool = True
    ) -> None:
        self.config = config
        self.embedder = embedder
        #: False in a shard process that only reads the index another process builds.
        self.writer = writer
        self._engine: Engine | None = None
        self._build: str | None = None  # the CURRENT build the engine was loaded from
        self._queries = ThreadPoolExecutor(max_workers=query_threads, thread_name_prefix="verbatim-query")
        self._builds = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verbatim-build")
        self._reindex_lock = asyncio.Lock()
        self._loading: asyncio.Future[BuildReport | None] | None = None
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        #: Called on the event loop each time an index is loaded or swapped in (health, logs).
        self.on_loaded: Callable[[Engine], None] | None = None

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        future = pool.submit(functools.partial(fn, *args, **kwargs))
        with self._in_flight_lock:
            self._in_flight += 1
        future.add_done_callback(self._finished)  # when the thread is done, even if the caller gave up
        return await asyncio.wrap_future(future)

    def _finished(self, future: object) -> None:
        with self._in_flight_lock:
            self._in_flight -= 1

    @property
    def busy(self) -> bool:
        """Is a worker thread still doing engine work (a build, a load, a question)?"""
        with self._in_flight_lock:
            return self._in_flight > 0

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def _swap(self, engine: Engine, build: str | None) -> None:
        self._build = build
        self._engine = engine  # atomic: in-flight questions finish on the old engine
        if self.on_loaded is not None:
            self.on_loaded(engine)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise IndexNotFoundError("The index is not loaded yet.", hint="Try again in a moment.")
        return self._engine

    @property
    def reindexing(self) -> bool:
        return self._reindex_lock.locked()

    async def load_once(self) -> BuildReport | None:
        """:meth:`load`, shared by everyone who waits for it (the runner starts it while it
        logs in; the bot's setup hook waits for the same load)."""
        if self._loading is None:
            self._loading = asyncio.ensure_future(self.load())
        return await asyncio.shield(self._loading)

    async def load(self, *, build_if_missing: bool = True) -> BuildReport | None:
        """Load the index (building it first if there is none) and warm the model."""

        def first_build() -> None:
            log.info("no_index_building", extra={"docs": str(self.config.documents_dir)})

        if not self.writer:
            await self._wait_for_writer()
            engine, build = await self._load_as_reader()
            report = None
        else:
            engine, report = await self._run(
                self._builds,
                open_index,
                self.config,
                self.embedder,
                build="if-missing" if build_if_missing else "never",
                on_first_build=first_build,
                on_stale=lambda changed: log.warning(
                    "documents_changed_updating_index", extra={"documents": changed[:20]}
                ),
                on_outdated=lambda why: log.warning("index_outdated_rebuilding", extra={"reason": why}),
            )
            build = await asyncio.to_thread(self.live_build)
        await self._run(self._queries, self.embedder.embed_query, "warm up")
        self._swap(engine, build)
        return report

    def live_build(self) -> str | None:
        """The name of the build ``CURRENT`` points to now (None: no index yet)."""
        try:
            return IndexDirectory(self.config.index_dir).current_build().name
        except VerbatimError:
            return None

    async def _load_as_reader(self, interval: float = 0.5) -> tuple[Engine, str | None]:
        """The index as it is; one an older version wrote is the writer's to rebuild (it does
        so as it starts, after an upgrade), so wait for its new build instead of stopping."""
        while True:
            build = await asyncio.to_thread(self.live_build)
            try:
                engine, _ = await self._run(self._builds, open_index, self.config, self.embedder, build="never")
                return engine, build
            except IndexMismatchError as exc:
                log.warning("index_outdated_waiting_for_writer", extra={"build": build, "reason": exc.message})
            while await asyncio.to_thread(self.live_build) == build:
                await asyncio.sleep(interval)

    async def _wait_for_writer(self, interval: float = 0.5) -> None:
        # A reader never builds: two processes building the same folder at start-up would
        # have one of them refused by the build lock and stop.
        if await asyncio.to_thread(IndexDirectory(self.config.index_dir).exists):
            return
        log.info("waiting_for_index", extra={"index": str(self.config.index_dir)})
        while not await asyncio.to_thread(IndexDirectory(self.config.index_dir).exists):
            await asyncio.sleep(interval)

    async def follow(self, interval: float = FOLLOW_SECONDS) -> None:
        """Reload whenever ``CURRENT`` names a build other than the loaded one: another
        process (the writer's scheduled sync, or /reindex on another shard) rebuilt the index."""
        while True:
            await asyncio.sleep(interval)
            build = await asyncio.to_thread(self.live_build)
            if build is None or build == self._build or self.reindexing or self._engine is None:
                continue
            try:
                engine, _ = await self._run(self._builds, open_index, self.config, self.embedder, build="never")
            except VerbatimError as exc:  # the loaded index keeps answering
                log.warning("index_reload_failed", extra={"build": build, "error": str(exc)})
                self._build = build  # not retried until CURRENT changes again
                continue
            self._swap(engine, build)
            log.info("index_reloaded", extra={"build": build, "chunks": engine.chunk_count})

    async def ask(self, question: str, *, k: int | None = None) -> Answer:
        return await self._run(self._queries, self.engine.ask, question, k=k)

    async def search(self, query: str, *, k: int = 10) -> list[Passage]:
        return await self._run(self._queries, self.engine.search, query, k=k)

    async def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for ``texts`` with the engine's model (the gap report groups questions by them)."""
        return await self._run(self._queries, self.embedder.embed_documents, texts)

    async def section_opening(self, document: str, section: tuple[str, ...]) -> Passage:
        return await self._run(self._queries, self.engine.section_opening, document, section)

    def documents(self) -> list[DocumentInfo]:
        return self.engine.documents()

    def document(self, path: str) -> DocumentInfo:
        return self.engine.document(path)

    async def reindex(
        self, on_progress: Callable[[ReindexProgress], None] | None = None, *, only: str | None = None
    ) -> tuple[BuildReport, float]:
        """Rebuild in the background and swap the new index in; refuses a second one at once.
        ``only``: fetch just this source first (the others are indexed as last synced)."""
        if self._reindex_lock.locked():
            raise ReindexInProgressError("A reindex is already running.", hint="Wait for it to finish.")
        async with self._reindex_lock:
            started = time.perf_counter()
            loop = asyncio.get_running_loop()

            def progress(stage: str, done: int, total: int) -> None:
                if on_progress is not None:
                    loop.call_soon_threadsafe(on_progress, ReindexProgress(stage, done, total))

            engine, report = await self._run(
                self._builds, open_index, self.config, self.embedder, build="always", progress=progress, only=only
            )
            assert report is not None
            self._swap(engine, await asyncio.to_thread(self.live_build))
            return report, time.perf_counter() - started

    def close(self) -> None:
        self._queries.shutdown(wait=False, cancel_futures=True)
        self._builds.shutdown(wait=False, cancel_futures=True)
