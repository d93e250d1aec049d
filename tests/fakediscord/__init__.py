"""A small fake Discord (gateway + REST) for driving an unmodified discord.py bot in tests.

Public API: :class:`FakeDiscord` (server and event builders), :class:`RecordedCall`,
:class:`Fault`, :class:`UnknownCommandError`. Pytest wiring lives in
``tests.fakediscord.fixtures`` (``fake_discord``, ``discord_errors``, ``running_bot``).
"""

from .payloads import PERMISSIONS_ALL, PERMISSIONS_MEMBER, Perm
from .server import API_PREFIX, FakeDiscord, Fault, RecordedCall, route_regex
from .state import FakeGuild, FakeWorld, InteractionRecord, UnknownCommandError

__all__ = [
    "API_PREFIX",
    "Fault",
    "FakeDiscord",
    "FakeGuild",
    "FakeWorld",
    "InteractionRecord",
    "PERMISSIONS_ALL",
    "PERMISSIONS_MEMBER",
    "Perm",
    "RecordedCall",
    "UnknownCommandError",
    "route_regex",
]
