"""Cold start: from process start to the first printed answer, on an existing index.

Three ways, each started --runs times in a fresh process on the same documents (docs/),
the index built beforehand: the shipped command line (`verbatim ask`, torch), and a minimal
library program with the torch backend and with the default ONNX int8 backend.

    python bench/coldstart.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, machine_header, stats_ms, table

QUESTION = "What did the Department of Defense demand from Anthropic?"
PROGRAM = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from index import Engine, EngineConfig
from index.onnx_embedding import make_embedder
config = EngineConfig(documents_dir=Path({docs!r}), index_dir=Path({index!r}))
embedder = make_embedder(backend={backend!r}, cache_dir=config.index_dir / "models")
answer = Engine.load(config, embedder).ask({question!r})
print(answer.passages[0].text if answer.passages else "Not found", flush=True)
"""


def first_line_seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    elapsed = time.perf_counter() - started
    process.wait()
    if not line.strip():
        raise RuntimeError(f"no answer from {command[:3]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(machine_header("Cold start: process start to first printed answer"), flush=True)
    docs = REPO / "docs"
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        env = dict(os.environ, VERBATIM_DOCS_DIR=str(docs))
        commands = {}
        for backend in ("torch", "onnx-int8"):
            index = Path(scratch) / f"index-{backend}"
            code = PROGRAM.format(repo=str(REPO), docs=str(docs), index=str(index), backend=backend, question=QUESTION)
            from index import EngineConfig, build_index
            from index.onnx_embedding import make_embedder

            config = EngineConfig(documents_dir=docs, index_dir=index)
            build_index(config, make_embedder(backend=backend, cache_dir=index / "models"))
            commands[f"library, {backend}"] = ([sys.executable, "-c", code], env)
        cli_index = Path(scratch) / "index-cli"
        cli_env = dict(env, VERBATIM_INDEX_DIR=str(cli_index))
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "index"], env=cli_env, cwd=REPO, check=True, capture_output=True
        )
        commands["verbatim ask (shipped CLI)"] = ([sys.executable, "-m", "bot.cli", "ask", QUESTION], cli_env)
        for name, (command, command_env) in commands.items():
            first_line_seconds(command, command_env)  # warm the page cache
            results[name] = stats_ms(first_line_seconds(command, command_env) for _ in range(args.runs))
            print(f"{name}: {results[name]}", flush=True)
    base = results["verbatim ask (shipped CLI)"]
    rows = [
        [name, f"{r['median'] / 1000:.2f}", f"{r['p95'] / 1000:.2f}", f"{base['median'] / r['median']:.2f}x"]
        for name, r in results.items()
    ]
    print(f"\n{args.runs} runs each, after one unmeasured run; index of docs/ built beforehand.")
    print(table(["program", "median s", "p95 s", "vs shipped CLI"], rows))
    from common import save_result

    save_result("coldstart", results)


if __name__ == "__main__":
    main()
