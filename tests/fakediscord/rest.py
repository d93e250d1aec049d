"""REST handlers for the slice of ``/api/v10`` a discord.py bot uses.

Handlers only implement behaviour. Recording, auth, fault injection and error
translation live in the server middleware, which also parses the request body
into ``request[BODY]`` / ``request[FILES]`` (multipart uploads
carry the JSON in a ``payload_json`` part).

Where Discord rejects something, the fake does too, with Discord's error codes,
so the bot's error paths see realistic ``HTTPException``\\ s.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from aiohttp import web

from . import payloads as p
from .gateway import FakeGateway
from .payloads import JSON
from .state import FakeWorld, InteractionRecord

#: Parsed request body / uploaded files (set by the server middleware) and the
#: JSON a handler answered with (read back by the middleware for recording).
BODY: web.RequestKey[Any] = web.RequestKey("fakediscord.body", object)
FILES: web.RequestKey[list[JSON]] = web.RequestKey("fakediscord.files", list)
PAYLOAD: web.ResponseKey[Any] = web.ResponseKey("fakediscord.payload", object)

# Interaction callback types.
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 1, 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9
#: Flags a bot may set when creating a message (SUPPRESS_EMBEDS, EPHEMERAL,
#: SUPPRESS_NOTIFICATIONS, IS_COMPONENTS_V2).
CREATABLE_FLAGS = (1 << 2) | p.FLAG_EPHEMERAL | (1 << 12) | (1 << 15)


class ApiError(Exception):
    """Raised by handlers; the middleware turns it into Discord's JSON error shape."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def body(self) -> JSON:
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with ``Content-Type: application/json`` *exactly*.

    discord.py's ``json_or_text`` compares the header with ``==``; aiohttp's
    ``web.json_response`` appends ``; charset=utf-8`` and the body would then be
    handed to the bot as a ``str``.
    """
    response = web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json", **(headers or {})}
    )
    response[PAYLOAD] = data
    return response


def no_content() -> web.Response:
    return web.Response(status=204)


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


def _validate_new_message(body: JSON, files: list[JSON]) -> None:
    if not (
        body.get("content")
        or body.get("embeds")
        or body.get("components")
        or files
        or body.get("sticker_ids")
        or body.get("poll")
    ):
        raise ApiError(400, 50006, "Cannot send an empty message")
    _validate_message_fields(body)


def _validate_message_fields(body: JSON) -> None:
    if len(body.get("content") or "") > 2000:
        raise ApiError(
            400,
            50035,
            "Invalid Form Body",
            {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}},
        )
    if len(body.get("embeds") or []) > 10:
        raise ApiError(
            400,
            50035,
            "Invalid Form Body",
            {"embeds": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 10 or fewer in length."}]}},
        )


class RestApi:
    def __init__(self, world: FakeWorld, gateway: FakeGateway) -> None:
        self.world = world
        self.gateway = gateway
        #: Set by the server once it knows its port.
        self.gateway_url = ""

    def routes(self, prefix: str) -> list[web.RouteDef]:
        """Route table. Order matters: ``/users/@me`` must precede ``/users/{user_id}``."""
        table = [
            ("GET", "/users/@me", self.get_current_user),
            ("POST", "/users/@me/channels", self.create_dm),
            ("GET", "/users/{user_id}", self.get_user),
            ("GET", "/oauth2/applications/@me", self.get_application),
            ("GET", "/gateway", self.get_gateway),
            ("GET", "/gateway/bot", self.get_gateway_bot),
            ("GET", "/applications/{application_id}/commands", self.get_commands),
            ("PUT", "/applications/{application_id}/commands", self.put_commands),
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self.get_commands),
            ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self.put_commands),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self.interaction_callback),
            ("POST", "/webhooks/{application_id}/{token}", self.webhook_execute),
            ("GET", "/webhooks/{application_id}/{token}/messages/{message_id}", self.webhook_get_message),
            ("PATCH", "/webhooks/{application_id}/{token}/messages/{message_id}", self.webhook_edit_message),
            ("DELETE", "/webhooks/{application_id}/{token}/messages/{message_id}", self.webhook_delete_message),
            ("GET", "/channels/{channel_id}", self.get_channel),
            ("POST", "/channels/{channel_id}/messages", self.create_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message),
            ("POST", "/channels/{channel_id}/messages/{message_id}/threads", self.thread_from_message),
            ("POST", "/channels/{channel_id}/threads", self.thread_without_message),
            ("POST", "/channels/{channel_id}/typing", self.typing),
            ("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self.add_reaction),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member),
        ]
        return [web.route(method, prefix + path, handler) for method, path, handler in table]

    # -- lookups ---------------------------------------------------------------------

    def _channel(self, request: web.Request) -> JSON:
        channel = self.world.channels.get(int(request.match_info["channel_id"]))
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        return channel

    def _channel_message(self, request: web.Request) -> JSON:
        channel = self._channel(request)
        message = self.world.messages.get(int(request.match_info["message_id"]))
        if message is None or message["channel_id"] != channel["id"]:
            raise ApiError(404, 10008, "Unknown Message")
        return message

    def _check_application(self, request: web.Request) -> None:
        if request.match_info["application_id"] != str(self.world.application_id):
            raise ApiError(403, 50001, "Missing Access")

    def _interaction(self, request: web.Request) -> InteractionRecord:
        record = self.world.interactions.get(request.match_info["token"])
        if record is None or str(record.id) != request.match_info["interaction_id"]:
            raise ApiError(404, 10062, "Unknown interaction")
        return record

    def _webhook_interaction(self, request: web.Request) -> InteractionRecord:
        record = self.world.interactions.get(request.match_info["token"])
        if record is None or request.match_info["application_id"] != str(self.world.application_id):
            raise ApiError(404, 10015, "Unknown Webhook")
        if record.response_type is None:
            # The interaction webhook only exists once the interaction was acknowledged.
            raise ApiError(404, 10015, "Unknown Webhook")
        return record

    def _webhook_message(self, request: web.Request, record: InteractionRecord) -> JSON:
        raw = request.match_info["message_id"]
        message_id = record.original_message_id if raw == "@original" else int(raw)
        if message_id is None or (message_id != record.original_message_id and message_id not in record.followup_ids):
            raise ApiError(404, 10008, "Unknown Message")
        message = self.world.messages.get(message_id)
        if message is None:
            raise ApiError(404, 10008, "Unknown Message")
        return message

    def _attachments(self, request: web.Request) -> list[JSON]:
        body: JSON = request[BODY] or {}
        described = {str(a.get("id")): a for a in body.get("attachments") or []}
        built = []
        files: list[JSON] = request[FILES]
        for index, upload in enumerate(files):
            attachment = p.attachment(
                self.world.snowflake(), upload["filename"], upload["size"], upload["content_type"]
            )
            description = described.get(str(index), {}).get("description")
            if description:
                attachment["description"] = description
            built.append(attachment)
        return built

    # -- users, application, gateway -------------------------------------------------------

    async def get_current_user(self, request: web.Request) -> web.Response:
        return json_response(p.current_user(self.world.bot_user))

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.world.users.get(int(request.match_info["user_id"]))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return json_response(user)

    async def create_dm(self, request: web.Request) -> web.Response:
        recipient = int(request[BODY]["recipient_id"])
        if recipient not in self.world.users:
            raise ApiError(400, 50007, "Cannot send messages to this user")
        return json_response(self.world.dm_channel(recipient))

    async def get_application(self, request: web.Request) -> web.Response:
        info = p.application_info(self.world.application_id, self.world.bot_user["username"], self.world.owner)
        return json_response(info)

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.gateway_url})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def get_member(self, request: web.Request) -> web.Response:
        guild = self.world.guilds.get(int(request.match_info["guild_id"]))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        member = guild.members.get(int(request.match_info["user_id"]))
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        return json_response(member)

    # -- application commands ---------------------------------------------------------------

    def _command_scope(self, request: web.Request) -> int | None:
        self._check_application(request)
        if "guild_id" not in request.match_info:
            return None
        guild_id = int(request.match_info["guild_id"])
        if guild_id not in self.world.guilds:
            raise ApiError(403, 50001, "Missing Access")
        return guild_id

    async def get_commands(self, request: web.Request) -> web.Response:
        return json_response(self.world.commands.get(self._command_scope(request), []))

    async def put_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        body = request[BODY]
        if not isinstance(body, list):
            raise ApiError(400, 50035, "Invalid Form Body")
        return json_response(self.world.sync_commands(scope, body))

    # -- interactions --------------------------------------------------------------------------

    def _interaction_message(
        self, record: InteractionRecord, body: JSON, attachments: list[JSON], *, original: bool
    ) -> JSON:
        data = record.payload.get("data") or {}
        message_type = p.MESSAGE_TYPE_DEFAULT
        if record.type == 2:
            message_type = (
                p.MESSAGE_TYPE_CHAT_INPUT_COMMAND if data.get("type", 1) == 1 else p.MESSAGE_TYPE_CONTEXT_MENU_COMMAND
            )
        user = (record.payload.get("member") or {}).get("user") or record.payload.get("user")
        metadata: JSON = {
            "id": str(record.id),
            "type": record.type,
            "user": user,
            "authorizing_integration_owners": record.payload["authorizing_integration_owners"],
        }
        if not original and record.original_message_id is not None:
            metadata["original_response_message_id"] = str(record.original_message_id)
        flags = (body.get("flags") or 0) & (CREATABLE_FLAGS | p.FLAG_LOADING)
        return self.world.create_message(
            record.channel_id,
            {**body, "flags": flags},
            message_type=message_type if original else p.MESSAGE_TYPE_DEFAULT,
            attachments=attachments,
            extra={
                "webhook_id": str(self.world.application_id),
                "application_id": str(self.world.application_id),
                "interaction_metadata": metadata,
            },
        )

    async def interaction_callback(self, request: web.Request) -> web.Response:
        record = self._interaction(request)
        if record.response_type is not None:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        body: JSON = request[BODY] or {}
        callback_type, data = body.get("type"), body.get("data") or {}
        message: JSON | None = None
        if callback_type == CHANNEL_MESSAGE:
            _validate_new_message(data, request[FILES])
            message = self._interaction_message(record, data, self._attachments(request), original=True)
            record.original_message_id = int(message["id"])
        elif callback_type == DEFERRED_CHANNEL_MESSAGE:
            loading = {"content": "", "flags": (data.get("flags") or 0) | p.FLAG_LOADING}
            message = self._interaction_message(record, loading, [], original=True)
            record.original_message_id, record.loading = int(message["id"]), True
        elif callback_type in (DEFERRED_UPDATE, UPDATE_MESSAGE):
            if record.source_message_id is None:
                raise ApiError(400, 50035, "Invalid Form Body: only component/modal interactions can update")
            record.original_message_id = record.source_message_id
            if callback_type == UPDATE_MESSAGE:
                _validate_message_fields(data)
                message = self.world.edit_message(
                    self.world.messages[record.source_message_id], data, attachments=self._attachments(request)
                )
        elif callback_type == AUTOCOMPLETE_RESULT:
            record.autocomplete_choices = list(data.get("choices") or [])
        elif callback_type == MODAL:
            record.modal = data
        elif callback_type != PONG:
            raise ApiError(400, 50035, f"Invalid Form Body: unknown callback type {callback_type}")
        record.response_type = callback_type
        if not _truthy(request.query.get("with_response")):
            return no_content()
        resource: JSON = {"type": callback_type}
        if message is not None:
            resource["message"] = copy.deepcopy(message)
        return json_response(
            {
                "interaction": {
                    "id": str(record.id),
                    "type": record.type,
                    "activity_instance_id": None,
                    "response_message_id": message["id"] if message is not None else None,
                    "response_message_loading": record.loading if message is not None else None,
                    "response_message_ephemeral": bool(message["flags"] & p.FLAG_EPHEMERAL) if message else None,
                },
                "resource": resource,
            }
        )

    async def webhook_execute(self, request: web.Request) -> web.Response:
        """Followup. Discord quirk kept here: the first followup after a type-5 defer
        *replaces* the "thinking" message, and its ephemerality is the defer's."""
        record = self._webhook_interaction(request)
        body: JSON = request[BODY] or {}
        _validate_new_message(body, request[FILES])
        if record.loading and record.original_message_id in self.world.messages:
            message = self.world.edit_message(
                self.world.messages[record.original_message_id], body, attachments=self._attachments(request)
            )
            record.loading = False
        else:
            message = self._interaction_message(record, body, self._attachments(request), original=False)
        record.followup_ids.append(int(message["id"]))
        if _truthy(request.query.get("wait")):
            return json_response(message)
        return no_content()

    async def webhook_get_message(self, request: web.Request) -> web.Response:
        return json_response(self._webhook_message(request, self._webhook_interaction(request)))

    async def webhook_edit_message(self, request: web.Request) -> web.Response:
        record = self._webhook_interaction(request)
        message = self._webhook_message(request, record)
        _validate_message_fields(request[BODY] or {})
        self.world.edit_message(message, request[BODY] or {}, attachments=self._attachments(request))
        if int(message["id"]) == record.original_message_id:
            record.loading = False
        return json_response(message)

    async def webhook_delete_message(self, request: web.Request) -> web.Response:
        message = self._webhook_message(request, self._webhook_interaction(request))
        self.world.delete_message(int(message["id"]))
        return no_content()

    # -- channels, messages, threads ---------------------------------------------------------------

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self._channel(request))

    async def create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        body: JSON = request[BODY] or {}
        _validate_new_message(body, request[FILES])
        extra: JSON = {}
        message_type = p.MESSAGE_TYPE_DEFAULT
        reference = body.get("message_reference")
        if reference:
            referenced = self.world.messages.get(int(reference["message_id"]))
            if referenced is None and reference.get("fail_if_not_exists", True):
                raise ApiError(
                    400,
                    50035,
                    "Invalid Form Body",
                    {
                        "message_reference": {
                            "_errors": [{"code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "message": "Unknown message"}]
                        }
                    },
                )
            extra["message_reference"] = {
                "type": reference.get("type", 0),
                "message_id": str(reference["message_id"]),
                "channel_id": str(reference.get("channel_id") or channel["id"]),
            }
            if channel.get("guild_id"):
                extra["message_reference"]["guild_id"] = channel["guild_id"]
            if referenced is not None:
                extra["referenced_message"] = {
                    k: copy.deepcopy(v) for k, v in referenced.items() if k != "referenced_message"
                }
                message_type = p.MESSAGE_TYPE_REPLY
        body = {**body, "flags": (body.get("flags") or 0) & CREATABLE_FLAGS & ~p.FLAG_EPHEMERAL}
        message = self.world.create_message(
            int(channel["id"]), body, message_type=message_type, attachments=self._attachments(request), extra=extra
        )
        return json_response(message)

    async def get_message(self, request: web.Request) -> web.Response:
        return json_response(self._channel_message(request))

    async def edit_message(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        if message["author"]["id"] != self.world.bot_user["id"]:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        _validate_message_fields(request[BODY] or {})
        self.world.edit_message(message, request[BODY] or {}, attachments=self._attachments(request))
        return json_response(message)

    async def delete_message(self, request: web.Request) -> web.Response:
        self.world.delete_message(int(self._channel_message(request)["id"]))
        return no_content()

    async def add_reaction(self, request: web.Request) -> web.Response:
        self._channel_message(request)
        return no_content()

    async def typing(self, request: web.Request) -> web.Response:
        self._channel(request)
        return no_content()

    async def _new_thread(self, parent: JSON, body: JSON, *, thread_id: int | None, thread_type: int) -> JSON:
        if parent["type"] not in (p.CHANNEL_GUILD_TEXT, 5):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        if not body.get("name"):
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {"name": {"_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]}},
            )
        thread = self.world.add_thread(
            int(parent["id"]),
            body["name"],
            thread_type=thread_type,
            thread_id=thread_id,
            auto_archive_duration=body.get("auto_archive_duration") or 1440,
        )
        # Real Discord also tells the bot over the gateway; discord.py caches the thread from it.
        await self.gateway.dispatch_if_connected("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    async def thread_from_message(self, request: web.Request) -> web.Response:
        """The thread id equals the starter message id, as on Discord."""
        message = self._channel_message(request)
        if int(message["id"]) in self.world.channels:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        thread = await self._new_thread(
            self._channel(request),
            request[BODY] or {},
            thread_id=int(message["id"]),
            thread_type=p.CHANNEL_PUBLIC_THREAD,
        )
        return json_response(thread)

    async def thread_without_message(self, request: web.Request) -> web.Response:
        body: JSON = request[BODY] or {}
        # Discord defaults to a private thread when no type is given.
        thread_type = body.get("type") or p.CHANNEL_PRIVATE_THREAD
        thread = await self._new_thread(self._channel(request), body, thread_id=None, thread_type=thread_type)
        return json_response(thread)
