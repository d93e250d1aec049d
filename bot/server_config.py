"""Per-server and per-channel settings set with ``/config``, over the environment's defaults.

The values live in the record (table ``settings``); this is their in-memory copy, read by
every message and command without touching the disk. ``/config`` writes the database first
and then :meth:`ServerConfigs.put`, so a change takes effect with the next message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# Server-wide keys (stored with channel 0) and keys a channel may override.
AUTO_ANSWER = "auto_answer_channels"
MODERATOR_ROLES = "moderator_roles"
LOG_CHANNEL = "log_channel"
PRIVATE = "private_answers"
THREADS = "answer_in_thread"
SERVER_KEYS = (AUTO_ANSWER, MODERATOR_ROLES, LOG_CHANNEL)
CHANNEL_KEYS = (PRIVATE, THREADS)


@dataclass(frozen=True, slots=True)
class Defaults:
    """What a server gets until a moderator says otherwise: the environment's settings."""

    auto_answer_channels: tuple[int, ...] = ()
    moderator_roles: tuple[int, ...] = ()
    log_channel: int | None = None
    private_answers: bool = False
    answer_in_thread: bool = False

    def get(self, key: str) -> Any:
        return getattr(self, key)


class ServerConfigs:
    def __init__(self, defaults: Defaults) -> None:
        self.defaults = defaults
        self._values: dict[tuple[int, int, str], Any] = {}

    def load(self, rows: Iterable[tuple[int, int, str, Any]]) -> None:
        self._values = {(guild, channel, key): value for guild, channel, key, value in rows}

    def put(self, guild_id: int, key: str, value: Any, *, channel_id: int = 0) -> None:
        if value is None:
            self._values.pop((guild_id, channel_id, key), None)
        else:
            self._values[(guild_id, channel_id, key)] = value

    def _server(self, guild_id: int | None, key: str) -> Any:
        if guild_id is not None and (guild_id, 0, key) in self._values:
            return self._values[(guild_id, 0, key)]
        return self.defaults.get(key)

    def auto_answer_channels(self, guild_id: int | None) -> set[int]:
        return {int(c) for c in self._server(guild_id, AUTO_ANSWER)}

    def moderator_roles(self, guild_id: int | None) -> set[int]:
        return {int(r) for r in self._server(guild_id, MODERATOR_ROLES)}

    def log_channel(self, guild_id: int | None) -> int | None:
        value = self._server(guild_id, LOG_CHANNEL)
        return int(value) if value else None

    def channel_value(self, guild_id: int | None, key: str, channels: Sequence[int]) -> Any:
        """The most specific value of ``key``: the first of ``channels`` (a thread, then its
        channel) that has one, else the server's, else the default."""
        if guild_id is not None:
            for channel in channels:
                if (guild_id, channel, key) in self._values:
                    return self._values[(guild_id, channel, key)]
        return self._server(guild_id, key)

    def private_answers(self, guild_id: int | None, channels: Sequence[int]) -> bool:
        return bool(self.channel_value(guild_id, PRIVATE, channels))

    def answer_in_thread(self, guild_id: int | None, channels: Sequence[int]) -> bool:
        return bool(self.channel_value(guild_id, THREADS, channels))

    def overrides(self, guild_id: int) -> list[tuple[int, str, Any]]:
        """(channel, key, value) a moderator set in this server, server-wide ones (channel 0) first."""
        return sorted((c, k, v) for (g, c, k), v in self._values.items() if g == guild_id)
