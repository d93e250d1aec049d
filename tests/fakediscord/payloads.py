"""Pure builders for Discord API objects, shaped after what discord.py 2.7 parses.

Every builder returns a fresh JSON-able ``dict``. Ids are strings on the wire,
exactly like Discord sends them. Keys that discord.py reads with ``data[...]``
(a ``KeyError`` inside the gateway reader kills ``Client.connect()``) are always
present; the per-builder notes list them.

Nothing here imports discord.py: the fake is a *server*, and keeping it
independent means a discord.py bug cannot hide behind a shared helper.
"""

from __future__ import annotations

import datetime
import itertools
import time
from collections.abc import Iterable, Mapping
from typing import Any

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1_420_070_400_000
API_VERSION = 10
#: Discord's default upload limit for an unboosted guild (10 MiB).
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

# Message flags and message types used by the fake.
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
MESSAGE_TYPE_DEFAULT = 0
MESSAGE_TYPE_REPLY = 19
MESSAGE_TYPE_CHAT_INPUT_COMMAND = 20
MESSAGE_TYPE_CONTEXT_MENU_COMMAND = 23

# Channel types.
CHANNEL_GUILD_TEXT = 0
CHANNEL_DM = 1
CHANNEL_PUBLIC_THREAD = 11
CHANNEL_PRIVATE_THREAD = 12
THREAD_TYPES = (10, CHANNEL_PUBLIC_THREAD, CHANNEL_PRIVATE_THREAD)


class Perm:
    """Permission bits (Discord docs "Permissions" table)."""

    CREATE_INSTANT_INVITE = 1 << 0
    ADMINISTRATOR = 1 << 3
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    SEND_MESSAGES_IN_THREADS = 1 << 38


#: ``discord.Permissions.all().value`` in discord.py 2.7.1. Discord sends the
#: *resolved* permission set in ``member.permissions``, so an administrator gets
#: every bit, not just bit 3 (discord.py does not expand ADMINISTRATOR itself).
PERMISSIONS_ALL = 8_866_461_766_385_663
#: What @everyone gets in a freshly created guild, roughly.
PERMISSIONS_MEMBER = (
    Perm.CREATE_INSTANT_INVITE
    | Perm.ADD_REACTIONS
    | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.CONNECT
    | Perm.SPEAK
    | Perm.CHANGE_NICKNAME
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS
)
#: A typical bot role: member permissions plus message/thread moderation.
PERMISSIONS_BOT = PERMISSIONS_MEMBER | Perm.MANAGE_MESSAGES | Perm.MANAGE_THREADS

PermissionSpec = str | int


def resolve_permissions(spec: PermissionSpec) -> int:
    """Turn ``"admin"``, ``"member"``, ``"none"``, an int or a digit string into bits."""
    if isinstance(spec, int):
        return spec
    presets = {"admin": PERMISSIONS_ALL, "member": PERMISSIONS_MEMBER, "none": 0, "bot": PERMISSIONS_BOT}
    if spec in presets:
        return presets[spec]
    if spec.isdigit():
        return int(spec)
    raise ValueError(f"unknown permission spec {spec!r}; use admin/member/none/bot or an integer")


class SnowflakeFactory:
    """Monotonic snowflakes whose timestamp part is "now" (so ``created_at`` is sane)."""

    def __init__(self, worker_id: int = 1) -> None:
        self._worker_id = worker_id & 0x1F
        self._increment = itertools.count()
        self._last = 0

    def __call__(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (self._worker_id << 17) | (next(self._increment) & 0xFFF)
        value = max(value, self._last + 1)
        self._last = value
        return value


def iso_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def user(user_id: int, username: str, *, bot: bool = False, global_name: str | None = None) -> JSON:
    """Required by discord.py: ``id``, ``username``, ``discriminator``, ``avatar``."""
    return {
        "id": str(user_id),
        "username": username,
        "discriminator": "0",
        "global_name": global_name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


def current_user(base: JSON) -> JSON:
    """``GET /users/@me`` and READY ``user`` carry a few extra private fields."""
    return {**base, "verified": True, "mfa_enabled": False, "flags": 0, "locale": "en-US", "email": None}


def role(
    role_id: int, name: str, permissions: int, *, position: int = 0, managed: bool = False, tags: JSON | None = None
) -> JSON:
    """Required: ``id``, ``name``; ``permissions`` is a string on the wire."""
    payload: JSON = {
        "id": str(role_id),
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": managed,
        "mentionable": False,
        "flags": 0,
    }
    if tags is not None:
        payload["tags"] = tags
    return payload


def member(
    user_payload: JSON | None,
    role_ids: Iterable[int],
    *,
    joined_at: str,
    permissions: int | None = None,
    nick: str | None = None,
) -> JSON:
    """Guild member. Required: ``roles``, ``flags`` and (outside MESSAGE_CREATE) ``user``.

    ``permissions`` is only present in interaction payloads, where Discord sends
    the member's resolved permissions in the interaction channel.
    """
    payload: JSON = {
        "roles": [str(r) for r in role_ids],
        "joined_at": joined_at,
        "nick": nick,
        "avatar": None,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if user_payload is not None:
        payload["user"] = user_payload
    if permissions is not None:
        payload["permissions"] = str(permissions)
    return payload


def text_channel(channel_id: int, guild_id: int, name: str, *, position: int = 0, parent_id: int | None = None) -> JSON:
    """Required: ``id``, ``type``, ``name``, ``position``."""
    return {
        "id": str(channel_id),
        "type": CHANNEL_GUILD_TEXT,
        "guild_id": str(guild_id),
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "topic": None,
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "parent_id": str(parent_id) if parent_id else None,
        "default_auto_archive_duration": 1440,
        "flags": 0,
    }


def dm_channel(channel_id: int, recipient: JSON) -> JSON:
    return {"id": str(channel_id), "type": CHANNEL_DM, "recipients": [recipient], "last_message_id": None, "flags": 0}


def thread(
    thread_id: int,
    guild_id: int,
    parent_id: int,
    owner_id: int,
    name: str,
    *,
    thread_type: int = CHANNEL_PUBLIC_THREAD,
    auto_archive_duration: int = 1440,
) -> JSON:
    """Required: ``id``, ``parent_id``, ``owner_id``, ``name``, ``type``,
    ``message_count``, ``member_count`` and ``thread_metadata`` with ``archived``,
    ``auto_archive_duration``, ``archive_timestamp``; ``member`` needs
    ``join_timestamp`` and ``flags``."""
    now = iso_now()
    return {
        "id": str(thread_id),
        "type": thread_type,
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "flags": 0,
        "applied_tags": [],
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": auto_archive_duration,
            "archive_timestamp": now,
            "locked": False,
            "create_timestamp": now,
        },
        "member": {"id": str(thread_id), "user_id": str(owner_id), "join_timestamp": now, "flags": 0},
    }


def guild_create(
    guild_id: int,
    name: str,
    *,
    owner_id: int,
    roles: list[JSON],
    channels: list[JSON],
    members: list[JSON],
    threads: list[JSON],
) -> JSON:
    """GUILD_CREATE ``d``. ``member_count == len(members)`` makes discord.py treat
    the guild as already chunked, so it never waits for member chunks."""
    return {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "system_channel_id": channels[0]["id"] if channels else None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": "en-US",
        "features": [],
        "vanity_url_code": None,
        "max_members": 500000,
        "joined_at": iso_now(),
        "large": False,
        "unavailable": False,
        "member_count": len(members),
        "roles": roles,
        "emojis": [],
        "stickers": [],
        "channels": channels,
        "threads": threads,
        "members": members,
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def application_info(app_id: int, name: str, owner: JSON) -> JSON:
    """``GET /oauth2/applications/@me``. Required: ``id``, ``name``,
    ``description``, ``icon``, ``bot_public``, ``bot_require_code_grant``,
    ``owner``, ``verify_key``."""
    return {
        "id": str(app_id),
        "name": name,
        "icon": None,
        "description": "",
        "summary": "",
        "type": None,
        "hook": True,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "flags": 0,
        "owner": owner,
        "team": None,
        "rpc_origins": [],
        "redirect_uris": [],
        "tags": [],
        "interactions_endpoint_url": None,
        "approximate_guild_count": 1,
        "integration_types_config": {"0": {}},
    }


def message(
    message_id: int,
    channel_id: int,
    *,
    author: JSON,
    content: str = "",
    guild_id: int | None = None,
    embeds: list[JSON] | None = None,
    components: list[JSON] | None = None,
    flags: int = 0,
    message_type: int = MESSAGE_TYPE_DEFAULT,
    tts: bool = False,
    mentions: list[JSON] | None = None,
    attachments: list[JSON] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSON:
    """Required: ``id``, ``type``, ``content``, ``channel_id`` (plus ``author`` in practice)."""
    payload: JSON = {
        "id": str(message_id),
        "type": message_type,
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": iso_now(),
        "edited_timestamp": None,
        "tts": tts,
        "mention_everyone": False,
        "mentions": mentions or [],
        "mention_roles": [],
        "attachments": attachments or [],
        "embeds": embeds or [],
        "components": components or [],
        "pinned": False,
        "flags": flags,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
    if extra:
        payload.update(extra)
    return payload


def attachment(attachment_id: int, filename: str, size: int, content_type: str | None) -> JSON:
    url = f"https://cdn.discordapp.invalid/attachments/{attachment_id}/{filename}"
    return {
        "id": str(attachment_id),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
    }
