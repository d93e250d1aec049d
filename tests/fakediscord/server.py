"""FakeDiscord: one aiohttp server on 127.0.0.1 speaking Discord's gateway and REST API.

Typical use (see ``fixtures.py`` for the pytest wiring)::

    fake = FakeDiscord()
    await fake.start()                     # random free port
    ... point discord.py at fake.api_base / fake.gateway_url, start the bot ...
    ix = await fake.dispatch_interaction(fake.slash_command("ping"))
    answer = await fake.wait_for_answer(ix)
    await fake.stop()

Every REST call is recorded as a :class:`RecordedCall` (including injected
faults and unknown routes) so tests assert on what the bot *sent*.
"""

from __future__ import annotations

import json
import math
import re
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from . import events
from .events import OptionValues
from .gateway import FakeGateway
from .payloads import JSON, PermissionSpec
from .rest import BODY, FILES, PAYLOAD, ApiError, RestApi, json_response
from .state import FakeGuild, FakeWorld, InteractionRecord
from .waiting import ChangeSignal

API_PREFIX = "/api/v10"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_regex(pattern: str) -> re.Pattern[str]:
    """``{anything}`` matches one path segment, ``*`` matches the rest; the whole path must match.

    So the placeholder names never matter: ``/webhooks/{app}/{token}`` matches
    ``/webhooks/1/abc`` but not ``/webhooks/1/abc/messages/@original``.
    """
    parts = re.split(r"(\{[^}]*\}|\*)", pattern)
    regex = "".join("[^/]+" if part.startswith("{") else ".*" if part == "*" else re.escape(part) for part in parts)
    return re.compile(regex)


@dataclass
class RecordedCall:
    """One REST request as the fake saw it, and what it answered."""

    method: str
    #: Path without the ``/api/v10`` prefix, e.g. ``/channels/123/messages``.
    path: str
    #: Matched route template, e.g. ``/channels/{channel_id}/messages``; ``None`` if unhandled.
    route: str | None
    query: dict[str, str]
    #: Parsed JSON body (``payload_json`` for multipart uploads), else ``None``/text.
    json: Any
    headers: dict[str, str]
    #: Uploaded files: ``field``, ``filename``, ``content_type``, ``size``, ``data``.
    files: list[JSON] = field(default_factory=list)
    status: int = 0
    response: Any = None
    unhandled: bool = False
    #: ``"429"``/``"500"``... when the answer came from an injected fault.
    fault: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def matches(self, method: str, route: str) -> bool:
        return method in ("*", self.method) and route_regex(route).fullmatch(self.path) is not None


@dataclass
class Fault:
    """Answer the next ``remaining`` calls matching (method, route) with ``status``."""

    method: str
    route: str
    remaining: int
    status: int
    retry_after: float = 0.05
    is_global: bool = False
    hits: int = 0

    def response(self) -> web.Response:
        if self.status == 429:
            # discord.py only retries a 429 that carries a Via header (otherwise it
            # assumes a Cloudflare ban) and sleeps for the body's retry_after.
            headers = {
                "Retry-After": str(max(1, math.ceil(self.retry_after))),
                "Via": "1.1 google",
                "X-RateLimit-Scope": "global" if self.is_global else "user",
            }
            if self.is_global:
                headers["X-RateLimit-Global"] = "true"
            body = {"message": "You are being rate limited.", "retry_after": self.retry_after, "global": self.is_global}
            return json_response(body, 429, headers)
        return json_response({"message": f"{self.status}: Internal Server Error", "code": 0}, self.status)


class FakeDiscord:
    """The fake server plus a default world: guild "Verbatim Dev" with #general and
    #bot-log, an admin user ``alice``, a plain member ``bob`` and the guild owner."""

    def __init__(
        self,
        *,
        bot_name: str = "Verbatim",
        token: str | None = None,
        guild_name: str = "Verbatim Dev",
        heartbeat_interval_ms: int = 41_250,
    ) -> None:
        self.signal = ChangeSignal()
        self.world = FakeWorld(bot_name=bot_name, token=token)
        self.gateway = FakeGateway(self.world, self.signal, heartbeat_interval_ms=heartbeat_interval_ms)
        self.rest = RestApi(self.world, self.gateway)
        self.calls: list[RecordedCall] = []
        self.unhandled: list[RecordedCall] = []
        #: Tracebacks of exceptions raised inside the fake's own handlers.
        self.internal_errors: list[str] = []
        self.faults: list[Fault] = []
        #: Set to True in a test that deliberately hits unknown routes.
        self.allow_unhandled = False
        self.guild: FakeGuild = self.world.add_guild(guild_name, channel_names=("general", "bot-log"))
        self.guild_id = self.guild.id
        self.channel_id = self.guild.channel_ids[0]
        self.admin: JSON = self.world.add_user("alice", admin=True)
        self.member: JSON = self.world.add_user("bob")
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._catch_all: web.AbstractResource | None = None
        self._gateway_resources: set[web.AbstractResource] = set()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.router.add_routes(self.rest.routes(API_PREFIX))
        for path in ("/gateway", "/resume-gateway"):
            resource = app.router.add_resource(path)
            resource.add_route("GET", self.gateway.handle)
            self._gateway_resources.add(resource)
        self._catch_all = app.router.add_route("*", "/{tail:.*}", self._not_found).resource
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        self.rest.gateway_url = self.gateway_url
        self.gateway.resume_url = f"ws://{host}:{port}/resume-gateway"

    async def stop(self) -> None:
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Value for ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (as a ``yarl.URL``)."""
        return self.base_url.replace("http://", "ws://", 1) + "/gateway"

    # -- recording middleware --------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        if resource in self._gateway_resources:
            return await handler(request)
        unhandled = resource is None or resource is self._catch_all
        body, files = await self._read_body(request)
        path = request.path[len(API_PREFIX) :] if request.path.startswith(API_PREFIX + "/") else request.path
        route = None if unhandled or resource is None else resource.canonical[len(API_PREFIX) :]
        call = RecordedCall(
            method=request.method,
            path=path,
            route=route,
            query=dict(request.query),
            json=body,
            headers=dict(request.headers),
            files=files,
            unhandled=unhandled,
        )
        request[BODY], request[FILES] = body, files
        response = await self._respond(request, handler, call)
        call.status, call.response = response.status, response.get(PAYLOAD)
        self.calls.append(call)
        if unhandled:
            self.unhandled.append(call)
        await self.signal.notify()
        return response

    async def _respond(self, request: web.Request, handler: Handler, call: RecordedCall) -> web.StreamResponse:
        if call.unhandled:
            return json_response({"message": "404: Not Found", "code": 0}, 404)
        for fault in self.faults:
            if fault.remaining > 0 and call.matches(fault.method, fault.route):
                fault.remaining -= 1
                fault.hits += 1
                call.fault = str(fault.status)
                return fault.response()
        # Interaction webhooks/callbacks authenticate by the token in the URL; /gateway is public.
        no_auth = call.path.startswith(("/webhooks/", "/interactions/")) or call.path == "/gateway"
        if (
            self.world.token is not None
            and not no_auth
            and request.headers.get("Authorization") != f"Bot {self.world.token}"
        ):
            return json_response({"message": "401: Unauthorized", "code": 0}, 401)
        try:
            return await handler(request)
        except ApiError as exc:
            return json_response(exc.body(), exc.status)
        except Exception as exc:  # a bug in the fake: make it loud, but don't trigger 5xx retries
            self.internal_errors.append(traceback.format_exc())
            return json_response({"message": f"fakediscord internal error: {exc!r}", "code": 0}, 400)

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[Any, list[JSON]]:
        if not request.body_exists:
            return None, []
        if request.content_type.startswith("multipart/"):
            body: Any = None
            files: list[JSON] = []
            async for part in await request.multipart():
                if not isinstance(part, BodyPartReader):
                    continue  # nested multipart: discord.py never sends it
                if part.name == "payload_json":
                    body = json.loads(await part.text())
                else:
                    data = await part.read(decode=False)
                    files.append(
                        {
                            "field": part.name,
                            "filename": part.filename,
                            "size": len(data),
                            "data": data,
                            "content_type": part.headers.get("Content-Type"),
                        }
                    )
            return body, files
        raw = await request.read()
        if request.content_type == "application/json":
            return (json.loads(raw) if raw else None), []
        return (raw.decode("utf-8", "replace") or None), []

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return json_response({"message": "404: Not Found", "code": 0}, 404)

    # -- fault injection ----------------------------------------------------------------------

    def rate_limit(
        self, method: str, route: str, *, times: int = 1, retry_after: float = 0.05, is_global: bool = False
    ) -> Fault:
        """Answer the next ``times`` matching calls with 429 + ``Via`` (retried by discord.py)."""
        fault = Fault(method, route, times, 429, retry_after=retry_after, is_global=is_global)
        self.faults.append(fault)
        return fault

    def server_error(self, method: str, route: str, *, times: int = 1, status: int = 500) -> Fault:
        """Answer the next ``times`` matching calls with a 5xx. discord.py retries
        500/502/504/524 after sleeping 1, 3, 5, 7 s, so keep ``times`` small."""
        fault = Fault(method, route, times, status)
        self.faults.append(fault)
        return fault

    async def force_reconnect(self, *, timeout: float = 5.0) -> None:
        """Send op 7 RECONNECT; returns once the client RESUMEd."""
        await self.gateway.force_reconnect(timeout=timeout)

    async def invalidate_session(self, *, timeout: float = 5.0) -> None:
        await self.gateway.invalidate_session(timeout=timeout)

    async def drop_connection(self, *, code: int = 4000, timeout: float = 5.0) -> None:
        await self.gateway.drop_connection(code=code, timeout=timeout)

    # -- waiting and querying --------------------------------------------------------------------

    async def wait_for(
        self, predicate: Callable[[RecordedCall], bool], timeout: float = 5.0, *, since: int = 0
    ) -> RecordedCall:
        """First recorded call (index >= ``since``) satisfying ``predicate``, waiting if needed."""

        def check() -> RecordedCall | None:
            return next((c for c in self.calls[since:] if predicate(c)), None)

        return await self.signal.wait_until(check, timeout, lambda: f"a matching call; calls: {self._summary()}")

    async def wait_for_answer(self, interaction: JSON, timeout: float = 5.0) -> RecordedCall:
        """The successful call that delivered the user-visible answer to ``interaction``:
        a callback of type 4/7/8/9, a followup, or an edit of ``@original``."""
        token = interaction["token"]

        def is_answer(call: RecordedCall) -> bool:
            if not call.ok or f"/{token}" not in call.path:
                return False
            if call.route == "/interactions/{interaction_id}/{token}/callback":
                return (call.json or {}).get("type") in (4, 7, 8, 9)
            if call.route == "/webhooks/{application_id}/{token}":
                return call.method == "POST"
            return call.method == "PATCH" and call.path.endswith("/messages/@original")

        return await self.wait_for(is_answer, timeout)

    async def wait_for_bot_message(
        self, channel_id: int | None = None, predicate: Callable[[JSON], bool] | None = None, timeout: float = 5.0
    ) -> JSON:
        """A message authored by the bot in ``channel_id`` (default #general) matching ``predicate``."""
        channel = channel_id or self.channel_id

        def check() -> JSON | None:
            return next((m for m in self.world.bot_messages(channel) if predicate is None or predicate(m)), None)

        return await self.signal.wait_until(check, timeout, f"a bot message in channel {channel}")

    def calls_to(self, method: str, route: str) -> list[RecordedCall]:
        """Recorded calls matching ``route`` (see :func:`route_regex`); ``method`` may be ``"*"``."""
        return [c for c in self.calls if c.matches(method, route)]

    def interaction_calls(self, interaction: JSON) -> list[RecordedCall]:
        """Every callback/webhook call made with this interaction's token, in order."""
        return [c for c in self.calls if f"/{interaction['token']}" in c.path]

    def interaction_state(self, interaction: JSON) -> InteractionRecord:
        return self.world.interactions[interaction["token"]]

    def bot_messages(self, channel_id: int | None = None) -> list[JSON]:
        return self.world.bot_messages(channel_id or self.channel_id)

    def problems(self) -> list[str]:
        """Everything a fixture should fail a test on."""
        found = [f"fake internal error:\n{tb}" for tb in self.internal_errors]
        found += [f"gateway: {e}" for e in self.gateway.errors]
        if not self.allow_unhandled:
            found += [f"unhandled route: {c.method} {c.path}" for c in self.unhandled]
        return found

    def _summary(self) -> str:
        return ", ".join(f"{c.method} {c.path} -> {c.status}" for c in self.calls[-15:]) or "none"

    # -- world helpers and event builders -------------------------------------------------------

    @property
    def bot_user(self) -> JSON:
        return self.world.bot_user

    @property
    def application_id(self) -> int:
        return self.world.application_id

    @staticmethod
    def mention(user: JSON) -> str:
        return f"<@{user['id']}>"

    def add_guild(self, name: str, *, shard: tuple[int, int] | None = None) -> FakeGuild:
        """Another guild with a #general, ``alice`` (admin) and ``bob`` as members; with
        ``shard=(id, count)``, one that shard owns."""
        guild = self.world.add_guild(name, shard=shard)
        self.world.add_member(guild.id, self.admin, admin=True)
        self.world.add_member(guild.id, self.member)
        return guild

    def add_user(self, username: str, *, admin: bool = False) -> JSON:
        """A new user who is a member of every guild (admin role if ``admin``)."""
        return self.world.add_user(username, admin=admin)

    def _place(self, guild_id: int | None, channel_id: int | None, dm: bool) -> tuple[int | None, int | None]:
        if dm:
            return None, None
        guild_id = guild_id or (self.world.guild_of_channel(channel_id) if channel_id else None) or self.guild_id
        return guild_id, channel_id or self.world.guilds[guild_id].channel_ids[0]

    def slash_command(
        self,
        name: str,
        options: OptionValues = None,
        *,
        user: JSON | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        permissions: PermissionSpec | None = None,
        locale: str = "en-US",
    ) -> JSON:
        """INTERACTION_CREATE ``d`` for ``/name``. Raises :class:`UnknownCommandError` if
        ``name`` was never synced. ``permissions``: ``"admin"``, ``"member"``, bits, or
        ``None`` to derive them from the user's roles. ``user`` defaults to ``bob``."""
        guild_id, channel_id = self._place(guild_id, channel_id, dm)
        data = events.chat_input_data(self.world, name, options, guild_id=guild_id)
        return events.interaction_envelope(
            self.world,
            events.APPLICATION_COMMAND,
            data,
            user=user or self.member,
            guild_id=guild_id,
            channel_id=channel_id,
            permissions=permissions,
            locale=locale,
        )

    def autocomplete(
        self,
        name: str,
        options: OptionValues,
        *,
        focused: str | None = None,
        user: JSON | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        permissions: PermissionSpec | None = None,
        locale: str = "en-US",
    ) -> JSON:
        """Type-4 interaction. With a dict, ``options[focused]`` is the partial text being
        typed; a raw option list must mark one option ``"focused": True`` itself."""
        if focused is None and (options is None or isinstance(options, Mapping)):
            raise ValueError("autocomplete needs focused=<option name> when options is a dict")
        guild_id, channel_id = self._place(guild_id, channel_id, dm)
        data = events.chat_input_data(self.world, name, options, guild_id=guild_id, focused=focused)
        return events.interaction_envelope(
            self.world,
            events.AUTOCOMPLETE,
            data,
            user=user or self.member,
            guild_id=guild_id,
            channel_id=channel_id,
            permissions=permissions,
            locale=locale,
        )

    def message_command(
        self,
        name: str,
        target_message: JSON,
        *,
        user: JSON | None = None,
        permissions: PermissionSpec | None = None,
        locale: str = "en-US",
    ) -> JSON:
        """Message context menu ``name`` used on ``target_message`` (in that message's channel)."""
        channel_id = int(target_message["channel_id"])
        guild_id = self.world.guild_of_channel(channel_id)
        data = events.context_menu_data(self.world, name, events.MESSAGE_COMMAND, target_message, guild_id=guild_id)
        return events.interaction_envelope(
            self.world,
            events.APPLICATION_COMMAND,
            data,
            user=user or self.member,
            guild_id=guild_id,
            channel_id=channel_id,
            permissions=permissions,
            locale=locale,
        )

    def user_command(
        self,
        name: str,
        target_user: JSON,
        *,
        user: JSON | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        permissions: PermissionSpec | None = None,
        locale: str = "en-US",
    ) -> JSON:
        guild_id, channel_id = self._place(guild_id, channel_id, False)
        data = events.context_menu_data(self.world, name, events.USER_COMMAND, target_user, guild_id=guild_id)
        return events.interaction_envelope(
            self.world,
            events.APPLICATION_COMMAND,
            data,
            user=user or self.member,
            guild_id=guild_id,
            channel_id=channel_id,
            permissions=permissions,
            locale=locale,
        )

    def component_click(
        self,
        custom_id: str,
        message: JSON,
        *,
        user: JSON | None = None,
        values: Sequence[str] | None = None,
        permissions: PermissionSpec | None = None,
        locale: str = "en-US",
    ) -> JSON:
        """Type-3 interaction: ``user`` clicks/selects ``custom_id`` on ``message``
        (its current stored state is used, so edits are respected)."""
        current = self.world.messages.get(int(message["id"]), message)
        data = events.component_data(current, custom_id, values)
        channel_id = int(current["channel_id"])
        guild_id = self.world.guild_of_channel(channel_id)
        return events.interaction_envelope(
            self.world,
            events.MESSAGE_COMPONENT,
            data,
            user=user or self.member,
            guild_id=guild_id,
            channel_id=channel_id,
            permissions=permissions,
            locale=locale,
            message=current,
        )

    def message_create(
        self,
        content: str,
        author: JSON | None = None,
        channel_id: int | None = None,
        *,
        mentions: Sequence[JSON] | None = None,
        reply_to: JSON | None = None,
        embeds: list[JSON] | None = None,
    ) -> JSON:
        """MESSAGE_CREATE ``d`` for a user message (stored, so the bot can reply to it)."""
        return events.message_create(
            self.world,
            content,
            author or self.member,
            channel_id or self.channel_id,
            mentions=mentions,
            reply_to=reply_to,
            embeds=embeds,
        )

    async def send_dispatch(self, event: str, data: Any, *, timeout: float = 5.0) -> int:
        """Send a gateway DISPATCH (waits for a live session); returns its sequence number."""
        return await self.gateway.send_dispatch(event, data, timeout=timeout)

    async def dispatch_interaction(self, interaction: JSON) -> JSON:
        await self.send_dispatch("INTERACTION_CREATE", interaction)
        return interaction

    async def dispatch_message(self, message: JSON) -> JSON:
        await self.send_dispatch("MESSAGE_CREATE", message)
        return message
