"""The event loop stays responsive under load, and how long an answer takes.

Figures are printed (``pytest -s`` shows them) and merged into /tmp/verbatim-bot-figures.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from index import DEFAULT_MODEL, SentenceTransformerEmbedder
from tests.bot.conftest import SEED_NAME, Harness, StartBot, embed_of, quotes_in
from tests.conftest import SEED

FIGURES = Path("/tmp/verbatim-bot-figures.json")
MAX_STALL_SECONDS = 0.100
QUESTIONS = [
    "What did the Department of Defense demand from Anthropic?",
    "Which company does Sam Altman lead?",
    "What contract did Anthropic already have with the DoD?",
    "Who is Anthropic's CEO?",
    "What did the Pentagon threaten to do?",
    "What are Anthropic's red lines?",
    "What did Trump direct federal agencies to do?",
    "How many engineers signed a letter backing Anthropic?",
    "Why are AI systems not reliable enough for autonomous weapons?",
    "What is a supply chain risk designation?",
]


def record_figures(**figures: Any) -> None:
    data: dict[str, Any] = {}
    with contextlib.suppress(FileNotFoundError, ValueError):
        data = json.loads(FIGURES.read_text("utf-8"))
    data.update(figures)
    FIGURES.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


class GcPauses:
    """The longest garbage-collector pause (every thread, the loop included, waits for it)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.full_collections = 0
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._started)
            self.full_collections += info["generation"] == 2

    @contextlib.contextmanager
    def watching(self) -> Iterator[GcPauses]:
        gc.callbacks.append(self._callback)
        try:
            yield self
        finally:
            gc.callbacks.remove(self._callback)


class StallProbe:
    """Sleeps 5 ms in a loop and keeps the largest overshoot: how long the loop was blocked."""

    def __init__(self, period: float = 0.005) -> None:
        self.period = period
        self.max_stall = 0.0
        self.samples = 0

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.period)
            self.max_stall = max(self.max_stall, time.perf_counter() - started - self.period)
            self.samples += 1

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[StallProbe]:
        task = asyncio.create_task(self._run())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def asks_and_a_reindex(h: Harness, questions: list[str], *, must_quote: bool) -> str:
    """Dispatch a /reindex (after a document changed) and len(questions) /ask at once; wait for all."""
    fake = h.fake
    reindex = fake.slash_command("reindex", user=fake.admin)
    interactions = [fake.slash_command("ask", {"question": q}, user=fake.member) for q in questions]
    await fake.dispatch_interaction(reindex)
    await asyncio.gather(*(fake.dispatch_interaction(ix) for ix in interactions))
    answers = await asyncio.gather(*(fake.wait_for_answer(ix, timeout=120) for ix in interactions))
    for answer in answers:
        description = embed_of(answer)["description"]
        assert quotes_in(description) if must_quote else description
    done = await fake.wait_for(
        lambda c: (
            c.ok
            and f"/{reindex['token']}/messages/@original" in c.path
            and "Reindex done" in (c.json.get("content") or "")
        ),
        timeout=120,
    )
    return str(done.json["content"])


def add_documents(folder: Path, count: int, prefix: str = "copy") -> None:
    text = SEED.read_text("utf-8")
    for n in range(count):
        (folder / f"{prefix}-{n:02}.txt").write_text(f"Copy {n}.\n" + text, encoding="utf-8")


async def test_event_loop_never_stalls_during_20_questions_and_a_reindex(verbatim: StartBot) -> None:
    """Blocking work on the loop stalls it in every round; a busy shared machine (or the pure-Python
    fake embedder's hold on the GIL) only in some. So: three rounds, and the best must be under budget."""
    h = await verbatim()
    stalls = []
    for round_ in range(3):
        add_documents(h.docs_dir, 20, prefix=f"round{round_}")
        async with StallProbe().running() as probe:
            report = await asks_and_a_reindex(h, [QUESTIONS[n % len(QUESTIONS)] for n in range(20)], must_quote=False)
        assert "Added (20)" in report and probe.samples > 3  # the probe ran during the work
        stalls.append(probe.max_stall)
        if probe.max_stall < MAX_STALL_SECONDS:
            break
    shown = ", ".join(f"{s * 1000:.1f}" for s in stalls)
    print(f"\nevent-loop max stall (fake embedder, 20 /ask + /reindex), per round: {shown} ms")
    record_figures(loop_max_stall_ms_fake_embedder=[round(s * 1000, 1) for s in stalls])
    assert min(stalls) < MAX_STALL_SECONDS


@pytest.mark.slow
async def test_answer_latency_and_loop_stall_on_the_real_model(verbatim: StartBot, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / SEED_NAME).write_bytes(SEED.read_bytes())
    h = await verbatim(
        embedder=SentenceTransformerEmbedder(),
        write=False,
        model=DEFAULT_MODEL,
        chunk_size=800,
        threshold=0.20,
    )
    fake = h.fake
    with GcPauses().watching() as pauses:
        latencies = []
        for n in range(100):
            ix = fake.slash_command("ask", {"question": QUESTIONS[n % len(QUESTIONS)]}, user=fake.member)
            started = time.perf_counter()
            await fake.dispatch_interaction(ix)
            answer = await fake.wait_for_answer(ix, timeout=60)
            latencies.append(time.perf_counter() - started)
            assert "embeds" in answer.json
        p50 = statistics.median(latencies)
        p95 = statistics.quantiles(latencies, n=20)[18]

        add_documents(h.docs_dir, 3)
        async with StallProbe().running() as probe:
            report = await asks_and_a_reindex(h, [QUESTIONS[n % len(QUESTIONS)] for n in range(20)], must_quote=True)
    assert "Added (3)" in report
    print(
        f"\nreal model, 100 /ask one after another: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
        f"\nreal model, event-loop max stall during 20 /ask + /reindex: {probe.max_stall * 1000:.1f} ms"
        f"\nreal model, longest GC pause: {pauses.longest * 1000:.1f} ms ({pauses.full_collections} full collections)"
    )
    record_figures(
        ask_latency_p50_ms_real_model=round(p50 * 1000, 1),
        ask_latency_p95_ms_real_model=round(p95 * 1000, 1),
        ask_latency_max_ms_real_model=round(max(latencies) * 1000, 1),
        loop_max_stall_ms_real_model=round(probe.max_stall * 1000, 1),
        gc_longest_pause_ms_real_model=round(pauses.longest * 1000, 1),
        gc_full_collections_real_model=pauses.full_collections,
    )
    assert probe.max_stall < MAX_STALL_SECONDS
