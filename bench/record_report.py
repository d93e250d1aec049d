"""A record of 10,000 generated questions over 90 days, and how long ``verbatim report`` takes on it.

The questions are wordings of ~40 topics (a few the documents answer, most they do not, as in
a real help channel), asked by 600 members in 6 channels, with latencies, 👍/👎 and
dismissals. The report embeds each distinct wording once with the configured model (the
default: the packaged MiniLM, ONNX int8), groups the gaps and draws the charts.

    python bench/record_report.py [--questions 10000] [--out bench/report] [--db PATH]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.community.record import DAY, RecordStore  # noqa: E402
from bot.community.report import write_report  # noqa: E402
from bot.engine_factory import make_embedder  # noqa: E402
from bot.settings import load_settings  # noqa: E402

# (topic wordings, outcome weights answered/not_sure/not_found)
TOPICS: list[tuple[list[str], tuple[float, float, float]]] = [
    (
        [
            "What are the API rate limits?",
            "How many requests per minute can I make?",
            "rate limit for the API?",
            "Why do I get HTTP 429 Too Many Requests?",
            "Is there a limit on API calls per hour?",
        ],
        (0.1, 0.3, 0.6),
    ),
    (
        ["How do I get a refund?", "Can I get my money back?", "refund policy?", "How long do refunds take?"],
        (0.05, 0.15, 0.8),
    ),
    (["How do I reset my password?", "I forgot my password", "password reset link does not arrive"], (0.7, 0.2, 0.1)),
    (["Does it run on Windows?", "Is there a Windows version?", "windows support?"], (0.2, 0.3, 0.5)),
    (["How do I install it with Docker?", "Is there a Docker image?", "docker compose example?"], (0.8, 0.15, 0.05)),
    (["Can I self-host the server?", "How do I run my own instance?", "self hosting guide?"], (0.3, 0.3, 0.4)),
    (["What does the free plan include?", "Is there a free tier?", "free plan limits?"], (0.1, 0.2, 0.7)),
    (["How do I export my data?", "Can I download all my data as CSV?", "data export?"], (0.2, 0.2, 0.6)),
    (["How do I enable two-factor authentication?", "2FA setup?", "Can I use an authenticator app?"], (0.6, 0.3, 0.1)),
    (["Where are the logs stored?", "How do I see the server logs?", "log file location?"], (0.5, 0.3, 0.2)),
    (["Is my data encrypted at rest?", "What encryption do you use?", "Is storage encrypted?"], (0.1, 0.2, 0.7)),
    (["How do I delete my account?", "close my account", "Can I remove my account permanently?"], (0.3, 0.2, 0.5)),
    (["What is the SLA uptime guarantee?", "Do you have an uptime SLA?", "uptime guarantee?"], (0.0, 0.1, 0.9)),
    (["How do I configure webhooks?", "webhook setup", "Can I get a webhook when an event happens?"], (0.6, 0.3, 0.1)),
    (
        ["Which Python versions are supported?", "Does it work with Python 3.13?", "python version support?"],
        (0.7, 0.2, 0.1),
    ),
]
NOISE = [
    "Who won the football match yesterday?",
    "What is the meaning of life?",
    "Can you write me a poem?",
    "How do I bake banana bread?",
    "What time is it in Tokyo?",
]


def generate(store: RecordStore, total: int, days: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    now = time.time()
    weights = [rng.uniform(0.3, 3.0) for _ in TOPICS]
    channels = [1000 + n for n in range(6)]
    for n in range(total):
        asked_at = now - days * DAY * (1 - (n / total) ** 0.8)  # more questions lately: a growing community
        if rng.random() < 0.05:
            question, outcome = rng.choice(NOISE), "not_found"
        else:
            wordings, odds = rng.choices(TOPICS, weights)[0]
            question = rng.choice(wordings)
            outcome = rng.choices(("answered", "not_sure", "not_found"), odds)[0]
        question_id = store.add_question(
            question=question,
            user_id=rng.randrange(600),
            guild_id=1,
            channel_id=rng.choice(channels),
            via=rng.choice(("command", "mention", "auto")),
            outcome=outcome,
            latency_ms=rng.lognormvariate(4.3, 0.4),
            citations=["docs/guide.md, line 12"] if outcome != "not_found" else [],
            asked_at=asked_at,
        )
        vote = rng.random()
        if vote < 0.08:
            store.add_feedback(question_id, user_id=rng.randrange(600), kind="up", given_at=asked_at + 30)
        elif vote < 0.12:
            store.add_feedback(question_id, user_id=rng.randrange(600), kind="down", given_at=asked_at + 30)
        elif vote < 0.14:
            store.add_feedback(question_id, user_id=rng.randrange(600), kind="dismiss", given_at=asked_at + 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--out", type=Path, default=Path("bench/report"))
    parser.add_argument("--db", type=Path, default=Path(".verbatim/bench-record.sqlite3"))
    args = parser.parse_args()

    args.db.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(str(args.db) + suffix).unlink(missing_ok=True)
    store = RecordStore(args.db, retention_days=args.days + 1)
    started = time.perf_counter()
    generate(store, args.questions, args.days)
    generated = time.perf_counter() - started
    rows = store.questions(since=0)
    feedback = store.feedback_counts()
    store.close()
    size = args.db.stat().st_size

    embedder = make_embedder(load_settings())
    embedder.embed_query("warm up")  # the model's load is not the report's time
    started = time.perf_counter()
    report = write_report(rows, feedback, embedder.embed_documents, args.out, days=args.days)
    seconds = time.perf_counter() - started
    print(report.summary())
    print(
        f"\n{len(rows)} questions generated and committed one by one in {generated:.1f} s; database {size / 1024:.0f} KiB"
        f" ({size / len(rows) * 1000 / 1024:.0f} KiB per 1,000)."
        f"\nreport render: {seconds:.2f} s ({len(report.gaps)} topics, {len(report.charts)} charts) with {embedder.name}"
    )


if __name__ == "__main__":
    main()
