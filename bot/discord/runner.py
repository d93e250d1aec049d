"""Entry points that assemble the bot: settings → engine service → bot, injected.

``verbatim run`` is meant to be started and forgotten: the index is loaded before Discord is
contacted; while Discord cannot be reached it retries with capped, jittered exponential
backoff, one log line per attempt; a token Discord refuses stops it at once; SIGTERM stops it
at any moment; and it keeps a health file for ``verbatim health``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
from typing import TYPE_CHECKING

from bot.community.record import Record
from bot.engine_factory import make_embedder
from bot.errors import describe
from bot.health import Health
from bot.service import AnswerService
from bot.settings import Settings, SettingsError

if TYPE_CHECKING:
    from bot.discord.client import VerbatimBot

log = logging.getLogger(__name__)

NO_TOKEN = (
    "No Discord token: set DISCORD_TOKEN in the environment or in .env (see README, 'Discord bot'). "
    "To try the bot without Discord, run: verbatim chat"
)
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0


def make_service(settings: Settings) -> AnswerService:
    return AnswerService(settings.engine_config(), make_embedder(settings), writer=settings.index_writer)


def retry_delay(
    attempt: int,
    *,
    first: float = RETRY_FIRST_SECONDS,
    cap: float = RETRY_MAX_SECONDS,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before attempt ``attempt + 1``: doubling from ``first``, never above
    ``cap``, and jittered (between half and all of it) so a fleet of bots that lost the
    network together does not come back in lockstep."""
    ceiling = min(cap, first * 2 ** max(0, attempt - 1))
    return ceiling * (rng or random).uniform(0.5, 1.0)


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def run_bot(settings: Settings) -> None:
    """Connect to Discord and serve until interrupted (Ctrl-C, or SIGTERM from docker/systemd)."""
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise SettingsError(NO_TOKEN)
    import discord
    import discord.gateway
    import discord.http
    import yarl

    from bot.discord.client import make_bot

    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base.rstrip("/")
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
    health = Health(settings.health_file)
    logging.getLogger().addHandler(health.log_handler())
    service = make_service(settings)
    service.on_loaded = lambda engine: health.index_loaded(engine.chunk_count, engine.built_at)
    record = Record(settings.db, retention_days=settings.db_retention_days, legacy_feedback=settings.feedback_file)
    bot = make_bot(settings, service, record, health=health)
    error: BaseException | None = None
    try:
        asyncio.run(serve(bot, settings.discord_token.get_secret_value(), health=health))
    except discord.LoginFailure as exc:
        error = SettingsError(f"Discord refused the token ({exc}): check DISCORD_TOKEN.")
    except discord.PrivilegedIntentsRequired:
        error = SettingsError(
            "Auto-answering needs the Message Content intent: enable it for the bot in the Discord "
            "developer portal, or set VERBATIM_AUTO_ANSWER=false."
        )
    except BaseException as exc:
        error = exc
    if service.busy:
        # Stopping while a worker thread still loads or builds the index (a first build can
        # take minutes): waiting for it would outlast `docker stop`'s grace period, or delay a
        # refused token's message. Index writes are atomic, so leaving now is safe.
        log.info("exit_without_waiting_for_workers")
        if error is not None:
            print(f"error: {describe(error, 'terminal')}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1 if error is not None else 0)
    if error is not None:
        raise error


async def _login(bot: VerbatimBot, token: str, *, retry_max_seconds: float = RETRY_MAX_SECONDS) -> None:
    """``bot.login``, retried while Discord is unreachable; a refused token is raised at once."""
    import aiohttp
    import discord

    attempt = 0
    while True:
        attempt += 1
        try:
            await bot.login(token)
            return
        except (aiohttp.ClientError, OSError, TimeoutError, discord.DiscordServerError, discord.GatewayNotFound) as exc:
            delay = retry_delay(attempt, cap=retry_max_seconds)
            log.warning(
                "discord_unreachable", extra={"error": one_line(exc), "attempt": attempt, "retry_in_s": round(delay, 1)}
            )
            # Each login opens a new HTTP session; close this one and its connector (which
            # the session owns), so the next attempt starts afresh instead of leaking it.
            await bot.http.close()
            bot.http.connector = discord.utils.MISSING
            await asyncio.sleep(delay)


async def serve(
    bot: VerbatimBot, token: str, *, health: Health | None = None, retry_max_seconds: float = RETRY_MAX_SECONDS
) -> bool:
    """Run ``bot`` until it stops or a stop signal arrives, then close it cleanly. Returns
    whether a signal stopped it.

    Not ``bot.run()``: its KeyboardInterrupt lands in whatever task is running (often an
    aiohttp request, which then logs a traceback) and SIGTERM would kill the process outright.
    A loop signal handler instead lets the bot close its gateway connection and thread pools.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows; not the main thread
            loop.add_signal_handler(sig, stop.set)

    async def start() -> None:
        # The index loads while the bot logs in: a refused token is reported at once, the
        # index is ready while Discord is unreachable (questions are answered the moment it
        # is back, and `verbatim health` tells "Discord down" apart from "nothing works"),
        # and a broken documents folder stops the bot without waiting for the network.
        loading = asyncio.ensure_future(bot.service.load_once())
        login = asyncio.ensure_future(_login(bot, token, retry_max_seconds=retry_max_seconds))
        try:
            await asyncio.wait({loading, login}, return_when=asyncio.FIRST_EXCEPTION)
            for task in (login, loading):  # a refused token first: it is what the user must fix
                if task.done() and task.exception() is not None:
                    task.result()
            await loading
            await login
        finally:
            login.cancel()
            loading.cancel()
        await bot.connect(reconnect=True)

    background = [asyncio.create_task(health.keep_writing(), name="verbatim-health")] if health else []
    try:
        async with bot:
            running = asyncio.create_task(start(), name="verbatim-bot")
            stopping = asyncio.create_task(stop.wait(), name="verbatim-stop-signal")
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if running.done():
                running.result()  # a login failure and the like: re-raised for the caller
                return False
            log.info("stopping", extra={"reason": "signal"})
            await bot.close()
            running.cancel()  # still loading the index, or waiting to retry the login
            with contextlib.suppress(asyncio.CancelledError):
                await running
            return True
    finally:
        for task in background:
            task.cancel()
