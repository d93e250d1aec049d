"""Warm query latency of the engine, stage by stage, at about 1k, 10k and 100k chunks.

Chunks are real: the Debian documentation corpus (60k chunks; the 100k index repeats it
under a second folder name). Vectors: the first --real chunks are really embedded, the rest
are derived from those real embeddings (bench/common.py, derive_vectors), since embedding
100k chunks on 2 cores takes over half an hour. Query embedding, BM25, quote selection and
rendering all run on the real question and text.

Questions are real: Stack Overflow intents from ../shared/eval/conala-pydocs-dev (CoNaLa),
asked of the corpus whose Python 3.11 documentation they are about, sampled with a fixed seed
(warm-up questions apart from the timed ones).

Baseline (same run): the engine as it was: torch fp32 query embedding, exact flat FAISS
index, no reader. Verbatim: the default backend and the FAISS index chosen for the size,
with the shipped reader (index/reader.py) and without it (``VERBATIM_READER=false``).

    python bench/latency.py [--sizes 1000,10000,100000] [--queries 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import (
    CACHE,
    SHARED,
    corpus_chunks,
    derive_vectors,
    embedding_texts,
    machine_header,
    make_bench_embedder,
    save_result,
    stats_ms,
    table,
    timed,
)

from index.search import STAGES  # noqa: E402


def seed_vectors(backend: str, chunks, titles, count: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    path = CACHE / f"seed-{backend}-{count}.npy"
    if path.exists():
        return np.load(path)
    embedder = make_bench_embedder(backend)
    vectors = embedder.embed_documents(embedding_texts(chunks[:count], titles), batch_size=32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def corpus_of(size: int, chunks, titles):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    out = list(chunks[:size])
    copy = 2
    while len(out) < size:
        more = [replace(c, document=f"copy{copy}/{c.document}") for c in chunks[: size - len(out)]]
        titles.update({c.document: titles[c.document.split("/", 1)[1]] for c in more})
        out += more
        copy += 1
    return out


def write_index(root: Path, chunks, titles, vectors: np.ndarray, model: str, kind: str | None) -> None:  # type: ignore[no-untyped-def]
    from index.build import chunking_manifest, write_build
    from index.ingest import ChunkingParams
    from index.store import DocumentRecord, IndexDirectory

    counts: dict[str, int] = {}
    for c in chunks:
        counts[c.document] = counts.get(c.document, 0) + 1
    built_at = "2026-01-01T00:00:00+00:00"
    records = {d: DocumentRecord(d, "0" * 64, titles[d], built_at, n) for d, n in counts.items()}
    params = ChunkingParams()
    directory = IndexDirectory(root)
    # Sentence vectors derived like the chunk vectors (each sentence: its chunk's), so the
    # sentence-evidence path is timed too.
    sentences = np.repeat(vectors, [len(c.sentences) for c in chunks], axis=0)
    with directory.write_lock():
        write_build(
            directory,
            chunks,
            vectors,
            model=model,
            built_at=built_at,
            documents=records,
            chunking=chunking_manifest(params),
            dense_kind=kind,
            sentence_vectors=sentences,
        )


def staged_ask(engine, question: str, k: int = 3) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Engine.ask (hybrid), with the duration of each of its ranking stages."""
    times: dict[str, float] = {}
    engine.ask(question, k=k, retriever="hybrid", hook=times.__setitem__)
    return times


REAL_QUESTIONS = SHARED / "eval" / "conala-pydocs-dev" / "questions.jsonl"


def real_questions(warm: int, timed: int) -> tuple[list[str], list[str]]:
    """``warm`` warm-up and ``timed`` timed questions, distinct, drawn from the CoNaLa set."""
    from index.evaluation import read_questions

    asked = sorted({q.question for q in read_questions(REAL_QUESTIONS)})
    if warm + timed > len(asked):
        raise SystemExit(f"{REAL_QUESTIONS} has {len(asked)} distinct questions; asked for {warm + timed}")
    picked = [asked[i] for i in np.random.default_rng(2).permutation(len(asked))[: warm + timed]]
    return picked[:warm], picked[warm:]


def measure(engines: dict, warm: list[str], questions: list[str]) -> dict[str, dict[str, dict[str, float]]]:  # type: ignore[type-arg]
    """Stage and end-to-end times of each engine, interleaved: every question is asked of every
    engine in turn, so a burst of load on the shared machine falls on all of them alike."""
    for q in warm:
        for engine in engines.values():
            engine.ask(q)
    stages = {name: {s: [] for s in STAGES} for name in engines}
    for q in questions:
        for name, engine in engines.items():
            for s, v in staged_ask(engine, q).items():
                stages[name][s].append(v)
    ends: dict[str, list[float]] = {name: [] for name in engines}
    for q in questions:
        for name, engine in engines.items():
            start = time.perf_counter()
            engine.ask(q)
            ends[name].append(time.perf_counter() - start)
    out = {name: {s: stats_ms(v) for s, v in stages[name].items()} for name in engines}
    for name in engines:
        out[name]["engine.ask end to end"] = stats_ms(ends[name])
    return out


def best_torch_threads(embedder, questions: list[str]) -> int:  # type: ignore[no-untyped-def]
    """torch's faster thread count for single queries here, measured (one, or one a core)."""
    import os

    import torch

    medians = {}
    for threads in (len(os.sched_getaffinity(0)), 1):
        torch.set_num_threads(threads)
        embedder.embed_query("warm up")
        medians[threads] = stats_ms(timed(lambda q=iter(questions * 2): embedder.embed_query(next(q)), len(questions)))[  # noqa: B023
            "median"
        ]
    best = min(medians, key=medians.__getitem__)
    print(
        "torch query embedding median: "
        + ", ".join(f"{medians[t]:.2f} ms on {t} thread(s)" for t in medians)
        + f"; the baseline uses {best}",
        flush=True,
    )
    torch.set_num_threads(best)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--real", type=int, default=1000, help="chunks really embedded; the rest are derived")
    parser.add_argument("--backend", default="onnx-int8", help="Verbatim's embedding backend")
    parser.add_argument("--baseline-backend", default="torch")
    args = parser.parse_args()
    print(machine_header("Warm query latency by stage (ms)"), flush=True)
    from index import EngineConfig
    from index.engine import Engine

    chunks, titles = corpus_chunks()
    titles = dict(titles)
    runs = {
        "baseline": (args.baseline_backend, "flat", False),
        "verbatim, no reader": (args.backend, None, False),
        "verbatim": (args.backend, None, True),
    }
    embedders = {name: make_bench_embedder(backend) for name, (backend, _, _) in runs.items()}
    results: dict[str, dict] = {}
    if args.baseline_backend == "torch":
        results["baseline torch threads"] = {
            "best": best_torch_threads(embedders["baseline"], real_questions(0, 30)[1])
        }
    for size in (int(s) for s in args.sizes.split(",")):
        corpus = corpus_of(size, chunks, titles)
        warm, questions = real_questions(20, args.queries)
        with tempfile.TemporaryDirectory() as scratch:
            engines, written = {}, {}
            for name, (backend, kind, reader) in runs.items():
                seed = seed_vectors(backend, chunks, titles, min(args.real, len(chunks)))
                vectors = (
                    seed[:size] if size <= len(seed) else np.vstack([seed, derive_vectors(seed, size - len(seed))])
                )
                root = Path(scratch) / name.replace(" ", "-").replace(",", "")
                started = time.perf_counter()
                write_index(root, corpus, titles, vectors, embedders[name].name, kind)
                written[name] = time.perf_counter() - started
                engines[name] = Engine.load(EngineConfig(index_dir=root, reader=reader), embedders[name], verify=False)
            measured = measure(engines, warm, questions)
            for name, (backend, _, _) in runs.items():
                r = results[f"{name} {size}"] = {
                    "index": engines[name].manifest.dense_index,
                    "write_s": written[name],
                    **measured[name],
                }
                print(
                    f"{size} chunks, {name} ({backend}, {r['index']}): ask median "
                    f"{r['engine.ask end to end']['median']:.2f} ms, p95 {r['engine.ask end to end']['p95']:.2f} ms",
                    flush=True,
                )
            del engines
        base, unread, ours = (results[f"{name} {size}"] for name in runs)
        rows = [
            [
                stage,
                f"{base[stage]['median']:.2f}",
                f"{base[stage]['p95']:.2f}",
                f"{unread[stage]['median']:.2f}",
                f"{ours[stage]['median']:.2f}",
                f"{ours[stage]['p95']:.2f}",
                f"{base[stage]['median'] / max(ours[stage]['median'], 1e-6):.1f}x",
            ]
            for stage in (*STAGES, "engine.ask end to end")
        ]
        print(
            f"\n{size:,} chunks ({min(args.real, size):,} really embedded), {args.queries} CoNaLa questions; "
            f"baseline {args.baseline_backend} + {base['index']}, Verbatim {args.backend} + {ours['index']}"
        )
        print(
            table(
                [
                    "stage",
                    "baseline median",
                    "baseline p95",
                    "Verbatim no reader median",
                    "Verbatim median",
                    "Verbatim p95",
                    "speed-up",
                ],
                rows,
            ),
            flush=True,
        )
    save_result("latency", results)


if __name__ == "__main__":
    main()
