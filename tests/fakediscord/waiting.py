"""Await a condition over the fake's mutable state instead of sleeping in tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WatchedTaskEnded(RuntimeError):
    """A watched task (the bot) ended while a test was waiting; ``__cause__`` is its exception."""


class ChangeSignal:
    """Every state change calls :meth:`notify`; waiters re-check their predicate.

    A single condition variable is enough: the fake runs on one event loop and
    state changes are rare (one per REST call or gateway frame).
    """

    def __init__(self) -> None:
        self._condition = asyncio.Condition()
        self._watched: list[asyncio.Task[Any]] = []
        self._pending: set[asyncio.Task[None]] = set()

    def watch(self, task: asyncio.Task[Any]) -> None:
        """Make every wait fail fast if ``task`` ends (e.g. ``bot.start()`` died on a
        payload discord.py could not parse), instead of running into its timeout."""
        self._watched.append(task)
        task.add_done_callback(self._task_ended)

    def unwatch(self, task: asyncio.Task[Any]) -> None:
        if task in self._watched:
            self._watched.remove(task)

    def _task_ended(self, task: asyncio.Task[Any]) -> None:
        if task in self._watched:
            pending = asyncio.get_running_loop().create_task(self.notify())
            self._pending.add(pending)
            pending.add_done_callback(self._pending.discard)

    def _raise_if_watched_task_ended(self) -> None:
        for task in self._watched:
            if task.done():
                cause = None if task.cancelled() else task.exception()
                raise WatchedTaskEnded(f"{task.get_name()} ended while waiting: {cause!r}") from cause

    async def notify(self) -> None:
        async with self._condition:
            self._condition.notify_all()

    async def wait_until(self, check: Callable[[], T | None], timeout: float, describe: str | Callable[[], str]) -> T:
        """Return the first truthy ``check()`` result; raise ``TimeoutError`` (with
        ``describe`` in the message) after ``timeout`` seconds."""
        result: T | None = None

        def ready() -> bool:
            nonlocal result
            self._raise_if_watched_task_ended()
            result = check()
            return bool(result)

        try:
            async with asyncio.timeout(timeout):
                async with self._condition:
                    await self._condition.wait_for(ready)
        except TimeoutError:
            text = describe() if callable(describe) else describe
            raise TimeoutError(f"fakediscord: timed out after {timeout}s waiting for {text}") from None
        assert result is not None
        return result
