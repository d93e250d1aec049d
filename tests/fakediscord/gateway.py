"""The gateway websocket: HELLO, heartbeats, IDENTIFY/READY, RESUME/RESUMED, op 7.

One logical session per shard: an IDENTIFY's ``shard`` [id, count] opens shard ``id``
(no ``shard``: shard 0 of 1, an unsharded bot), and each guild's events, its READY entry
and its GUILD_CREATE go to the shard that owns it, ``(guild_id >> 22) % count``, as in
Discord (direct messages go to shard 0). Events go out as uncompressed TEXT frames;
discord.py asks for ``compress=zlib-stream`` in the query string but only
inflates BINARY frames, so plain text is accepted. Sequence numbers belong to
a shard's session and survive a RESUME, exactly as in Discord.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from . import payloads as p
from .payloads import JSON
from .state import FakeWorld
from .waiting import ChangeSignal

# Gateway opcodes.
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE_UPDATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11


@dataclass
class GatewayConnection:
    ws: web.WebSocketResponse
    path: str
    query: dict[str, str]
    close_code: int | None = None
    received_ops: list[int] = field(default_factory=list)
    #: The shard this connection IDENTIFYed or RESUMEd as.
    shard: int = 0
    #: The DISPATCH frames sent on this connection.
    dispatched: list[JSON] = field(default_factory=list)


@dataclass
class ShardSession:
    shard: int
    session_id: str | None = None
    #: Last sequence number sent in this session.
    sequence: int = 0
    current: GatewayConnection | None = None


class FakeGateway:
    """Serves ``/gateway`` (IDENTIFY) and ``/resume-gateway`` (the READY ``resume_gateway_url``)."""

    def __init__(self, world: FakeWorld, signal: ChangeSignal, *, heartbeat_interval_ms: int = 41_250) -> None:
        self.world = world
        self.signal = signal
        self.heartbeat_interval_ms = heartbeat_interval_ms
        #: Set by the server once it knows its port.
        self.resume_url = ""
        #: How many shards the bot said it runs (the ``shard`` of its IDENTIFYs; 1 unsharded).
        self.shard_count = 1
        self.sessions: dict[int, ShardSession] = {0: ShardSession(0)}
        self.identify_payloads: list[JSON] = []
        self.resume_payloads: list[JSON] = []
        self.heartbeat_count = 0
        #: Every frame the client sent / the server sent, in order.
        self.received: list[JSON] = []
        self.sent: list[JSON] = []
        self.connections: list[GatewayConnection] = []
        #: Protocol problems (unknown opcode, binary frame, RESUME with a stale seq...).
        self.errors: list[str] = []
        self._send_lock = asyncio.Lock()

    # Shard 0's session, which is the whole session of an unsharded bot.
    @property
    def session_id(self) -> str | None:
        return self.sessions[0].session_id

    @property
    def sequence(self) -> int:
        return self.sessions[0].sequence

    @property
    def _current(self) -> GatewayConnection | None:
        return self.sessions[0].current

    @_current.setter
    def _current(self, conn: GatewayConnection | None) -> None:
        self.sessions[0].current = conn

    def shard_of(self, guild_id: int) -> int:
        return (guild_id >> 22) % self.shard_count

    def _shard_of_event(self, data: Any) -> int:
        guild_id = data.get("guild_id") if isinstance(data, dict) else None
        return self.shard_of(int(guild_id)) if guild_id else 0

    def live(self, shard: int) -> GatewayConnection | None:
        session = self.sessions.get(shard)
        return session.current if session is not None else None

    @property
    def identify_count(self) -> int:
        return len(self.identify_payloads)

    @property
    def resume_count(self) -> int:
        return len(self.resume_payloads)

    @property
    def connected(self) -> bool:
        """True once READY or RESUMED went out on a still-open connection, for every shard."""
        return all(self.live(shard) is not None for shard in range(self.shard_count))

    # -- websocket handler ----------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        # timeout = how long close() waits for the client's close frame.
        ws = web.WebSocketResponse(max_msg_size=0, timeout=2.0)
        await ws.prepare(request)
        conn = GatewayConnection(ws=ws, path=request.path, query=dict(request.query))
        self.connections.append(conn)
        async with self._send_lock:
            await self._write(
                conn, {"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None}
            )
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    self.errors.append(f"unexpected {msg.type.name} frame from client")
                    continue
                frame = json.loads(msg.data)
                self.received.append(frame)
                conn.received_ops.append(frame.get("op"))
                await self._on_frame(conn, frame)
        finally:
            conn.close_code = ws.close_code
            session = self.sessions.get(conn.shard)
            if session is not None and session.current is conn:
                session.current = None
            await self.signal.notify()
        return ws

    async def _on_frame(self, conn: GatewayConnection, frame: JSON) -> None:
        op = frame.get("op")
        raw = frame.get("d")
        data: JSON = raw if isinstance(raw, dict) else {}
        if op == HEARTBEAT:
            self.heartbeat_count += 1
            async with self._send_lock:
                await self._write(conn, {"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == IDENTIFY:
            await self._identify(conn, data)
        elif op == RESUME:
            await self._resume(conn, data)
        elif op == REQUEST_GUILD_MEMBERS:
            await self._member_chunk(conn, data)
        elif op in (PRESENCE_UPDATE, VOICE_STATE_UPDATE):
            pass  # recorded in self.received; nothing to answer
        else:
            self.errors.append(f"unknown opcode {op}")
            await conn.ws.close(code=4001, message=b"Unknown opcode")
        await self.signal.notify()

    async def _identify(self, conn: GatewayConnection, data: JSON) -> None:
        if self.world.token is not None and data.get("token") != self.world.token:
            await conn.ws.close(code=4004, message=b"Authentication failed")
            return
        shard, count = data.get("shard") or (0, 1)
        if not 0 <= shard < count or (count != self.shard_count and any(self.live(s) for s in self.sessions)):
            await conn.ws.close(code=4010, message=b"Invalid shard")
            return
        self.shard_count = count
        self.identify_payloads.append(data)
        session = self.sessions.setdefault(shard, ShardSession(shard))
        session.session_id = secrets.token_hex(16)
        conn.shard = shard
        guilds = [g for g in self.world.guilds if self.shard_of(g) == shard]
        ready: JSON = {
            "v": p.API_VERSION,
            "user": p.current_user(self.world.bot_user),
            "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_url,
            "application": {"id": str(self.world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ["fakediscord"],
        }
        if data.get("shard") is not None:
            ready["shard"] = data["shard"]
        async with self._send_lock:
            session.sequence = 0
            await self._write_dispatch(conn, "READY", ready)
            for guild_id in guilds:
                await self._write_dispatch(conn, "GUILD_CREATE", self.world.guild_create_payload(guild_id))
            session.current = conn

    async def _resume(self, conn: GatewayConnection, data: JSON) -> None:
        async with self._send_lock:
            sessions = [s for s in self.sessions.values() if s.session_id and s.session_id == data.get("session_id")]
            if not sessions:
                await self._write(conn, {"op": INVALID_SESSION, "d": False, "s": None, "t": None})
                return
            [session] = sessions
            conn.shard = session.shard
            if data.get("seq") != session.sequence:
                # We replay nothing, so a stale seq means the client lost events.
                self.errors.append(f"RESUME with seq {data.get('seq')}, server is at {session.sequence}")
            self.resume_payloads.append(data)
            await self._write_dispatch(conn, "RESUMED", {"_trace": ["fakediscord"]})
            session.current = conn

    async def _member_chunk(self, conn: GatewayConnection, data: JSON) -> None:
        guild = self.world.guilds[int(data["guild_id"])]
        wanted = {int(u) for u in data.get("user_ids") or []}
        query = (data.get("query") or "").lower()
        members = [
            m
            for uid, m in guild.members.items()
            if (not wanted or uid in wanted) and m["user"]["username"].lower().startswith(query)
        ]
        if data.get("limit"):
            members = members[: data["limit"]]
        chunk = {
            "guild_id": str(guild.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
            "nonce": data.get("nonce"),
        }
        async with self._send_lock:
            await self._write_dispatch(conn, "GUILD_MEMBERS_CHUNK", chunk)

    # -- writing (callers hold _send_lock so seq order == wire order) -------------------

    async def _write(self, conn: GatewayConnection, frame: JSON) -> None:
        self.sent.append(frame)
        if frame["op"] == DISPATCH:
            conn.dispatched.append(frame)
        await conn.ws.send_str(json.dumps(frame))

    async def _write_dispatch(self, conn: GatewayConnection, event: str, data: Any) -> int:
        session = self.sessions[conn.shard]
        session.sequence += 1
        await self._write(conn, {"op": DISPATCH, "t": event, "s": session.sequence, "d": data})
        return session.sequence

    # -- test controls ----------------------------------------------------------------------

    async def send_dispatch(self, event: str, data: Any, *, timeout: float = 5.0) -> int:
        """Send a DISPATCH to the shard that owns its guild once that shard's session is live
        (waits across reconnects); returns its seq."""
        shard = self._shard_of_event(data)
        while True:
            await self.signal.wait_until(
                lambda: self.live(shard), timeout, f"a live gateway session on shard {shard} to send {event}"
            )
            async with self._send_lock:
                conn = self.live(shard)
                if conn is not None:
                    return await self._write_dispatch(conn, event, data)

    async def dispatch_if_connected(self, event: str, data: Any) -> int | None:
        """Send a DISPATCH only if a session is live right now (used for REST side effects)."""
        async with self._send_lock:
            conn = self.live(self._shard_of_event(data))
            if conn is None:
                return None
            return await self._write_dispatch(conn, event, data)

    async def force_reconnect(self, *, timeout: float = 5.0) -> None:
        """Send op 7 RECONNECT and wait until the client has RESUMEd on a new connection."""
        await self._interrupt(
            {"op": RECONNECT, "d": None, "s": None, "t": None},
            lambda: self.resume_count,
            timeout,
            "the client to RESUME after op 7",
        )

    async def invalidate_session(self, *, timeout: float = 5.0) -> None:
        """Send op 9 (not resumable) and wait for a fresh IDENTIFY + READY."""
        await self._interrupt(
            {"op": INVALID_SESSION, "d": False, "s": None, "t": None},
            lambda: self.identify_count,
            timeout,
            "the client to re-IDENTIFY after op 9",
        )

    async def drop_connection(self, *, code: int = 4000, timeout: float = 5.0) -> None:
        """Close the socket abruptly (no op 7) and wait for the client to RESUME."""
        conn = await self.signal.wait_until(lambda: self._current, timeout, "a live gateway session")
        before = self.resume_count
        async with self._send_lock:
            self._current = None
        await conn.ws.close(code=code)
        await self.signal.wait_until(
            lambda: self.resume_count > before and self._current is not None,
            timeout,
            "the client to RESUME after a dropped connection",
        )

    async def _interrupt(self, frame: JSON, counter: Any, timeout: float, what: str) -> None:
        conn = await self.signal.wait_until(lambda: self._current, timeout, "a live gateway session")
        before = counter()
        async with self._send_lock:
            self._current = None  # dispatches sent from now on wait for the new session
            await self._write(conn, frame)
        await self.signal.wait_until(lambda: counter() > before and self._current is not None, timeout, what)

    async def close(self) -> None:
        for conn in self.connections:
            if not conn.ws.closed:
                await conn.ws.close(code=1001, message=b"fakediscord shutting down")
