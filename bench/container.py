"""Run by hand: the bot's image, checked in real containers (issue 11, items 1-7).

Needs a Docker daemon that can run with --network host (../shared/tools/docker-base.sh sets one up
where no image registry is reachable) and an image built from the Dockerfile:

    docker build --network host --build-arg TORCH_INDEX_URL=... -t verbatim .
    python bench/container.py --image verbatim

The fake Discord of the tests runs in this process on 127.0.0.1; containers reach it through the
host network. Prints one line per check (PASS/FAIL) and the figures: image size, start to the
first /ask answered on a fresh volume, docker stop during the first seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fakediscord import FakeDiscord  # noqa: E402
from tests.fakediscord.fixtures import FAKE_TOKEN  # noqa: E402

QUESTION = "What did the Department of Defense demand from Anthropic?"
GUILD_COMMANDS = "/applications/{application_id}/guilds/{guild_id}/commands"
results: list[tuple[str, bool, str]] = []


def docker(*args: str, check: bool = False, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


def record(name: str, ok: bool, detail: str = "") -> None:
    results.append((name, ok, detail))
    print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  [{detail}]" if detail else ""), flush=True)


def fake_env(fake: FakeDiscord, **extra: str) -> list[str]:
    env = {
        "DISCORD_TOKEN": FAKE_TOKEN,
        "VERBATIM_DISCORD_API_BASE": fake.api_base,
        "VERBATIM_DISCORD_GATEWAY_URL": fake.gateway_url,
        "VERBATIM_DEV_GUILD_ID": str(fake.guild_id),
        "VERBATIM_COOLDOWN_SECONDS": "0",
        **extra,
    }
    return [a for k, v in env.items() for a in ("-e", f"{k}={v}")]


def logs(name: str) -> str:
    result = docker("logs", name)
    return result.stdout + result.stderr


def remove(*names: str) -> None:
    for name in names:
        docker("rm", "-f", name)


async def wait_exit(name: str, timeout: float) -> int | None:
    result = await asyncio.to_thread(docker, "wait", name, timeout=timeout)
    return int(result.stdout.strip()) if result.returncode == 0 and result.stdout.strip() else None


async def first_answer_on_a_fresh_volume(image: str) -> None:
    """Items 4, 5, 7: docker run -> /ask answered through the fake Discord; healthy; no export."""
    fake = FakeDiscord(token=FAKE_TOKEN)
    await fake.start()
    volume, name = "verbatim-check-fresh", "verbatim-check-answer"
    remove(name)
    docker("volume", "rm", "-f", volume)
    docker("volume", "create", volume, check=True)
    try:
        started = time.perf_counter()
        run = await asyncio.to_thread(
            docker, "run", "-d", "--name", name, "--network", "host", *fake_env(fake), "-v", f"{volume}:/data", image
        )
        assert run.returncode == 0, run.stderr
        await fake.wait_for(lambda c: c.ok and c.matches("PUT", GUILD_COMMANDS), timeout=120)
        await fake.signal.wait_until(lambda: fake.gateway.identify_count >= 1 or None, 60, "IDENTIFY")
        ix = await fake.dispatch_interaction(fake.slash_command("ask", {"question": QUESTION}))
        answer = await fake.wait_for_answer(ix, timeout=60)
        elapsed = time.perf_counter() - started
        text = json.dumps(answer.json)
        record("docker run -> /ask answered on a fresh volume", "safety guardrails" in text, f"{elapsed:.2f} s")
        output = logs(name)
        record("no model export at start (done at build time)", "Preparing the embedding model" not in output)
        record("no traceback in the logs", "Traceback" not in output)
        health = await asyncio.to_thread(docker, "exec", name, "verbatim", "health")
        record(
            "docker exec verbatim health: exit 0, healthy",
            health.returncode == 0 and health.stdout.startswith("healthy"),
            health.stdout.strip().replace("\n", " | "),
        )
        print("      waiting for Docker's first HEALTHCHECK (interval 30 s)…", flush=True)
        status = ""
        for _ in range(50):
            status = docker("inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip()
            if status == "healthy":
                break
            await asyncio.sleep(1)
        record("docker inspect: Health.Status is healthy", status == "healthy", status)
        stopping = time.perf_counter()
        docker("stop", name, timeout=60)
        code = await wait_exit(name, 30)
        record(
            "docker stop of a running bot: exit 0", code == 0, f"{time.perf_counter() - stopping:.2f} s, exit {code}"
        )
        rerun_started = time.perf_counter()
        remove(name)
        run = await asyncio.to_thread(
            docker, "run", "-d", "--name", name, "--network", "host", *fake_env(fake), "-v", f"{volume}:/data", image
        )
        since = len(fake.calls)
        await fake.wait_for(lambda c: c.ok and c.matches("PUT", GUILD_COMMANDS), timeout=120, since=since)
        ix = await fake.dispatch_interaction(fake.slash_command("ask", {"question": QUESTION}))
        answer = await fake.wait_for_answer(ix, timeout=60)
        record(
            "second start on the same volume: answered",
            "safety guardrails" in json.dumps(answer.json),
            f"{time.perf_counter() - rerun_started:.2f} s",
        )
    finally:
        remove(name)
        docker("volume", "rm", "-f", volume)
        await fake.stop()


async def stop_during_first_seconds(image: str) -> None:
    """Item 4: docker stop at 0.5, 1.5 and 2.5 s after docker run (fresh volume each time)."""
    fake = FakeDiscord(token=FAKE_TOKEN)
    await fake.start()
    try:
        for delay in (0.5, 1.5, 2.5):
            name, volume = "verbatim-check-stop", "verbatim-check-stop"
            remove(name)
            docker("volume", "rm", "-f", volume)
            run = docker(
                "run", "-d", "--name", name, "--network", "host", *fake_env(fake), "-v", f"{volume}:/data", image
            )
            assert run.returncode == 0, run.stderr
            await asyncio.sleep(delay)
            started = time.perf_counter()
            docker("stop", name, timeout=60)
            took = time.perf_counter() - started
            code = await wait_exit(name, 30)
            output = logs(name)
            record(
                f"docker stop {delay} s after docker run",
                took < 3 and code in (0, 143) and "Traceback" not in output,
                f"{took:.2f} s, exit {code}",
            )
            remove(name)
            docker("volume", "rm", "-f", volume)
    finally:
        await fake.stop()


async def unreachable_and_refused(image: str) -> None:
    """Item 1: --network none -> one line per attempt; a refused token -> one line, at once."""
    name = "verbatim-check-offline"
    remove(name)
    docker("run", "-d", "--name", name, "--network", "none", "-e", "DISCORD_TOKEN=some-token", image, check=True)
    await asyncio.sleep(8)
    output = logs(name)
    attempts = [line for line in output.splitlines() if "discord_unreachable" in line]
    other = [
        line
        for line in output.splitlines()
        if line.strip() and "discord_unreachable" not in line and " info " not in line
    ]
    record(
        "no network: one line per attempt, no traceback",
        len(attempts) >= 2 and "Traceback" not in output and not other,
        f"{len(attempts)} attempts in 8 s; first: {attempts[0][:150] if attempts else '-'}",
    )
    delays = [float(m) for m in re.findall(r"retry_in_s=([\d.]+)", output)]
    record("no network: delays grow (jittered)", len(delays) >= 2 and delays[-1] > delays[0] / 2, str(delays))
    health = docker("exec", name, "verbatim", "health")
    record(
        "no network: verbatim health exits 1 and says why",
        health.returncode == 1 and "not connected to Discord" in health.stdout,
        health.stdout.strip().splitlines()[0] if health.stdout else health.stderr,
    )
    stopping = time.perf_counter()
    docker("stop", name, timeout=60)
    code = await wait_exit(name, 30)
    record("no network: docker stop", code == 0, f"{time.perf_counter() - stopping:.2f} s, exit {code}")
    print("      log excerpt (no network):\n        " + "\n        ".join(output.strip().splitlines()[:6]), flush=True)
    remove(name)

    fake = FakeDiscord(token=FAKE_TOKEN)
    await fake.start()
    name = "verbatim-check-refused"
    remove(name)
    try:
        started = time.perf_counter()
        env = fake_env(fake)
        env[env.index(f"DISCORD_TOKEN={FAKE_TOKEN}")] = "DISCORD_TOKEN=not-the-right-token"
        result = await asyncio.to_thread(docker, "run", "--name", name, "--network", "host", *env, image)
        took = time.perf_counter() - started
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip() and " info " not in line]
        record(
            "refused token: exit 1 with one line",
            result.returncode == 1 and len(lines) == 1 and "refused the token" in lines[0],
            f"{took:.2f} s; {lines}",
        )
    finally:
        remove(name)
        await fake.stop()


async def host_folder_and_env_file(image: str) -> None:
    """Items 2 and 3: a root-owned host folder at /data; the README's .env with docker --env-file."""
    fake = FakeDiscord(token=FAKE_TOKEN)
    await fake.start()
    host = Path(tempfile.mkdtemp(prefix="verbatim-host-data-"))
    os.chmod(host, 0o755)
    name = "verbatim-check-folder"
    try:
        remove(name)
        result = docker("run", "--name", name, "--network", "host", *fake_env(fake), "-v", f"{host}:/data", image)
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        ok = (
            result.returncode == 1
            and len(lines) == 1
            and "/data is not writable" in lines[0]
            and '--user "$(id -u):$(id -g)"' in lines[0]
        )
        record("root-owned host folder at /data: one line with the fix", ok, lines[0] if lines else result.stderr)
        remove(name)
        for label, extra in (
            ("--user $(id -u):$(id -g)", ["--user", f"{os.getuid()}:{os.getgid()}"]),
            ("chown 10001", []),
        ):
            if not extra:  # what the README says: sudo chown -R 10001 /path/on/host
                subprocess.run(["chown", "-R", "10001:10001", str(host)], check=True)
            since = len(fake.calls)
            docker(
                "run",
                "-d",
                "--name",
                name,
                "--network",
                "host",
                *extra,
                *fake_env(fake),
                "-v",
                f"{host}:/data",
                image,
                check=True,
            )
            try:
                await fake.wait_for(lambda c: c.ok and c.matches("PUT", GUILD_COMMANDS), timeout=120, since=since)
                ix = await fake.dispatch_interaction(fake.slash_command("ask", {"question": QUESTION}))
                answer = await fake.wait_for_answer(ix, timeout=60)
                record(f"host folder with {label}: answers", "safety guardrails" in json.dumps(answer.json))
            finally:
                remove(name)
        shutil.rmtree(host, ignore_errors=True)

        readme = (REPO / "README.md").read_text(encoding="utf-8")
        [block] = [b for b in re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL) if b.startswith("# .env")]
        env_file = Path(tempfile.mkdtemp()) / ".env"
        env_file.write_text(block, encoding="utf-8")
        # The README's values, but pointed at the fake (and its token and guild).
        since = len(fake.calls)
        docker(
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "host",
            "--env-file",
            str(env_file),
            *fake_env(fake),
            "-e",
            "VERBATIM_HELP_CHANNEL_IDS=",
            image,
            check=True,
        )
        try:
            await fake.wait_for(lambda c: c.ok and c.matches("PUT", GUILD_COMMANDS), timeout=120, since=since)
            output = logs(name)
            record(
                "README .env with docker run --env-file: starts, no setting error",
                "Invalid setting" not in output and "error:" not in output,
            )
        finally:
            remove(name)
        old = env_file.with_name("old.env")
        old.write_text(
            "DISCORD_TOKEN=x\nVERBATIM_DEV_GUILD_ID=123456789012345678   # commands appear at once\n", encoding="utf-8"
        )
        result = docker("run", "--rm", "--network", "none", "--env-file", str(old), image)
        record(
            "(before) an inline comment in .env is refused by Docker's reading",
            result.returncode == 1 and "VERBATIM_DEV_GUILD_ID" in result.stderr,
            result.stderr.strip()[:160],
        )
    finally:
        remove(name)
        await fake.stop()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default="verbatim")
    args = parser.parse_args()
    size = int(docker("image", "inspect", args.image, "--format", "{{.Size}}", check=True).stdout)
    print(f"image {args.image}: {size / 1e9:.2f} GB", flush=True)
    await first_answer_on_a_fresh_volume(args.image)
    await stop_during_first_seconds(args.image)
    await unreachable_and_refused(args.image)
    await host_folder_and_env_file(args.image)
    failed = [name for name, ok, _ in results if not ok]
    print(f"{len(results) - len(failed)} of {len(results)} checks passed" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
