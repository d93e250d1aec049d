"""A burst of questions into the record, 20 at a time, printing ``ack ID`` once each is stored.

Run by ``test_record.py`` as a subprocess that it kills with SIGKILL mid-burst: every question
acknowledged before the kill must be in the database (the bot posts its answer only then).
With ``--start-when FILE`` it waits for FILE before opening the record, so that several such
processes (several bot shards) open one new database and write to it at the same moment;
``--legacy FILE`` gives each the old feedback file to import, as at a bot's first start."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bot.community.record import Record

IN_FLIGHT = 20


async def burst(path: Path, total: int, *, start_when: Path | None = None, legacy: Path | None = None) -> None:
    while start_when is not None and not start_when.exists():
        await asyncio.sleep(0.001)
    record = Record(path, legacy_feedback=legacy)
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(n: int) -> None:
        async with slots:
            question_id = await record.add_question(
                question=f"question {n}", user_id=1000 + n % 7, via="command", outcome="answered", latency_ms=5.0
            )
            print(f"ack {question_id}", flush=True)

    await asyncio.gather(*(one(n) for n in range(total)))
    record.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", type=Path)
    parser.add_argument("total", type=int)
    parser.add_argument("--start-when", type=Path)
    parser.add_argument("--legacy", type=Path)
    args = parser.parse_args()
    asyncio.run(burst(args.path, args.total, start_when=args.start_when, legacy=args.legacy))


if __name__ == "__main__":
    main()
