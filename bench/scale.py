"""A million chunks on one machine: load time, memory, disk, warm ask, ANN recall, one-page reindex.

Text is real: the Debian documentation corpus (about 59k chunks from 2,729 pages), repeated
under distinct folder names (``copy01/``, ``copy02/``...) until the size is reached, whole
pages at a time. The documents folder of each size is real too (the pages hard-linked, one
folder a copy), so the one-page reindex is ``build_index`` reading and hashing every page,
exactly as ``verbatim index`` does after one page changed. Vectors: derived from the real
embeddings of the first 1,000 chunks (bench/common.py, derive_vectors), each sentence
taking its chunk's vector, so that building a million chunks does not take days; the store,
FAISS and BM25 indexes are written by the indexer's own ``write_build``.

Each index is loaded and asked in a fresh process (its memory is its own): ``Engine.load``
time, resident memory after loading and after the questions, warm ``ask`` median and p95
over real SQuAD v1.1 dev questions (embedded by the real model, answered by the whole
pipeline with the shipped ranker and reader), recall@10 of the FAISS index against exact
search for the same questions' vectors.

    python bench/scale.py [--sizes 100000,300000,1000000] [--questions 200]
    python bench/scale.py --sizes 100000 --code /path/to/a/worktree/of/main  # the old store
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import CACHE, DEBIAN, SQUAD, corpus_chunks, derive_vectors, machine_header, save_result, stats_ms, table

BUILT_AT = "2026-01-01T00:00:00+00:00"
BACKEND = "onnx-int8"
SEEDS = 1000  # chunks really embedded; the rest are derived from them
WARM_UP = 20


def _use_code(code: str | None) -> None:
    """Import ``index`` from another checkout (the old store) instead of this one."""
    if code:
        sys.path.insert(0, str(Path(code).resolve()))


def _questions(count: int) -> list[str]:
    """``count`` real SQuAD v1.1 dev questions, spread over the whole set."""
    lines = (SQUAD / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    step = max(1, len(lines) // count)
    return [json.loads(line)["question"] for line in lines[::step][:count]]


def _rss_mb(field: str = "VmRSS") -> float:
    """Resident memory; ``RssAnon`` is the process's own, ``RssFile`` the mapped index files
    it has touched (page cache, given back under pressure)."""
    from common import memory_mb

    found = memory_mb(field)
    return float("nan") if found is None else found


def probe(index_dir: str, questions: int) -> None:
    """Child process: load the index, ask the questions warm, print JSON."""
    from common import make_bench_embedder

    from index import EngineConfig
    from index.engine import Engine
    from index.ranker import Ranker

    embedder = make_bench_embedder(BACKEND)
    embedder.embed_query("warm the model up")
    Ranker.load()  # its imports (LightGBM) are the same at any size: not the index's load time
    before = _rss_mb()
    started = time.perf_counter()
    engine = Engine.load(EngineConfig(index_dir=Path(index_dir)), embedder)
    load_s = time.perf_counter() - started
    loaded = _rss_mb()
    load_avg_before = os.getloadavg()[0]
    asked = _questions(questions + WARM_UP)
    for question in asked[:WARM_UP]:
        engine.ask(question)
    times = []
    for question in asked[WARM_UP:]:
        started = time.perf_counter()
        engine.ask(question)
        times.append(time.perf_counter() - started)
    import index

    print(
        json.dumps(
            {
                "code": str(Path(index.__file__).parent.parent),
                "load_s": load_s,
                "rss_before_load_mb": before,
                "rss_loaded_mb": loaded,
                "rss_after_asks_mb": _rss_mb(),
                "rss_anon_after_asks_mb": _rss_mb("RssAnon"),
                "rss_file_after_asks_mb": _rss_mb("RssFile"),
                "ask": stats_ms(times),
                "load_avg": [load_avg_before, os.getloadavg()[0]],  # 1-minute, before and after the questions
                "chunks": engine.chunk_count,
            }
        )
    )


def _corpus(size: int, docs: Path):  # type: ignore[no-untyped-def]
    """About ``size`` chunks (whole pages) under copyNN/ names, their documents folder of
    hard links, and their records."""
    from index.store import DocumentRecord

    chunks, titles = corpus_chunks()
    by_document: dict[str, list] = {}
    for chunk in chunks:
        by_document.setdefault(chunk.document, []).append(chunk)
    hashes = {name: hashlib.sha256((DEBIAN / name).read_bytes()).hexdigest() for name in by_document}
    out, records, copy = [], {}, 1
    while len(out) < size:
        prefix = f"copy{copy:02d}/"
        for name, document_chunks in by_document.items():
            if len(out) >= size:
                break
            target = docs / prefix / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(DEBIAN / name, target)
            out.extend(replace(c, document=prefix + name) for c in document_chunks)
            records[prefix + name] = DocumentRecord(
                prefix + name, hashes[name], titles[name], BUILT_AT, len(document_chunks)
            )
        copy += 1
    return out, records


def _sentence_vectors(chunks, vectors: np.ndarray, path: Path) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Each sentence its chunk's vector, float16, in a file (a million chunks hold 8M sentences)."""
    counts = np.array([len(c.sentences) for c in chunks], dtype=np.int64)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(int(counts.sum()), vectors.shape[1]))
    done = 0
    for start in range(0, len(chunks), 50_000):
        block = np.repeat(vectors[start : start + 50_000], counts[start : start + 50_000], axis=0)
        out[done : done + len(block)] = block
        done += len(block)
    out.flush()
    return out


def _recall_at_10(index_dir: Path, vectors: np.ndarray, queries: np.ndarray) -> float:
    from index.dense import load_dense_index, search_dense
    from index.store import IndexDirectory

    dense = load_dense_index(IndexDirectory(index_dir).current_build() / "dense.faiss")
    hits = 0
    for query in queries:
        exact = np.argpartition(-(vectors @ query), 10)[:10]
        rows, _ = search_dense(dense, query, 10)
        hits += len(set(rows.tolist()) & set(exact.tolist()))
    return hits / (10 * len(queries))


def _one_page_reindex(docs: Path, index_dir: Path, embedder) -> dict:  # type: ignore[no-untyped-def]
    """Change one page (a new file in place of its hard link) and update the index."""
    from index import EngineConfig, build_index
    from index.store import IndexDirectory, read_manifest

    records = read_manifest(IndexDirectory(index_dir).current_build(), expected_model=None).documents
    pages = sorted(
        (r.chunks, name) for name, r in records.items() if name.startswith("copy01/") and name.endswith(".html")
    )
    page = docs / pages[len(pages) // 2][1]  # a page of the median length
    text = page.read_text(encoding="utf-8", errors="replace")
    fresh = page.with_suffix(".new")
    fresh.write_text(text.replace("</body>", "<p>One more sentence for the reindex benchmark.</p></body>"), "utf-8")
    os.replace(fresh, page)
    config = EngineConfig(documents_dir=docs, index_dir=index_dir)
    with _stage_timers() as stages:
        started = time.perf_counter()
        report = build_index(config, embedder)
        seconds = time.perf_counter() - started
    assert report.changed and not report.added and not report.removed, report.summary
    return {
        "reindex_s": seconds,
        "changed": len(report.changed),
        "embedded": report.embedded_chunks,
        "reindex_stages_s": stages,
    }


@contextlib.contextmanager
def _stage_timers() -> Iterator[dict[str, float]]:
    """Where a reindex spends its time: the indexer's own steps, timed in place."""
    import index.build
    import index.store
    import index.vector_store
    from index.chunk_store import ChunkTable
    from index.lexical import LexicalIndex

    steps = {
        "previous build opened": (index.build, "_load_previous"),
        "read and hash every page": (index.build, "_plan"),
        "rows carried over (columns)": (ChunkTable, "concatenate"),
        "vectors carried and embedded": (index.build, "_vectors_for"),
        "chunk store written": (index.build, "write_chunks"),
        "vectors written": (index.vector_store, "write_vectors"),
        "sentence vectors written": (index.build, "write_sentence_vectors"),
        "FAISS index built": (index.vector_store, "build_dense_index"),
        "previous FAISS index read": (index.vector_store, "load_dense_index"),
        "FAISS index updated (rows renumbered, new ones added)": (index.vector_store, "updated_dense_index"),
        "FAISS index written": (index.vector_store, "save_dense_index"),
        "BM25 tokens gathered": (index.vector_store, "bm25_tokens"),
        "previous BM25 index opened": (LexicalIndex, "load"),
        "BM25 index built": (LexicalIndex, "from_tokens"),
        "BM25 index updated (postings renumbered, new ones inserted)": (LexicalIndex, "updated"),
        "BM25 index written": (LexicalIndex, "save"),
        "checksums": (index.build, "write_manifest"),
        "flush to disk": (index.store, "_fsync_tree"),
        "old build removed": (index.store.IndexDirectory, "_remove_old_builds"),
    }
    # Another checkout (--code) may lack some steps.
    steps = {name: (owner, attribute) for name, (owner, attribute) in steps.items() if hasattr(owner, attribute)}
    spent: dict[str, float] = {}
    originals = {name: getattr(owner, attribute) for name, (owner, attribute) in steps.items()}
    raw = {name: inspect.getattr_static(owner, attribute) for name, (owner, attribute) in steps.items()}

    def timed(name: str, step):  # type: ignore[no-untyped-def]
        def run(*args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return step(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

        return run

    for name, (owner, attribute) in steps.items():
        wrapped = timed(name, originals[name])
        # A class method is fetched bound: it goes back as a static one. Plain functions bind as they were.
        bound = isinstance(raw[name], classmethod | staticmethod)
        setattr(owner, attribute, staticmethod(wrapped) if bound else wrapped)
    try:
        yield spent
    finally:
        for name, (owner, attribute) in steps.items():
            setattr(owner, attribute, raw[name])


def measure(size: int, scratch: Path, args: argparse.Namespace, seed: np.ndarray, embedder) -> dict:  # type: ignore[no-untyped-def]
    from index.build import FOLDER_SOURCE, chunking_manifest, write_build
    from index.ingest import ChunkingParams
    from index.store import IndexDirectory

    docs, index_dir = scratch / "docs", scratch / "index"
    chunks, records = _corpus(size, docs)
    vectors = np.vstack([seed, derive_vectors(seed, len(chunks) - len(seed))])
    sentence_vectors = _sentence_vectors(chunks, vectors, scratch / "sentences.npy")
    params = ChunkingParams()
    directory = IndexDirectory(index_dir)
    started = time.perf_counter()
    with directory.write_lock():
        write_build(
            directory,
            chunks,
            vectors,
            model=embedder.name,
            chunking=chunking_manifest(params),
            built_at=BUILT_AT,
            documents=records,
            sentence_vectors=sentence_vectors,
            sources={FOLDER_SOURCE: {"kind": "folder", "location": str(docs.resolve())}},
        )
    write_s = time.perf_counter() - started
    del sentence_vectors, chunks, vectors
    (scratch / "sentences.npy").unlink()
    return {"write_s": write_s} | measure_index(scratch, args, embedder)


def measure_index(scratch: Path, args: argparse.Namespace, embedder) -> dict:  # type: ignore[no-untyped-def]
    """One-page reindexes of the index in ``scratch`` (its docs/ and index/), then the
    index as they left it: disk, load, memory and warm ``ask`` in a fresh process, recall."""
    from index.store import IndexDirectory, read_vectors

    docs, index_dir = scratch / "docs", scratch / "index"
    reindexes = [_one_page_reindex(docs, index_dir, embedder) for _ in range(args.reindexes)]
    build = IndexDirectory(index_dir).current_build()
    disk = sum(p.stat().st_size for p in build.rglob("*") if p.is_file())
    child = subprocess.run(
        [sys.executable, __file__, "--probe", str(index_dir), "--questions", str(args.questions)]
        + (["--code", args.code] if args.code else []),
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode:
        raise SystemExit(f"probe failed:\n{child.stderr[-3000:]}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    queries = embedder.embed_documents(_questions(args.questions), batch_size=32)
    vectors = read_vectors(build, mmap=True)
    return result | {
        "size": len(vectors),
        "disk_mb": disk / 2**20,
        "index": json.loads((build / "manifest.json").read_text())["dense_index"],
        "recall@10": _recall_at_10(index_dir, vectors, queries),
        "reindex_s": reindexes[0]["reindex_s"],  # the first, as before several were run
        "reindexes": reindexes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--code", help="a checkout whose index package to run (e.g. a worktree of main)")
    parser.add_argument("--scratch", type=Path, help="where to build (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the built indexes (in --scratch)")
    parser.add_argument("--reindexes", type=int, default=1, help="one-page reindexes in a row, each timed (default 1)")
    parser.add_argument(
        "--reuse",
        type=Path,
        action="append",
        help="a folder kept by --keep: reindex and measure its index instead of building one (repeatable)",
    )
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _use_code(args.code)
    if args.probe:
        probe(args.probe, args.questions)
        return
    print(machine_header("Scale: a million chunks on one machine"), flush=True)
    from common import make_bench_embedder

    embedder = make_bench_embedder(BACKEND)
    seed = np.load(CACHE / f"seed-{BACKEND}-{SEEDS}.npy")
    results = []
    for kept in args.reuse or []:
        results.append(measure_index(kept, args, embedder))
        print(json.dumps(results[-1]), flush=True)
    for size in (int(s) for s in args.sizes.split(",") if not args.reuse):
        if args.keep:
            scratch = Path(tempfile.mkdtemp(dir=args.scratch, prefix=f"scale-{size}-"))
            result = measure(size, scratch, args, seed, embedder)
            print(f"kept: {scratch}", flush=True)
        else:
            with tempfile.TemporaryDirectory(dir=args.scratch) as folder:
                result = measure(size, Path(folder), args, seed, embedder)
        results.append(result)
        print(json.dumps(result), flush=True)
    rows = [
        [
            f"{r['size']:,}",
            r["index"],
            f"{r['load_s']:.2f}",
            f"{r['rss_after_asks_mb']:.0f} ({r['rss_loaded_mb'] - r['rss_before_load_mb']:.0f})",
            f"{r['disk_mb']:.0f}",
            f"{r['ask']['median']:.1f}",
            f"{r['ask']['p95']:.1f}",
            f"{r['recall@10']:.3f}",
            " / ".join(f"{x['reindex_s']:.1f}" for x in r["reindexes"]),
        ]
        for r in results
    ]
    store = f"code from {results[0]['code']}" if results else ""
    print(f"\n{args.questions} SQuAD v1.1 dev questions, warm, after {WARM_UP} to warm up; {BACKEND}; {store}")
    print(
        table(
            [
                "chunks",
                "FAISS",
                "load s",
                "resident MB (of it the index at load)",
                "disk MB",
                "ask median ms",
                "ask p95 ms",
                "ANN recall@10",
                "one-page reindex s",
            ],
            rows,
        )
    )
    print(f"\nresults: {save_result('scale' + ('-old-store' if args.code else ''), {'results': results})}")


if __name__ == "__main__":
    main()
