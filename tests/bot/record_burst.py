"""A burst of questions into the record, 20 at a time, printing ``ack ID`` once each is stored.

Run by ``test_record.py`` as a subprocess that it kills with SIGKILL mid-burst: every question
acknowledged before the kill must be in the database (the bot posts its answer only then)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.record import Record

IN_FLIGHT = 20


async def burst(path: Path, total: int) -> None:
    record = Record(path)
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(n: int) -> None:
        async with slots:
            question_id = await record.add_question(
                question=f"question {n}", user_id=1000 + n % 7, via="command", outcome="answered", latency_ms=5.0
            )
            print(f"ack {question_id}", flush=True)

    await asyncio.gather(*(one(n) for n in range(total)))
    record.close()


if __name__ == "__main__":
    asyncio.run(burst(Path(sys.argv[1]), int(sys.argv[2])))
