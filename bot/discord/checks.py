"""Permission checks the cogs share: who counts as a moderator, and the check that lets only them in."""

from __future__ import annotations

import discord
from discord import app_commands


def is_moderator(interaction: discord.Interaction) -> bool:
    """Manage Server, or one of the configured moderator roles. Checked in code as well
    as by default permissions, which a server can override."""
    user = interaction.user
    if not isinstance(user, discord.Member):
        return False
    if user.guild_permissions.manage_guild:
        return True
    allowed = interaction.client.configs.moderator_roles(interaction.guild_id)  # type: ignore[attr-defined]
    return any(role.id in allowed for role in user.roles)


def moderators_only():  # type: ignore[no-untyped-def]
    def predicate(interaction: discord.Interaction) -> bool:
        if not is_moderator(interaction):
            raise app_commands.CheckFailure("Only moderators can do that.")
        return True

    return app_commands.check(predicate)
