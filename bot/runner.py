"""Entry points that assemble the bot: settings → engine service → bot, injected."""

from __future__ import annotations

import logging

from bot.engine_factory import make_embedder
from bot.feedback import FeedbackLog
from bot.service import AnswerService
from bot.settings import Settings, SettingsError

log = logging.getLogger(__name__)

NO_TOKEN = (
    "No Discord token: set DISCORD_TOKEN in the environment or in .env (see README, 'Discord bot'). "
    "To try the bot without Discord, run: verbatim chat"
)


def make_service(settings: Settings) -> AnswerService:
    return AnswerService(settings.engine_config(), make_embedder(settings))


def run_bot(settings: Settings) -> None:
    """Connect to Discord and serve until interrupted."""
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise SettingsError(NO_TOKEN)
    import discord.gateway
    import discord.http
    import yarl

    from bot.client import VerbatimBot

    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base.rstrip("/")
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
    bot = VerbatimBot(settings, make_service(settings), FeedbackLog(settings.feedback_file))
    # log_handler=None: logging is already configured (structured), don't let discord.py replace it.
    bot.run(settings.discord_token.get_secret_value(), log_handler=None)
