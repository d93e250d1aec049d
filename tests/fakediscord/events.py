"""Builders for the gateway events tests inject: INTERACTION_CREATE and MESSAGE_CREATE.

They refuse what real Discord could never send (a command that was not synced,
an option the command does not declare, a click on a component that is not on
the message), so a test cannot pass against a payload production would never see.

discord.py 2.7 ``Interaction._from_data`` reads ``id``, ``type``, ``token``,
``version``, ``application_id`` and ``attachment_size_limit`` with ``data[...]``;
the rest below is what Discord sends and what discord.py uses when present.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from . import payloads as p
from .payloads import JSON, PermissionSpec
from .state import FakeWorld, UnknownCommandError

OptionValues = Mapping[str, Any] | Sequence[JSON] | None

# Application command option types.
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11
# Interaction types.
APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE = 2, 3, 4
# Application command types.
CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND = 1, 2, 3

_MENTION = re.compile(r"<@!?(\d+)>")


def _member_without_user(world: FakeWorld, guild_id: int, user_id: int, *, permissions: bool) -> JSON | None:
    member = world.guilds[guild_id].members.get(user_id)
    if member is None:
        return None
    stripped = {k: copy.deepcopy(v) for k, v in member.items() if k != "user"}
    if permissions:
        stripped["permissions"] = str(world.member_permissions(guild_id, user_id))
    return stripped


def interaction_envelope(
    world: FakeWorld,
    interaction_type: int,
    data: JSON,
    *,
    user: JSON,
    guild_id: int | None,
    channel_id: int | None,
    permissions: PermissionSpec | None,
    locale: str = "en-US",
    message: JSON | None = None,
) -> JSON:
    """The INTERACTION_CREATE ``d`` around ``data``; registers the interaction in ``world``."""
    user_id = int(user["id"])
    payload: JSON = {
        "data": data,
        "version": 1,
        "locale": locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": p.ATTACHMENT_SIZE_LIMIT,
    }
    if guild_id is not None:
        guild = world.guilds[guild_id]
        if user_id not in guild.members:
            raise LookupError(f"user {user['username']} is not a member of guild {guild_id}")
        if channel_id is None or world.guild_of_channel(channel_id) != guild_id:
            raise LookupError(f"channel {channel_id} is not in guild {guild_id}")
        perms = (
            world.member_permissions(guild_id, user_id) if permissions is None else p.resolve_permissions(permissions)
        )
        payload.update(
            guild_id=str(guild_id),
            guild={"id": str(guild_id), "locale": "en-US", "features": []},
            guild_locale="en-US",
            member={**copy.deepcopy(guild.members[user_id]), "permissions": str(perms)},
            app_permissions=str(world.member_permissions(guild_id, world.bot_id)),
            authorizing_integration_owners={"0": str(guild_id)},
            context=0,
        )
    else:
        channel_id = int(world.dm_channel(user_id)["id"])
        # In a bot DM the guild-install owner is reported as "0".
        payload.update(
            user=copy.deepcopy(user),
            app_permissions=str(p.PERMISSIONS_MEMBER),
            authorizing_integration_owners={"0": "0"},
            context=1,
        )
    payload.update(channel_id=str(channel_id), channel=copy.deepcopy(world.channels[channel_id]))
    if message is not None:
        payload["message"] = copy.deepcopy(message)
    world.new_interaction(
        interaction_type,
        payload,
        channel_id=channel_id,
        guild_id=guild_id,
        source_message_id=int(message["id"]) if message is not None else None,
    )
    return payload


def _resolve_value(world: FakeWorld, option_type: int, value: Any, resolved: JSON, guild_id: int | None) -> Any:
    """Convert a test-friendly value to the wire value, filling ``resolved`` for entities."""
    if option_type == STRING:
        return str(value)
    if option_type == INTEGER:
        return int(value)
    if option_type == NUMBER:
        return float(value)
    if option_type == BOOLEAN:
        return bool(value)
    if option_type == ATTACHMENT:
        resolved.setdefault("attachments", {})[value["id"]] = copy.deepcopy(value)
        return value["id"]
    entity_id = int(value["id"]) if isinstance(value, Mapping) else int(value)
    if option_type in (USER, MENTIONABLE) and entity_id in world.users:
        resolved.setdefault("users", {})[str(entity_id)] = copy.deepcopy(world.users[entity_id])
        if guild_id is not None:
            member = _member_without_user(world, guild_id, entity_id, permissions=True)
            if member is not None:
                resolved.setdefault("members", {})[str(entity_id)] = member
        return str(entity_id)
    if option_type in (ROLE, MENTIONABLE) and guild_id is not None and entity_id in world.guilds[guild_id].roles:
        resolved.setdefault("roles", {})[str(entity_id)] = copy.deepcopy(world.guilds[guild_id].roles[entity_id])
        return str(entity_id)
    if option_type == CHANNEL and entity_id in world.channels:
        channel = {**copy.deepcopy(world.channels[entity_id]), "permissions": str(p.PERMISSIONS_ALL)}
        resolved.setdefault("channels", {})[str(entity_id)] = channel
        return str(entity_id)
    raise LookupError(f"cannot resolve {value!r} for an option of type {option_type}")


def _build_options(
    world: FakeWorld,
    schema: list[JSON],
    given: Mapping[str, Any],
    resolved: JSON,
    *,
    guild_id: int | None,
    focused: str | None,
) -> list[JSON]:
    by_name = {o["name"]: o for o in schema}
    built = []
    for name, value in given.items():
        if name not in by_name:
            raise ValueError(f"option {name!r} is not declared; declared: {sorted(by_name)}")
        option_type = by_name[name]["type"]
        if name == focused:
            # Autocomplete sends the partial text the user typed, always as a string.
            built.append({"name": name, "type": option_type, "value": str(value), "focused": True})
        else:
            built.append(
                {
                    "name": name,
                    "type": option_type,
                    "value": _resolve_value(world, option_type, value, resolved, guild_id),
                }
            )
    if focused is None:
        missing = [
            o["name"] for o in schema if o.get("required") and o["type"] > SUB_COMMAND_GROUP and o["name"] not in given
        ]
        if missing:
            raise ValueError(f"required options missing: {missing}")
    elif focused not in given:
        raise ValueError(f"focused option {focused!r} must be among the given options")
    return built


def chat_input_data(
    world: FakeWorld, name: str, options: OptionValues, *, guild_id: int | None, focused: str | None = None
) -> JSON:
    """``data`` for a slash command. ``name`` may be ``"group sub"`` for subcommands.

    ``options`` is ``{option_name: value}`` (types come from the synced schema) or
    a raw list of option dicts passed through untouched.
    """
    top, *path = name.split()
    command = world.find_command(top, CHAT_INPUT, guild_id)
    data: JSON = {"id": command["id"], "name": top, "type": CHAT_INPUT}
    if "guild_id" in command:
        # Present only for guild-scoped commands; discord.py's tree keys its lookup on it.
        data["guild_id"] = command["guild_id"]
    resolved: JSON = {}
    schema = command.get("options") or []
    container = data
    for segment in path:
        sub = next((o for o in schema if o["name"] == segment and o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)), None)
        if sub is None:
            raise UnknownCommandError(f"{name!r}: {segment!r} is not a subcommand of the synced command")
        node: JSON = {"name": segment, "type": sub["type"], "options": []}
        container["options"] = [node]
        container, schema = node, sub.get("options") or []
    if options is None or isinstance(options, Mapping):
        container["options"] = _build_options(
            world, schema, options or {}, resolved, guild_id=guild_id, focused=focused
        )
    else:
        container["options"] = list(options)
    if resolved:
        data["resolved"] = resolved
    return data


def context_menu_data(world: FakeWorld, name: str, command_type: int, target: JSON, *, guild_id: int | None) -> JSON:
    """``data`` for a user (2) or message (3) context menu on ``target``."""
    command = world.find_command(name, command_type, guild_id)
    data: JSON = {"id": command["id"], "name": name, "type": command_type, "target_id": target["id"]}
    if "guild_id" in command:
        data["guild_id"] = command["guild_id"]
    if command_type == MESSAGE_COMMAND:
        data["resolved"] = {"messages": {target["id"]: copy.deepcopy(target)}}
    else:
        resolved: JSON = {}
        _resolve_value(world, USER, target, resolved, guild_id)
        data["resolved"] = resolved
    return data


def find_component(components: Sequence[JSON], custom_id: str) -> JSON | None:
    """Depth-first search through action rows, containers and section accessories."""
    for component in components:
        if component.get("custom_id") == custom_id:
            return component
        children = list(component.get("components") or [])
        if isinstance(component.get("accessory"), Mapping):
            children.append(component["accessory"])
        found = find_component(children, custom_id)
        if found is not None:
            return found
    return None


def component_data(message: JSON, custom_id: str, values: Sequence[str] | None) -> JSON:
    component = find_component(message.get("components") or [], custom_id)
    if component is None:
        raise LookupError(f"message {message['id']} has no component with custom_id {custom_id!r}")
    if component.get("disabled"):
        raise LookupError(f"component {custom_id!r} is disabled; Discord would not deliver the click")
    data: JSON = {"custom_id": custom_id, "component_type": component["type"]}
    if component["type"] != 2:  # every select menu carries the chosen values
        data["values"] = list(values or [])
    return data


def message_create(
    world: FakeWorld,
    content: str,
    author: JSON,
    channel_id: int,
    *,
    mentions: Sequence[JSON] | None = None,
    reply_to: JSON | None = None,
    embeds: list[JSON] | None = None,
) -> JSON:
    """MESSAGE_CREATE ``d`` for a user message; the message is also stored in ``world``.

    ``mentions=None`` derives the mentioned users from ``<@id>`` tokens in ``content``.
    """
    guild_id = world.guild_of_channel(channel_id)
    if mentions is None:
        mentions = [world.users[int(i)] for i in _MENTION.findall(content) if int(i) in world.users]
    mention_payloads = []
    for mentioned in mentions:
        entry = copy.deepcopy(dict(mentioned))
        if guild_id is not None:
            member = _member_without_user(world, guild_id, int(mentioned["id"]), permissions=False)
            if member is not None:
                entry["member"] = member
        mention_payloads.append(entry)
    extra: JSON = {}
    if guild_id is not None:
        member = _member_without_user(world, guild_id, int(author["id"]), permissions=False)
        if member is not None:
            extra["member"] = member
    if reply_to is not None:
        extra["message_reference"] = {
            "type": 0,
            "message_id": reply_to["id"],
            "channel_id": reply_to["channel_id"],
            **({"guild_id": str(guild_id)} if guild_id else {}),
        }
        extra["referenced_message"] = copy.deepcopy(reply_to)
    message = p.message(
        world.snowflake(),
        channel_id,
        author=copy.deepcopy(author),
        content=content,
        guild_id=guild_id,
        embeds=embeds,
        mentions=mention_payloads,
        message_type=p.MESSAGE_TYPE_REPLY if reply_to is not None else p.MESSAGE_TYPE_DEFAULT,
        extra=extra,
    )
    world.store_message(message)
    return copy.deepcopy(message)
