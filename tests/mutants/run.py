"""Apply each invariant mutation of ``mutations.toml`` to a copy of the tree and run the tests
that guard it; print which mutations were caught, by which test, and which survived.

    python -m tests.mutants                 # every mutation
    python -m tests.mutants NAME [NAME ...] # some of them
    python -m tests.mutants --list          # what there is

A mutation replaces one exact snippet of one file. The working tree is copied to a temporary
folder once (with uncommitted changes) and every mutation is applied to the copy, then undone,
so the tree itself is never modified, even by a crash. A snippet that no longer occurs once in
its file is reported as STALE: the code moved, and the mutation needs updating to follow it.
Exit status: 0 when every mutation was caught, 1 otherwise (survived, stale or broken).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

MUTATIONS = Path(__file__).with_name("mutations.toml")
REPO = Path(__file__).resolve().parents[2]
_COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    ".verbatim",
    "*.egg-info",
    "build",
    "dist",
)
_KEYS = {"name", "invariant", "file", "original", "replacement", "tests"}


@dataclass(frozen=True, slots=True)
class Mutation:
    name: str
    invariant: str
    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    mutation: Mutation
    result: str  # "caught", "SURVIVED", "STALE (...)", "BROKEN (...)"
    detail: str  # the first failing test, or what went wrong
    seconds: float

    @property
    def caught(self) -> bool:
        return self.result.startswith("caught")


def load_mutations(path: Path = MUTATIONS) -> list[Mutation]:
    """The mutations in ``path``; raises ValueError naming the entry that is malformed."""
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("mutation", [])
    mutations: list[Mutation] = []
    for n, entry in enumerate(entries, 1):
        label = entry.get("name", f"entry {n}")
        if set(entry) != _KEYS:
            raise ValueError(f"{path.name}: {label}: keys must be {sorted(_KEYS)}, got {sorted(entry)}")
        if entry["original"] == entry["replacement"] or not entry["original"]:
            raise ValueError(f"{path.name}: {label}: the replacement must change a non-empty snippet")
        if not entry["tests"]:
            raise ValueError(f"{path.name}: {label}: name the tests that must catch it")
        mutations.append(Mutation(**{**entry, "tests": tuple(entry["tests"])}))
    names = [m.name for m in mutations]
    if len(set(names)) != len(names):
        raise ValueError(f"{path.name}: mutation names must be unique")
    return mutations


def staleness(mutation: Mutation, root: Path) -> str | None:
    """Why ``mutation`` cannot be applied to the tree at ``root``, or None if it can."""
    path = root / mutation.file
    if not path.is_file():
        return f"STALE ({mutation.file} not found)"
    count = path.read_text(encoding="utf-8").count(mutation.original)
    if count == 0:
        return "STALE (snippet not found)"
    if count > 1:
        return f"STALE (snippet found {count} times)"
    return None


def _environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    # The copy first on the path, also for the subprocesses tests start (the project is
    # installed in editable mode, pointing at the working tree).
    env["PYTHONPATH"] = os.pathsep.join([str(copy), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _pytest(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[int | None, list[str], str]:
    """(exit code or None on timeout, failed test ids, output tail)."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-rfE", "-p", "no:cacheprovider", *tests]
    try:
        done = subprocess.run(
            command, cwd=copy, env=_environment(copy), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None, [], ""
    # The ids are in the short summary at the end (captured log lines may start with ERROR too).
    summary = done.stdout.rpartition("short test summary info")[2]
    failed = [
        line.split(" ", 1)[1].split(" - ", 1)[0]
        for line in summary.splitlines()
        if line.startswith(("FAILED ", "ERROR "))
    ]
    return done.returncode, failed, "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])


def _check_copy_is_imported(copy: Path) -> None:
    probe = "import index, bot; print(index.__file__); print(bot.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=copy, env=_environment(copy), capture_output=True, text=True, check=True
    ).stdout.split()
    if not all(Path(p).resolve().is_relative_to(copy.resolve()) for p in out):
        raise SystemExit(f"error: the copy is not what gets imported ({out}); the mutations would not be tested")


def run_one(mutation: Mutation, copy: Path, timeout: float) -> Outcome:
    started = time.perf_counter()
    stale = staleness(mutation, copy)
    if stale:
        return Outcome(mutation, stale, f"update {mutation.file} snippet in {MUTATIONS.name}", 0.0)
    path = copy / mutation.file
    original = path.read_text(encoding="utf-8")
    path.write_text(original.replace(mutation.original, mutation.replacement, 1), encoding="utf-8")
    try:
        code, failed, tail = _pytest(copy, mutation.tests, timeout)
    finally:
        path.write_text(original, encoding="utf-8")
    seconds = time.perf_counter() - started
    if code is None:
        return Outcome(mutation, "caught (timeout)", f"the tests hung for {timeout:.0f} s", seconds)
    if code == 0:
        return Outcome(mutation, "SURVIVED", "every test passed", seconds)
    if code == 1 and failed:
        return Outcome(mutation, "caught", failed[0], seconds)
    # 2: interrupted (often a collection error: the mutation does not even import), 4-5: bad test ids.
    return Outcome(mutation, f"BROKEN (pytest exit {code})", tail.splitlines()[-1] if tail else "", seconds)


def _table(outcomes: list[Outcome]) -> str:
    rows = [("mutation", "invariant", "result", "caught by")]
    rows += [(o.mutation.name, o.mutation.invariant, o.result, o.detail) for o in outcomes]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutants", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="run only these mutations")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a mutation's tests count as hung")
    parser.add_argument("--no-baseline", action="store_true", help="skip running the tests unmutated first")
    args = parser.parse_args(argv)

    mutations = load_mutations()
    if args.list:
        for m in mutations:
            print(f"{m.name:40} {m.invariant:28} {m.file}")
        return 0
    unknown = set(args.names) - {m.name for m in mutations}
    if unknown:
        parser.error(f"unknown mutations: {', '.join(sorted(unknown))}")
    chosen = [m for m in mutations if not args.names or m.name in args.names]

    with tempfile.TemporaryDirectory(prefix="verbatim-mutants-") as folder:
        copy = Path(folder) / REPO.name
        shutil.copytree(REPO, copy, ignore=_COPY_IGNORE, symlinks=True)
        shared = REPO.parent / "shared"
        if shared.is_dir():  # the tests find their evaluation data next to the repository
            (Path(folder) / "shared").symlink_to(shared)
        _check_copy_is_imported(copy)
        if not args.no_baseline:
            tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
            print(f"baseline: {len(tests)} test selections, unmutated…", flush=True)
            code, failed, tail = _pytest(copy, tests, args.timeout)
            if code != 0:
                print(f"error: the tests fail without any mutation ({failed or code}):\n{tail}", file=sys.stderr)
                return 2
        outcomes = []
        for n, mutation in enumerate(chosen, 1):
            print(f"[{n}/{len(chosen)}] {mutation.name}… ", end="", flush=True)
            outcome = run_one(mutation, copy, args.timeout)
            print(f"{outcome.result} {outcome.detail} ({outcome.seconds:.0f} s)", flush=True)
            outcomes.append(outcome)

    print()
    print(_table(outcomes))
    caught = sum(o.caught for o in outcomes)
    print(f"\n{caught} of {len(outcomes)} mutations caught; {len(outcomes) - caught} not.")
    return 0 if caught == len(outcomes) else 1
