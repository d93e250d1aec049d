"""Several processes on one index: a reader (a shard without shard 0) never builds, waits for
the writer's first build, and swaps in each new build the writer makes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bot.service import AnswerService
from index import EngineConfig, update_index
from index.store import IndexDirectory
from tests.conftest import HashingEmbedder

LLAMAS = "# Llamas\n\nLlamas hum when they are anxious or curious.\n"
ALPACAS = "# Alpacas\n\nAlpacas are shorn every spring for their fleece.\n"


def config(tmp_path: Path) -> EngineConfig:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    return EngineConfig(documents_dir=docs, index_dir=tmp_path / "index", reader=False)


async def test_a_reader_waits_for_the_writer_then_follows_its_rebuilds(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    (cfg.documents_dir / "llamas.md").write_text(LLAMAS)
    reader = AnswerService(cfg, HashingEmbedder(), writer=False)
    try:
        loading = asyncio.ensure_future(reader.load_once())
        await asyncio.sleep(0.7)
        assert not loading.done() and not (cfg.index_dir / "CURRENT").exists()  # waiting, not building
        # The writer (another process in production) builds the index: the reader loads it.
        await asyncio.to_thread(update_index, cfg, HashingEmbedder())
        assert await asyncio.wait_for(loading, 10) is None
        assert [d.path for d in reader.documents()] == ["llamas.md"]

        following = asyncio.ensure_future(reader.follow(interval=0.05))
        (cfg.documents_dir / "alpacas.md").write_text(ALPACAS)
        await asyncio.to_thread(update_index, cfg, HashingEmbedder())
        async with asyncio.timeout(10):
            while len(reader.documents()) < 2:
                await asyncio.sleep(0.05)
        answer = await reader.ask("When are alpacas shorn?")
        assert answer.passages[0].document == "alpacas.md"
        following.cancel()
    finally:
        reader.close()


async def test_a_reader_does_not_update_a_stale_index(tmp_path: Path) -> None:
    """Documents changed since the build: the writer updates the index at start, a reader
    answers from it as it is (a second builder would be refused by the build lock)."""
    cfg = config(tmp_path)
    (cfg.documents_dir / "llamas.md").write_text(LLAMAS)
    await asyncio.to_thread(update_index, cfg, HashingEmbedder())
    (cfg.documents_dir / "alpacas.md").write_text(ALPACAS)
    builds = sorted((cfg.index_dir / "builds").iterdir())
    reader = AnswerService(cfg, HashingEmbedder(), writer=False)
    try:
        assert await reader.load_once() is None
        assert [d.path for d in reader.documents()] == ["llamas.md"]
        assert sorted((cfg.index_dir / "builds").iterdir()) == builds
    finally:
        reader.close()


async def test_a_reader_waits_while_the_writer_rebuilds_an_index_an_older_version_wrote(tmp_path: Path) -> None:
    """After an upgrade every shard starts on an index of another model: the writer rebuilds
    it, and a reader waits for that build instead of stopping with a mismatch error."""
    cfg = config(tmp_path)
    (cfg.documents_dir / "llamas.md").write_text(LLAMAS)
    await asyncio.to_thread(update_index, cfg, HashingEmbedder())
    manifest_file = IndexDirectory(cfg.index_dir).current_build() / "manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    manifest_file.write_text(json.dumps({**manifest, "model": "an-older-model"}), encoding="utf-8")
    reader = AnswerService(cfg, HashingEmbedder(), writer=False)
    try:
        loading = asyncio.ensure_future(reader.load_once())
        await asyncio.sleep(0.7)
        assert not loading.done()  # neither stopped nor answering from the old model's vectors
        writer = AnswerService(cfg, HashingEmbedder(), writer=True)
        try:
            assert await writer.load_once() is not None  # it rebuilt the index
        finally:
            writer.close()
        assert await asyncio.wait_for(loading, 10) is None
        answer = await reader.ask("When do llamas hum?")
        assert answer.passages[0].document == "llamas.md"
    finally:
        reader.close()
