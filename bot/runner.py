"""Entry points that assemble the bot: settings → engine service → bot, injected."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING

from bot.engine_factory import make_embedder
from bot.feedback import FeedbackLog
from bot.service import AnswerService
from bot.settings import Settings, SettingsError

if TYPE_CHECKING:
    from bot.client import VerbatimBot

log = logging.getLogger(__name__)

NO_TOKEN = (
    "No Discord token: set DISCORD_TOKEN in the environment or in .env (see README, 'Discord bot'). "
    "To try the bot without Discord, run: verbatim chat"
)


def make_service(settings: Settings) -> AnswerService:
    return AnswerService(settings.engine_config(), make_embedder(settings))


def run_bot(settings: Settings) -> None:
    """Connect to Discord and serve until interrupted (Ctrl-C, or SIGTERM from docker/systemd)."""
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise SettingsError(NO_TOKEN)
    import discord
    import discord.gateway
    import discord.http
    import yarl

    from bot.client import VerbatimBot

    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base.rstrip("/")
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
    bot = VerbatimBot(settings, make_service(settings), FeedbackLog(settings.feedback_file))
    try:
        asyncio.run(serve(bot, settings.discord_token.get_secret_value()))
    except discord.LoginFailure as exc:
        raise SettingsError(f"Discord refused the token ({exc}): check DISCORD_TOKEN.") from None
    except discord.PrivilegedIntentsRequired:
        raise SettingsError(
            "Auto-answering needs the Message Content intent: enable it for the bot in the Discord "
            "developer portal, or set VERBATIM_AUTO_ANSWER=false."
        ) from None


async def serve(bot: VerbatimBot, token: str) -> None:
    """Run ``bot`` until it stops or a stop signal arrives, then close it cleanly.

    Not ``bot.run()``: its KeyboardInterrupt lands in whatever task is running (often an
    aiohttp request, which then logs a traceback) and SIGTERM would kill the process outright.
    A loop signal handler instead lets the bot close its gateway connection and thread pools.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows; not the main thread
            loop.add_signal_handler(sig, stop.set)
    async with bot:
        running = asyncio.create_task(bot.start(token), name="verbatim-bot")
        stopping = asyncio.create_task(stop.wait(), name="verbatim-stop-signal")
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if running.done():
            running.result()  # a login failure and the like: re-raised for the caller
            return
        log.info("stopping", extra={"reason": "signal"})
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await running
