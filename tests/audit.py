"""Which files code opens, seen through Python's audit hooks (PEP 578).

Every way Python opens a file (``open``, ``io.open``, ``os.open``, ``Path.read_bytes``…) raises
the ``open`` audit event, so no route is missed, as patching ``builtins.open`` would miss some.
A hook cannot be removed once added: one is installed for the process on first use, and it
records only inside ``files_opened()``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

_recording: list[list[str]] = []
_installed = False


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and _recording:
        path = args[0]
        if isinstance(path, str | bytes | os.PathLike):  # not an already-open descriptor
            for opened in _recording:
                opened.append(os.fsdecode(path))


@contextlib.contextmanager
def files_opened() -> Iterator[list[str]]:
    """The paths opened (from any thread) while the block runs, as given to the opener."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    opened: list[str] = []
    _recording.append(opened)
    try:
        yield opened
    finally:
        _recording.remove(opened)
