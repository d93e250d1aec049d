"""The bot past one process: two ``verbatim run`` processes, shards 0 and 1 of 2, one index,
one record, against the fake Discord that sends each guild's events to the shard owning it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from pathlib import Path

import pytest

from bot.render import unescape
from tests.bot.conftest import embed_of, quotes_in
from tests.bot.test_run_subprocess import QUESTION, clean_env, seed_docs, verbatim_command
from tests.conftest import SEED
from tests.fakediscord import FakeDiscord
from tests.fakediscord.fixtures import FAKE_TOKEN

GLOBAL_COMMANDS = "/applications/{application_id}/commands"


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
        asked = [
            await fake.dispatch_interaction(fake.slash_command("ask", {"question": QUESTION}, guild_id=g.id))
            for g in guilds
        ]
        answers = [await fake.wait_for_answer(ix, timeout=60) for ix in asked]
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
        assert asked_here == [str(guild.id)]
    source = SEED.read_text("utf-8")
    for answer in answers:
        description = unescape(embed_of(answer)["description"])
        assert "remove all safety guardrails" in description
        assert all(q in source for q, _ in quotes_in(embed_of(answer)["description"]))
    # Both processes wrote their question into the one record.
    with sqlite3.connect(tmp_path / "verbatim.sqlite3") as db:
        stored = sorted(row[0] for row in db.execute("SELECT guild_id FROM questions"))
    assert stored == sorted(g.id for g in guilds)
    for process, log in zip(processes, logs, strict=True):
        errors = log.read_text("utf-8", "replace")
        assert process.returncode == 0 and "Traceback" not in errors, errors
    # Shard 1 never built the index: one build, by shard 0.
    assert len(list((tmp_path / "index" / "builds").iterdir())) == 1
