"""The running bot's health, kept in a small JSON file that ``verbatim health`` reads.

The bot records what a moderator (or Docker's HEALTHCHECK) needs to know: is the index
loaded and how old is it, is the gateway connected, what went wrong last. The file is
rewritten atomically on every change and at least every :data:`HEARTBEAT_SECONDS`, so a
stale file means the bot is stopped or stuck.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HEARTBEAT_SECONDS = 10.0
STALE_AFTER_SECONDS = 60.0


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


class Health:
    """What the bot knows about itself; ``write`` puts it on disk."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        now = time.time()
        self.record: dict[str, Any] = {
            "pid": os.getpid(),
            "started_at": _iso(now),
            "updated_at": _iso(now),
            "updated": now,
            "index": {"loaded": False, "chunks": None, "built_at": None},
            "gateway": {"connected": False, "since": now},
            "last_error": None,
        }
        self.changed = asyncio.Event()

    def _touch(self) -> None:
        self.changed.set()

    def index_loaded(self, chunks: int, built_at: str) -> None:
        self.record["index"] = {"loaded": True, "chunks": chunks, "built_at": built_at}
        self._touch()

    def gateway(self, connected: bool) -> None:
        if self.record["gateway"]["connected"] != connected:
            self.record["gateway"] = {"connected": connected, "since": time.time()}
            self._touch()

    def error(self, event: str, message: str) -> None:
        self.record["last_error"] = {"event": event, "message": message, "at": _iso(time.time()), "time": time.time()}
        self._touch()

    def write(self) -> None:
        now = time.time()
        self.record.update(updated=now, updated_at=_iso(now))
        data = json.dumps(self.record, ensure_ascii=False, indent=1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".health-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(data)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def keep_writing(self) -> None:
        """Write now, then on every change and at least every :data:`HEARTBEAT_SECONDS`."""
        log = logging.getLogger(__name__)
        while True:
            self.changed.clear()
            try:
                await asyncio.to_thread(self.write)
            except OSError as exc:
                log.warning("health_not_written", extra={"error": f"{type(exc).__name__}: {exc}"})
            try:
                await asyncio.wait_for(self.changed.wait(), HEARTBEAT_SECONDS)
            except TimeoutError:
                pass

    def log_handler(self) -> logging.Handler:
        """A logging handler that keeps the last warning or error as ``last_error``."""
        health = self

        class _LastError(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                message = record.getMessage()
                detail = getattr(record, "error", None)
                if detail is None and record.exc_info and record.exc_info[1] is not None:
                    detail = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
                health.error(message, str(detail) if detail else message)

        return _LastError(logging.WARNING)


def read_health(path: Path, now: float | None = None) -> tuple[dict[str, Any] | None, list[str]]:
    """The record the bot last wrote and what is wrong with it (an empty list: healthy)."""
    now = time.time() if now is None else now
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, [f"no health file at {path}: the bot is not running (or VERBATIM_HEALTH_FILE differs)"]
    except (OSError, ValueError) as exc:
        return None, [f"cannot read the health file {path}: {exc}"]
    problems = []
    age = now - float(record.get("updated", 0))
    if age > STALE_AFTER_SECONDS:
        problems.append(f"the bot last reported {age:.0f} s ago: it is stopped or stuck")
    if not record.get("index", {}).get("loaded"):
        problems.append("the index is not loaded yet")
    gateway = record.get("gateway", {})
    if not gateway.get("connected"):
        problems.append(f"not connected to Discord (for {now - float(gateway.get('since', now)):.0f} s)")
    return record, problems


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def render_health(record: dict[str, Any] | None, problems: list[str], now: float | None = None) -> str:
    now = time.time() if now is None else now
    lines = ["healthy" if not problems else "unhealthy: " + "; ".join(problems)]
    if record is None:
        return lines[0]
    index = record.get("index", {})
    if index.get("loaded"):
        built = index.get("built_at")
        try:
            age = _ago(now - datetime.fromisoformat(built).timestamp()) if built else "unknown"
        except ValueError:
            age = "unknown"
        lines.append(f"index: loaded, {index.get('chunks')} chunks, last sync {age} ({built})")
    else:
        lines.append("index: not loaded")
    gateway = record.get("gateway", {})
    state = "connected" if gateway.get("connected") else "disconnected"
    lines.append(f"gateway: {state} since {_ago(now - float(gateway.get('since', now)))}")
    error = record.get("last_error")
    if error:
        lines.append(
            f"last error: {error.get('event')}: {error.get('message')} ({_ago(now - float(error.get('time', now)))})"
        )
    else:
        lines.append("last error: none")
    lines.append(
        f"bot: pid {record.get('pid')}, started {record.get('started_at')}, last report {_ago(now - float(record.get('updated', now)))}"
    )
    return "\n".join(lines)
