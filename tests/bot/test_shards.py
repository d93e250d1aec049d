"""The bot past one process: two ``verbatim run`` processes, shards 0 and 1 of 2, one index,
one record, against the fake Discord that sends each guild's events to the shard owning it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import statistics
import time
from pathlib import Path

import discord
import pytest

from bot.community.record import Record
from bot.discord.client import VerbatimBot, make_bot
from bot.discord.render import unescape
from bot.service import AnswerService
from bot.settings import Settings
from tests.bot.conftest import embed_of, quotes_in
from tests.bot.test_run_subprocess import QUESTION, clean_env, seed_docs, verbatim_command
from tests.conftest import SEED, HashingEmbedder
from tests.fakediscord import FakeDiscord
from tests.fakediscord.fixtures import FAKE_TOKEN

GLOBAL_COMMANDS = "/applications/{application_id}/commands"
ASKS = 5  # per guild: the first answer, then a median of warm ones


def resident_mb(pid: int) -> dict[str, float]:
    """VmRSS, RssAnon and RssFile of a process, in MB (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


@pytest.mark.slow
async def test_two_shard_processes_each_answer_their_own_guild(
    fake_discord: FakeDiscord, tmp_path: Path, model_cache: Path
) -> None:
    fake = fake_discord
    guilds = [fake.add_guild("Shard zero's", shard=(0, 2)), fake.add_guild("Shard one's", shard=(1, 2))]
    docs = seed_docs(tmp_path)
    shared = {
        "DISCORD_TOKEN": FAKE_TOKEN,
        "VERBATIM_DISCORD_API_BASE": fake.api_base,
        "VERBATIM_DISCORD_GATEWAY_URL": fake.gateway_url,
        "VERBATIM_DOCS_DIR": str(docs),
        "VERBATIM_INDEX_DIR": str(tmp_path / "index"),  # one index: shard 0 builds it, shard 1 waits and reads
        "VERBATIM_DB": str(tmp_path / "verbatim.sqlite3"),  # one record, two writers
        "VERBATIM_FEEDBACK_FILE": str(tmp_path / "feedback.jsonl"),
        "VERBATIM_COOLDOWN_SECONDS": "0",
        "VERBATIM_SHARD_COUNT": "2",
    }
    processes: list[asyncio.subprocess.Process] = []
    logs = [tmp_path / f"shard{shard}.stderr" for shard in (0, 1)]
    try:
        for shard in (0, 1):
            env = clean_env(
                model_cache, **shared, VERBATIM_SHARD_IDS=str(shard), VERBATIM_HEALTH_FILE=str(tmp_path / f"h{shard}")
            )
            with open(logs[shard], "wb") as stderr:
                processes.append(
                    await asyncio.create_subprocess_exec(
                        *verbatim_command(),
                        "run",
                        cwd=tmp_path,
                        env=env,
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=stderr,
                    )
                )
        async with asyncio.timeout(120):  # the first start exports nothing (model_cache) but builds the index
            while not (fake.gateway.identify_count >= 2 and fake.gateway.connected):
                exited = [
                    (p.returncode, log.read_text("utf-8", "replace"))
                    for p, log in zip(processes, logs, strict=True)
                    if p.returncode is not None
                ]
                assert not exited, exited
                await asyncio.sleep(0.1)
        await fake.wait_for(lambda c: c.ok and c.matches("PUT", GLOBAL_COMMANDS), timeout=120)
        answers, seconds = [], []
        for guild in guilds:
            times = []
            for _ in range(ASKS):
                started = time.perf_counter()
                ix = await fake.dispatch_interaction(
                    fake.slash_command("ask", {"question": QUESTION}, guild_id=guild.id)
                )
                answers.append(await fake.wait_for_answer(ix, timeout=60))
                times.append(time.perf_counter() - started)
            seconds.append((times[0], statistics.median(times[1:])))
        memory = [resident_mb(process.pid) for process in processes]
        print(
            "\n"
            + "; ".join(
                f"shard {n}: /ask answered in {s[0] * 1000:.0f} ms (first), {s[1] * 1000:.0f} ms (median of the next {ASKS - 1}), RSS {m['VmRSS']:.0f} MB "
                f"({m['RssFile']:.0f} MB file-backed, {m['RssAnon']:.0f} MB private)"
                for n, (s, m) in enumerate(zip(seconds, memory, strict=True))
            )
        )
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 30)
            if process.returncode is None:
                process.kill()
                await process.wait()

    # Each IDENTIFY named its own shard, and each guild's /ask went down that shard's connection only.
    assert sorted(tuple(p["shard"]) for p in fake.gateway.identify_payloads) == [(0, 2), (1, 2)]
    for shard, guild in enumerate(guilds):
        [conn] = [c for c in fake.gateway.connections if c.dispatched and c.shard == shard]
        asked_here = [f["d"]["guild_id"] for f in conn.dispatched if f["t"] == "INTERACTION_CREATE"]
        assert asked_here == [str(guild.id)] * ASKS
    source = SEED.read_text("utf-8")
    for answer in answers:
        description = unescape(embed_of(answer)["description"])
        assert "remove all safety guardrails" in description
        assert all(q in source for q, _ in quotes_in(embed_of(answer)["description"]))
    # Both processes wrote their question into the one record.
    with sqlite3.connect(tmp_path / "verbatim.sqlite3") as db:
        stored = sorted(row[0] for row in db.execute("SELECT guild_id FROM questions"))
    assert stored == sorted(g.id for g in guilds for _ in range(ASKS))
    for process, log in zip(processes, logs, strict=True):
        errors = log.read_text("utf-8", "replace")
        assert process.returncode == 0 and "Traceback" not in errors, errors
    # Shard 1 never built the index: one build, by shard 0.
    assert len(list((tmp_path / "index" / "builds").iterdir())) == 1


def test_the_bot_is_sharded_only_when_a_shard_count_is_set(tmp_path: Path) -> None:
    made = []
    for shards in ({}, {"shard_count": 4, "shard_ids": [1, 3]}):
        settings = Settings(db=tmp_path / "v.sqlite3", index_dir=tmp_path / "index", **shards)
        service = AnswerService(settings.engine_config(), HashingEmbedder(), writer=settings.index_writer)
        made.append(make_bot(settings, service, Record(settings.db)))
    plain, sharded = made
    assert type(plain) is VerbatimBot and not isinstance(plain, discord.AutoShardedClient)
    assert isinstance(sharded, VerbatimBot) and isinstance(sharded, discord.AutoShardedClient)
    assert (sharded.shard_count, sharded.shard_ids) == (4, [1, 3]) and not sharded.service.writer
    for bot in made:
        bot.service.close()
        bot.record.close()
