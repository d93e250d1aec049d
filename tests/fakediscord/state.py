"""The fake's world model: users, guilds, channels, messages, commands, interactions.

Plain data, no I/O. REST handlers and event builders mutate it; tests read it.
Message dicts are shared between :attr:`FakeWorld.messages` and
:attr:`FakeWorld.channel_messages`, and edits mutate them in place, so both views
always agree.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import payloads as p
from .payloads import JSON


class UnknownCommandError(LookupError):
    """Raised when a test invokes a command that was never synced (Discord could not send it)."""


@dataclass
class FakeGuild:
    id: int
    name: str
    owner_id: int
    everyone_role_id: int
    admin_role_id: int
    bot_role_id: int
    roles: dict[int, JSON] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    thread_ids: list[int] = field(default_factory=list)
    #: user id -> member payload (with ``user``).
    members: dict[int, JSON] = field(default_factory=dict)


@dataclass
class InteractionRecord:
    """Server-side view of one interaction: what the bot has answered so far."""

    id: int
    token: str
    type: int
    payload: JSON
    channel_id: int
    guild_id: int | None
    #: Message a component was clicked on (type 3 only).
    source_message_id: int | None = None
    #: Callback type the bot answered with (``None`` until it answers).
    response_type: int | None = None
    #: The message ``@original`` refers to.
    original_message_id: int | None = None
    #: True between a deferred (type 5) callback and the edit/followup that replaces it.
    loading: bool = False
    followup_ids: list[int] = field(default_factory=list)
    autocomplete_choices: list[JSON] | None = None
    modal: JSON | None = None


class FakeWorld:
    """Everything the fake Discord knows. One bot application, any number of guilds."""

    def __init__(self, *, bot_name: str = "Verbatim", token: str | None = None) -> None:
        self.snowflake = p.SnowflakeFactory()
        #: If set, REST calls and IDENTIFY must present this bot token.
        self.token = token
        bot_id = self.snowflake()
        #: Modern applications share their id with their bot user.
        self.application_id = bot_id
        self.bot_user: JSON = p.user(bot_id, bot_name, bot=True)
        self.users: dict[int, JSON] = {bot_id: self.bot_user}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, JSON] = {}
        self.messages: dict[int, JSON] = {}
        self.channel_messages: defaultdict[int, list[JSON]] = defaultdict(list)
        self.deleted_message_ids: list[int] = []
        #: guild id (``None`` = global) -> synced command payloads as Discord echoes them.
        self.commands: dict[int | None, list[JSON]] = {}
        self._command_ids: dict[tuple[int | None, str, int], int] = {}
        self.interactions: dict[str, InteractionRecord] = {}
        self._dm_channel_ids: dict[int, int] = {}
        self.owner: JSON = self.add_user("owner")

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    # -- users, guilds, channels -------------------------------------------------

    def add_user(
        self, username: str, *, admin: bool = False, bot: bool = False, guild_ids: Iterable[int] | None = None
    ) -> JSON:
        """Create a user and make it a member of ``guild_ids`` (default: every guild)."""
        user = p.user(self.snowflake(), username, bot=bot)
        self.users[int(user["id"])] = user
        for guild_id in self.guilds if guild_ids is None else guild_ids:
            self.add_member(guild_id, user, admin=admin)
        return user

    def add_member(self, guild_id: int, user: JSON, *, admin: bool = False) -> JSON:
        guild = self.guilds[guild_id]
        roles = [guild.admin_role_id] if admin else []
        if int(user["id"]) == self.bot_id:
            roles = [guild.bot_role_id]
        member = p.member(user, roles, joined_at=p.iso_now())
        guild.members[int(user["id"])] = member
        return member

    def add_guild(
        self, name: str, *, channel_names: Iterable[str] = ("general",), shard: tuple[int, int] | None = None
    ) -> FakeGuild:
        """A new guild; ``shard=(id, count)``: one whose id that shard owns, ``(id >> 22) % count``."""
        guild_id = self.snowflake()
        if shard is not None:
            wanted, count = shard
            stamp = guild_id >> 22
            # A later timestamp by up to count - 1 ms: still unique, still a sane created_at.
            guild_id = ((stamp + (wanted - stamp) % count) << 22) | (guild_id & ((1 << 22) - 1))
        guild = FakeGuild(
            id=guild_id,
            name=name,
            owner_id=int(self.owner["id"]),
            everyone_role_id=guild_id,
            admin_role_id=self.snowflake(),
            bot_role_id=self.snowflake(),
        )
        guild.roles[guild_id] = p.role(guild_id, "@everyone", p.PERMISSIONS_MEMBER)
        guild.roles[guild.bot_role_id] = p.role(
            guild.bot_role_id,
            self.bot_user["username"],
            p.PERMISSIONS_BOT,
            position=1,
            managed=True,
            tags={"bot_id": self.bot_user["id"]},
        )
        guild.roles[guild.admin_role_id] = p.role(guild.admin_role_id, "Admin", p.Perm.ADMINISTRATOR, position=2)
        self.guilds[guild_id] = guild
        self.add_member(guild_id, self.bot_user)
        self.add_member(guild_id, self.owner, admin=True)
        for channel_name in channel_names:
            self.add_text_channel(guild_id, channel_name)
        return guild

    def add_text_channel(self, guild_id: int, name: str) -> JSON:
        guild = self.guilds[guild_id]
        channel = p.text_channel(self.snowflake(), guild_id, name, position=len(guild.channel_ids))
        self.channels[int(channel["id"])] = channel
        guild.channel_ids.append(int(channel["id"]))
        return channel

    def add_thread(
        self,
        parent_id: int,
        name: str,
        *,
        thread_type: int = p.CHANNEL_PUBLIC_THREAD,
        thread_id: int | None = None,
        auto_archive_duration: int = 1440,
    ) -> JSON:
        parent = self.channels[parent_id]
        guild_id = int(parent["guild_id"])
        thread = p.thread(
            thread_id or self.snowflake(),
            guild_id,
            parent_id,
            self.bot_id,
            name,
            thread_type=thread_type,
            auto_archive_duration=auto_archive_duration,
        )
        self.channels[int(thread["id"])] = thread
        self.guilds[guild_id].thread_ids.append(int(thread["id"]))
        return thread

    def dm_channel(self, user_id: int) -> JSON:
        """The (created on demand) DM channel between the bot and ``user_id``."""
        if user_id not in self._dm_channel_ids:
            channel = p.dm_channel(self.snowflake(), self.users[user_id])
            self.channels[int(channel["id"])] = channel
            self._dm_channel_ids[user_id] = int(channel["id"])
        return self.channels[self._dm_channel_ids[user_id]]

    def guild_of_channel(self, channel_id: int) -> int | None:
        guild_id = self.channels.get(channel_id, {}).get("guild_id")
        return int(guild_id) if guild_id else None

    def member_permissions(self, guild_id: int, user_id: int) -> int:
        """Resolved guild-level permissions, as Discord puts them in ``member.permissions``."""
        guild = self.guilds[guild_id]
        if user_id == guild.owner_id:
            return p.PERMISSIONS_ALL
        member = guild.members[user_id]
        bits = int(guild.roles[guild.everyone_role_id]["permissions"])
        for role_id in member["roles"]:
            bits |= int(guild.roles[int(role_id)]["permissions"])
        return p.PERMISSIONS_ALL if bits & p.Perm.ADMINISTRATOR else bits

    def guild_create_payload(self, guild_id: int) -> JSON:
        guild = self.guilds[guild_id]
        return p.guild_create(
            guild.id,
            guild.name,
            owner_id=guild.owner_id,
            roles=list(guild.roles.values()),
            channels=[self.channels[c] for c in guild.channel_ids],
            threads=[self.channels[t] for t in guild.thread_ids],
            members=list(guild.members.values()),
        )

    # -- messages ------------------------------------------------------------------

    def store_message(self, message: JSON) -> JSON:
        self.messages[int(message["id"])] = message
        self.channel_messages[int(message["channel_id"])].append(message)
        channel = self.channels.get(int(message["channel_id"]))
        if channel is not None:
            channel["last_message_id"] = message["id"]
        return message

    def create_message(
        self,
        channel_id: int,
        body: JSON,
        *,
        author: JSON | None = None,
        message_type: int = p.MESSAGE_TYPE_DEFAULT,
        attachments: list[JSON] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> JSON:
        """Create and store a message from a REST body (content/embeds/components/flags...)."""
        echoed: dict[str, Any] = {}
        if "allowed_mentions" in body:
            echoed["allowed_mentions"] = body["allowed_mentions"]
        if body.get("nonce") is not None:
            echoed["nonce"] = body["nonce"]
        message = p.message(
            self.snowflake(),
            channel_id,
            author=author or self.bot_user,
            content=body.get("content") or "",
            guild_id=self.guild_of_channel(channel_id),
            embeds=body.get("embeds") or [],
            components=body.get("components") or [],
            flags=body.get("flags") or 0,
            message_type=message_type,
            tts=bool(body.get("tts")),
            attachments=attachments,
            extra={**echoed, **(extra or {})},
        )
        return self.store_message(message)

    def edit_message(self, message: JSON, body: JSON, *, attachments: list[JSON] | None = None) -> JSON:
        """Apply a PATCH body in place. Editing a deferred message clears its LOADING flag."""
        for key in ("content", "embeds", "components", "allowed_mentions"):
            if key in body:
                message[key] = body[key] if body[key] is not None else ("" if key == "content" else [])
        if body.get("flags") is not None:
            # Only SUPPRESS_EMBEDS (1<<2) is editable; ephemeral-ness is fixed at creation.
            message["flags"] = (message["flags"] & ~(1 << 2)) | (body["flags"] & (1 << 2))
        if "attachments" in body or attachments:
            kept_ids = {str(a.get("id")) for a in body.get("attachments") or []}
            kept = [a for a in message["attachments"] if a["id"] in kept_ids]
            message["attachments"] = kept + (attachments or [])
        was_loading = bool(message["flags"] & p.FLAG_LOADING)
        message["flags"] &= ~p.FLAG_LOADING
        if not was_loading:
            message["edited_timestamp"] = p.iso_now()
        return message

    def delete_message(self, message_id: int) -> None:
        message = self.messages.pop(message_id)
        self.channel_messages[int(message["channel_id"])].remove(message)
        self.deleted_message_ids.append(message_id)

    def bot_messages(self, channel_id: int) -> list[JSON]:
        return [m for m in self.channel_messages[channel_id] if m["author"]["id"] == self.bot_user["id"]]

    # -- application commands --------------------------------------------------------

    def sync_commands(self, guild_id: int | None, commands: list[JSON]) -> list[JSON]:
        """Bulk overwrite. Ids are stable per (scope, name, type), like Discord's."""
        synced = []
        for command in commands:
            command_type = command.get("type", 1)
            key = (guild_id, command["name"], command_type)
            command_id = self._command_ids.setdefault(key, self.snowflake())
            echoed = {
                **command,
                "id": str(command_id),
                "application_id": str(self.application_id),
                "version": str(self.snowflake()),
                "type": command_type,
                # Context menus are sent without a description; Discord echoes "".
                "description": command.get("description", ""),
                "default_member_permissions": command.get("default_member_permissions"),
                "nsfw": command.get("nsfw", False),
            }
            if guild_id is not None:
                echoed["guild_id"] = str(guild_id)
            synced.append(echoed)
        self.commands[guild_id] = synced
        return synced

    def find_command(self, name: str, command_type: int, guild_id: int | None) -> JSON:
        """The synced command a user could invoke here: guild commands, then global ones."""
        scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name and command["type"] == command_type:
                    return command
        known = sorted(
            f"{c['name']} (type {c['type']}, guild {scope})" for scope, cmds in self.commands.items() for c in cmds
        )
        raise UnknownCommandError(
            f"command {name!r} (type {command_type}) was never synced for guild {guild_id}; synced: {known}"
        )

    # -- interactions --------------------------------------------------------------------

    def new_interaction(
        self,
        interaction_type: int,
        payload: JSON,
        *,
        channel_id: int,
        guild_id: int | None,
        source_message_id: int | None = None,
    ) -> InteractionRecord:
        """Assign id/token/application_id to ``payload`` and remember it for the REST side."""
        record = InteractionRecord(
            id=self.snowflake(),
            token=f"fake-ix-{secrets.token_urlsafe(24)}",
            type=interaction_type,
            payload=payload,
            channel_id=channel_id,
            guild_id=guild_id,
            source_message_id=source_message_id,
        )
        payload.update(
            id=str(record.id), token=record.token, application_id=str(self.application_id), type=interaction_type
        )
        self.interactions[record.token] = record
        return record
