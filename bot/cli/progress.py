"""Progress bars for long work in the terminal (rich), silent when not a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from index.build import Progress


@contextlib.contextmanager
def build_progress(enabled: bool | None = None) -> Iterator[Progress]:
    """A ``progress(stage, done, total)`` callback drawing one bar per stage on stderr."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield lambda stage, done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    labels = {"reading": "Reading documents", "embedding": "Embedding chunks"}
    with Bar(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        tasks: dict[str, object] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=max(total, 1))
            bar.update(tasks[stage], completed=done if total else 1, total=max(total, 1))  # type: ignore[arg-type]

        yield update
