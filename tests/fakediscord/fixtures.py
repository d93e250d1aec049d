"""Pytest wiring for :class:`FakeDiscord`.

Use from a conftest by importing the fixture names, e.g. in ``tests/bot/conftest.py``:
``from tests.fakediscord.fixtures import bot_runner, discord_errors, fake_discord``
(``pytest_plugins`` only works in the rootdir conftest). Fixtures: ``fake_discord``, ``bot_runner``,
``discord_errors``; helpers: ``running_bot``, ``discord_pointed_at``,
``capture_discord_errors``. Tests run under pytest-asyncio (``asyncio_mode =
"auto"`` or ``@pytest.mark.asyncio``); fixtures and test share the
function-scoped event loop, which the fake and the bot both live on.

Typical test::

    @pytest.mark.asyncio
    async def test_ping(fake_discord, discord_errors):
        async with running_bot(MyBot(guild_ready_timeout=0.05), fake=fake_discord) as bot:
            ix = await fake_discord.dispatch_interaction(fake_discord.slash_command("ping"))
            answer = await fake_discord.wait_for_answer(ix)
        assert discord_errors == []
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import discord
import discord.gateway
import discord.http
import pytest
import pytest_asyncio
import yarl

from .server import FakeDiscord

#: The fake enforces this token on REST (``Authorization: Bot ...``) and IDENTIFY.
FAKE_TOKEN = "fake-bot-token"

ClientT = TypeVar("ClientT", bound=discord.Client)


@contextlib.contextmanager
def discord_pointed_at(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py at ``fake`` via the two class attributes it reads, then restore them.

    ``Route.BASE`` covers REST and interaction webhooks (both build ``Route``\\ s);
    a plain ``Client``/``Bot`` connects straight to ``DEFAULT_GATEWAY`` without
    calling ``GET /gateway``. Resumes use READY's ``resume_gateway_url``.
    """
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


async def _shutdown(bot: discord.Client, task: asyncio.Task[None], timeout: float, fake: FakeDiscord | None) -> None:
    if fake is not None:
        fake.signal.unwatch(task)
    await bot.close()
    await asyncio.wait_for(task, timeout)  # re-raises whatever killed bot.start()


@contextlib.asynccontextmanager
async def running_bot(
    bot: ClientT,
    token: str = FAKE_TOKEN,
    *,
    fake: FakeDiscord | None = None,
    ready_timeout: float = 5.0,
    close_timeout: float = 5.0,
) -> AsyncIterator[ClientT]:
    """Run ``bot.start(token)`` in a task until ``on_ready``; close it cleanly on exit.

    Give the bot a small ``guild_ready_timeout`` (e.g. 0.05): discord.py waits that
    long after the last GUILD_CREATE before firing ``on_ready`` (default 2 s).
    An exception that kills ``start()`` (login failure, a payload discord.py
    cannot parse...) is re-raised here instead of vanishing in the task; pass
    ``fake`` and the fake's ``wait_*`` helpers also fail fast when that happens.
    """
    task = asyncio.create_task(bot.start(token), name=f"fakediscord-bot-{id(bot):x}")
    if fake is not None:
        fake.signal.watch(task)
    try:
        async with asyncio.timeout(ready_timeout):
            # Client.wait_until_ready() raises before login; is_ready() is safe to poll.
            while not bot.is_ready():
                if task.done():
                    task.result()
                    raise RuntimeError("bot.start() returned before the bot became ready")
                await asyncio.sleep(0.005)
    except BaseException:
        with contextlib.suppress(BaseException):
            await _shutdown(bot, task, close_timeout, fake)
        raise
    try:
        yield bot
    finally:
        await _shutdown(bot, task, close_timeout, fake)


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def capture_discord_errors() -> Iterator[list[logging.LogRecord]]:
    """Collect ERROR+ records from the ``discord`` logger.

    discord.py's *default* ``Client.on_error``, ``CommandTree.on_error`` and
    ``View.on_error`` only log (from background tasks), so this is how a test
    notices a handler that blew up when the bot did not override them.
    """
    handler = _ErrorRecords()
    logger = logging.getLogger("discord")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


@pytest_asyncio.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started :class:`FakeDiscord` with discord.py pointed at it.

    Fails the test at teardown on unhandled routes (unless
    ``fake.allow_unhandled``), gateway protocol errors, or bugs in the fake.
    """
    fake = FakeDiscord(token=FAKE_TOKEN)
    await fake.start()
    try:
        with discord_pointed_at(fake):
            yield fake
    finally:
        await fake.stop()
    problems = fake.problems()
    if problems:
        pytest.fail("fakediscord problems:\n" + "\n".join(problems))


BotRunner = Callable[[ClientT], Awaitable[ClientT]]


@pytest_asyncio.fixture
async def bot_runner(fake_discord: FakeDiscord) -> AsyncIterator[BotRunner[Any]]:
    """``bot = await bot_runner(MyBot(...))`` starts a bot (ready on return) against
    ``fake_discord``; every started bot is closed at teardown, before the fake stops."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(bot: ClientT) -> ClientT:
            return await stack.enter_async_context(running_bot(bot, fake=fake_discord))

        yield start


@pytest.fixture
def discord_errors() -> Iterator[list[logging.LogRecord]]:
    """ERROR records logged by discord.py during the test (assert it is empty)."""
    with capture_discord_errors() as records:
        yield records
