"""``verbatim run`` and ``verbatim chat`` as black boxes: real processes, real model, fake Discord."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.discord.render import unescape
from tests.bot.conftest import embed_of, quotes_in
from tests.conftest import SEED
from tests.fakediscord import FakeDiscord
from tests.fakediscord.fixtures import FAKE_TOKEN

QUESTION = "What did the Department of Defense demand from Anthropic?"
GUILD_COMMANDS = "/applications/{application_id}/guilds/{guild_id}/commands"


def verbatim_command() -> list[str]:
    script = Path(sys.executable).with_name("verbatim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def clean_env(model_cache: Path, **extra: str) -> dict[str, str]:
    """The environment without any Verbatim or Discord settings of the developer's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERBATIM_") and k != "DISCORD_TOKEN"}
    env["VERBATIM_MODEL_CACHE_DIR"] = str(model_cache)
    env.update(extra)
    return env


def seed_docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    (docs / SEED.name).write_bytes(SEED.read_bytes())
    return docs


async def health_record(path: Path, ready: Any, timeout: float = 30.0) -> dict[str, Any]:
    """The bot's health file once ``ready(record)`` holds (it is rewritten on every change)."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                if ready(record):
                    return record
            except (FileNotFoundError, ValueError):
                pass
            await asyncio.sleep(0.1)


async def verbatim_health(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``verbatim health`` as Docker's HEALTHCHECK runs it."""
    return await asyncio.to_thread(
        subprocess.run, [*verbatim_command(), "health"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once, as with no network."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_run_without_a_token_is_one_line_pointing_to_chat(tmp_path: Path) -> None:
    result = subprocess.run(
        [*verbatim_command(), "run"],
        cwd=tmp_path,
        env=clean_env(tmp_path / "models"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: No Discord token") and "verbatim chat" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
async def test_run_with_a_token_discord_refuses_is_one_line(
    fake_discord: FakeDiscord, tmp_path: Path, model_cache: Path
) -> None:
    """At once: the index is still being built (real model) when the refusal comes back."""
    seed_docs(tmp_path)
    env = clean_env(
        model_cache,
        DISCORD_TOKEN="not-the-right-token",
        VERBATIM_DISCORD_API_BASE=fake_discord.api_base,
        VERBATIM_DISCORD_GATEWAY_URL=fake_discord.gateway_url,
        VERBATIM_DOCS_DIR=str(tmp_path / "docs"),
        VERBATIM_INDEX_DIR=str(tmp_path / "index"),
    )
    process = await asyncio.create_subprocess_exec(
        *verbatim_command(),
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    lines = stderr.decode().strip().splitlines()
    assert lines == ["error: Discord refused the token (Improper token has been passed.): check DISCORD_TOKEN."], lines
    assert stdout == b""
    [login] = fake_discord.calls
    assert (login.path, login.status) == ("/users/@me", 401)


@pytest.mark.slow
async def test_verbatim_run_answers_ask_through_discord_and_chat_shows_the_same(
    fake_discord: FakeDiscord, tmp_path: Path, model_cache: Path
) -> None:
    fake = fake_discord
    docs = seed_docs(tmp_path)
    env = clean_env(
        model_cache,
        DISCORD_TOKEN=FAKE_TOKEN,
        VERBATIM_DISCORD_API_BASE=fake.api_base,
        VERBATIM_DISCORD_GATEWAY_URL=fake.gateway_url,
        VERBATIM_DEV_GUILD_ID=str(fake.guild_id),
        VERBATIM_DOCS_DIR=str(docs),
        VERBATIM_INDEX_DIR=str(tmp_path / "index"),
        VERBATIM_FEEDBACK_FILE=str(tmp_path / "feedback.jsonl"),
        VERBATIM_DB=str(tmp_path / "verbatim.sqlite3"),
        VERBATIM_HEALTH_FILE=str(tmp_path / "health.json"),
        VERBATIM_COOLDOWN_SECONDS="0",
    )
    stderr_path = tmp_path / "run.stderr"
    with open(stderr_path, "wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            *verbatim_command(), "run", cwd=tmp_path, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=stderr
        )
        try:
            sync = await fake.wait_for(lambda c: c.ok and c.matches("PUT", GUILD_COMMANDS), timeout=180)
            assert "ask" in {c["name"] for c in sync.json}
            await fake.signal.wait_until(lambda: fake.gateway.identify_count >= 1 or None, 60, "IDENTIFY")
            ix = await fake.dispatch_interaction(fake.slash_command("ask", {"question": QUESTION}))
            answer = await fake.wait_for_answer(ix, timeout=60)
            # The health check (Docker's HEALTHCHECK) agrees: index loaded, gateway connected.
            await health_record(tmp_path / "health.json", lambda r: r["gateway"]["connected"] and r["index"]["loaded"])
            health = await verbatim_health(tmp_path, env)
            assert health.returncode == 0, health.stdout + health.stderr
            assert health.stdout.startswith("healthy\nindex: loaded, ") and "gateway: connected" in health.stdout
        finally:
            if process.returncode is None:
                # What `docker stop` and systemd send: the bot must close its connection and exit 0.
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()
                    await process.wait()
                    raise
    errors = stderr_path.read_text("utf-8", "replace")
    assert process.returncode == 0, errors
    assert "Traceback" not in errors
    assert errors.strip() == "", errors  # a normal run logs no warnings (default level WARNING)
    await fake.signal.wait_until(
        lambda: all(c.close_code is not None for c in fake.gateway.connections) or None, 10, "close"
    )
    # discord.py sent a close frame (it uses 1000 or 4000); a killed process leaves 1006 (abnormal closure).
    assert [c.close_code for c in fake.gateway.connections] in ([1000], [4000])

    description = embed_of(answer)["description"]
    assert "remove all safety guardrails" in unescape(description)
    assert answer.json["allowed_mentions"] == {"parse": []}
    quotes = quotes_in(description)
    source = SEED.read_text("utf-8")
    assert quotes and all(q in source for q, _ in quotes)

    # The console shows the same quotes, from the index the bot built.
    chat = subprocess.run(
        [*verbatim_command(), "chat"],
        cwd=tmp_path,
        env=clean_env(model_cache, VERBATIM_DOCS_DIR=str(docs), VERBATIM_INDEX_DIR=str(tmp_path / "index")),
        input=f"{QUESTION}\n/quit\n",
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert chat.returncode == 0, chat.stderr
    assert "Traceback" not in chat.stderr
    assert unescape(description) in chat.stdout
    for quote, citation in quotes:
        quoted = "\n".join(f"> {line}" for line in quote.splitlines())  # a quote across lines keeps "> " on each
        assert f"{quoted}\n— {citation}" in chat.stdout


@pytest.mark.slow
async def test_unreachable_discord_is_one_line_per_attempt_until_stopped(tmp_path: Path, model_cache: Path) -> None:
    """No network: each failed attempt is one line with the next delay, growing; the index is
    loaded meanwhile and `verbatim health` says what is wrong; SIGTERM ends it at once."""
    seed_docs(tmp_path)
    port = closed_port()
    env = clean_env(
        model_cache,
        DISCORD_TOKEN=FAKE_TOKEN,
        VERBATIM_DISCORD_API_BASE=f"http://127.0.0.1:{port}/api/v10",
        VERBATIM_DISCORD_GATEWAY_URL=f"ws://127.0.0.1:{port}/",
        VERBATIM_DOCS_DIR=str(tmp_path / "docs"),
        VERBATIM_INDEX_DIR=str(tmp_path / "index"),
        VERBATIM_HEALTH_FILE=str(tmp_path / "health.json"),
        VERBATIM_FEEDBACK_FILE=str(tmp_path / "feedback.jsonl"),
        VERBATIM_DB=str(tmp_path / "verbatim.sqlite3"),
    )
    process = await asyncio.create_subprocess_exec(
        *verbatim_command(),
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        while sum("discord_unreachable" in line for line in lines) < 3:
            line = await asyncio.wait_for(process.stderr.readline(), 120)
            assert line, f"verbatim run ended early: {lines}"
            lines.append(line.decode().rstrip("\n"))
        # The index loads beside the gateway retries; on a loaded machine it may still be
        # loading after three attempts.
        await health_record(tmp_path / "health.json", lambda r: r["index"]["loaded"], timeout=60)
        health = await verbatim_health(tmp_path, env)
    finally:
        process.send_signal(signal.SIGTERM)
        rest = (await asyncio.wait_for(process.communicate(), 30))[1].decode()
    assert process.returncode == 0, rest
    attempts = [line for line in lines if "discord_unreachable" in line]
    assert lines == attempts, lines  # nothing else: no traceback, no other noise
    for number, line in enumerate(attempts, 1):
        assert "ConnectionRefused" in line or "ClientConnectorError" in line or "Cannot connect" in line, line
        assert f"attempt={number}" in line and "retry_in_s=" in line
    assert "Traceback" not in rest
    assert health.returncode == 1
    assert health.stdout.startswith("unhealthy: not connected to Discord"), health.stdout
    assert "index: loaded, " in health.stdout and "last error: discord_unreachable: " in health.stdout


@pytest.mark.slow
async def test_sigterm_during_a_first_build_stops_at_once(tmp_path: Path, model_cache: Path) -> None:
    """`docker stop` during a first start: the bot leaves without waiting for the build (the
    index on disk is never half-written), and exits 0."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(150):  # a first build that takes a while on the real model
        body = " ".join(f"Section {n} sentence {j} talks about llamas, alpacas and their keepers." for j in range(40))
        (docs / f"page{n:03d}.md").write_text(f"# Page {n}\n\n{body}\n", encoding="utf-8")
    env = clean_env(
        model_cache,
        DISCORD_TOKEN=FAKE_TOKEN,
        VERBATIM_DISCORD_API_BASE=f"http://127.0.0.1:{closed_port()}/api/v10",
        VERBATIM_DOCS_DIR=str(docs),
        VERBATIM_INDEX_DIR=str(tmp_path / "index"),
        VERBATIM_HEALTH_FILE=str(tmp_path / "health.json"),
        VERBATIM_FEEDBACK_FILE=str(tmp_path / "feedback.jsonl"),
        VERBATIM_DB=str(tmp_path / "verbatim.sqlite3"),
    )
    process = await asyncio.create_subprocess_exec(
        *verbatim_command(),
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        # The health file is first written as the event loop starts, with the build under way.
        await health_record(tmp_path / "health.json", lambda r: not r["index"]["loaded"], timeout=120)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert not (tmp_path / "index" / "CURRENT").exists(), "it waited for the whole build"
