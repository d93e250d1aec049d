"""Run ``verbatim`` (with the fake embedder) as if FOLDER were a read-only mount.

    python -m tests.readonly FOLDER ARGS...

Tests run as root, which chmod cannot stop, and CI may not mount anything. So this process
acts out the kernel's part instead: an audit hook fails every write under FOLDER (opening for
writing, creating, renaming, removing) with EROFS, and ``os.access(FOLDER, W_OK)`` says
no, as on a real ``mount -o ro``. Each refused write is also printed on stderr as
``refused write: EVENT PATH``, so a test sees a write even where the code swallows the error.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Any

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# Audit events that change a folder; their first argument is the path.
CHANGING = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.truncate", "os.chmod", "os.utime", "shutil.rmtree"}
CHANGING |= {"os.symlink", "os.link", "os.chown"}


def simulate_read_only(folder: Path) -> None:
    root = os.path.realpath(folder)

    def inside(path: Any) -> bool:
        if isinstance(path, int) or path is None:
            return False
        full = os.path.realpath(os.fsdecode(path))
        return full == root or full.startswith(root + os.sep)

    def refuse(event: str, path: Any) -> None:
        print(f"refused write: {event} {os.fsdecode(path)}", file=sys.stderr, flush=True)
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and args:
            path, mode, flags = (list(args) + [None, None])[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS
            )
            if writing and inside(path):
                refuse(event, path)
        elif event in CHANGING and args and inside(args[0]):
            if event == "os.mkdir" and os.path.exists(os.fsdecode(args[0])):
                return  # the kernel answers EEXIST before EROFS
            refuse(event, args[0])

    real_access = os.access

    def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
        if mode & os.W_OK and inside(path):
            return False
        return real_access(path, mode, *args, **kwargs)

    os.access = access  # type: ignore[assignment]
    sys.addaudithook(hook)


def main() -> int:
    folder, *argv = sys.argv[1:]
    import bot.cli.commands
    from tests.conftest import HashingEmbedder

    bot.cli.commands.make_embedder = lambda settings: HashingEmbedder()  # type: ignore[assignment,return-value]
    simulate_read_only(Path(folder))
    return bot.cli.commands.main(argv)


if __name__ == "__main__":
    sys.exit(main())
