"""Make the fakediscord fixtures available to the self-test (and show how to import them)."""

from .fixtures import bot_runner, discord_errors, fake_discord  # noqa: F401
