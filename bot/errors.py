"""What a person is told when something fails, and what the log keeps.

One helper for every front end: slash commands, listeners, the reindex task, the command
line and the console chat. An error meant for users (:class:`VerbatimError`) is shown as is
and logged at INFO; anything else is logged with its traceback and shown as one line.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import Literal

from index import VerbatimError

log = logging.getLogger("bot")

#: What every front end says when the documents do not hold the answer.
NOT_IN_DOCUMENTS = "Not in the documents."
#: ... and when passages may help but none was judged to answer directly.
NOT_SURE = "Not sure."
NOT_SURE_DETAIL = "These passages may help, but none answers this directly."
SOMETHING_WENT_WRONG = "Something went wrong on my side. The moderators can find the details in the bot's log."

Audience = Literal["discord", "terminal"]


class FolderNotWritableError(VerbatimError):
    """A folder Verbatim must write to (index, feedback, health) is not writable."""


def original(error: BaseException) -> BaseException:
    """The error behind discord.py's wrappers (``CommandInvokeError.original``) or a ``raise from``;
    a user error is its own (it was raised from a library's error to say what it means)."""
    if isinstance(error, VerbatimError):
        return error
    return getattr(error, "original", None) or getattr(error, "__cause__", None) or error


def is_user_error(error: BaseException) -> bool:
    return isinstance(original(error), VerbatimError)


def describe(error: BaseException, audience: Audience = "discord") -> str:
    """One line for a person: a user error's own message; otherwise a generic line in Discord
    (details stay in the log) and the exception's type and text in the terminal."""
    cause = original(error)
    if isinstance(cause, VerbatimError):
        return str(cause)
    if isinstance(cause, PermissionError | OSError) and cause.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return str(not_writable(_first_existing(Path(cause.filename or ".")), cause))
    if audience == "discord":
        return SOMETHING_WENT_WRONG
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"unexpected {type(cause).__name__}{': ' + text if text else ''} (run with -v to see where)"


def report_failure(error: BaseException, event: str, audience: Audience = "discord") -> str:
    """Log ``error`` under ``event`` and return the line to show. User errors are logged at
    INFO; others with their traceback, at ERROR for the bot (its log is where the details
    go) and at INFO in the terminal (the line is printed anyway; ``-v`` shows where)."""
    if is_user_error(error):  # in the terminal the line itself is the record: no echo in the log
        log.log(logging.INFO if audience == "discord" else logging.DEBUG, event, extra={"error": str(original(error))})
    else:
        log.log(logging.ERROR if audience == "discord" else logging.INFO, event, exc_info=error)
    return describe(error, audience)


def in_container() -> bool:
    return Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()


def not_writable(folder: Path, error: OSError | None = None) -> FolderNotWritableError:
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    who = f"this user (uid {uid})" if uid is not None else "this user"
    reason = "is read-only" if error is not None and error.errno == errno.EROFS else f"is not writable by {who}"
    if in_container():
        hint = (
            f'If it is a host folder mounted into the container, run the container with --user "$(id -u):$(id -g)", '
            f"or give the host folder to uid {uid}: sudo chown -R {uid} /path/on/host (README, Docker)."
        )
    else:
        hint = f"Give it to {who} (sudo chown -R {uid} {folder}) or point the setting at another folder."
    return FolderNotWritableError(f"The folder {folder} {reason}.", hint=hint)


def can_write(folder: Path) -> bool:
    """Could files be written in ``folder``? Asked of the kernel, writing nothing (a read-only
    mount says no even to root)."""
    return os.access(folder, os.W_OK)


def _kind(path: Path) -> str:
    mode = path.stat().st_mode
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "a pipe" if stat.S_ISFIFO(mode) else "not a folder"


def not_a_folder(path: Path, within: Path | None = None) -> str | None:
    """What is wrong with ``path`` as a folder to keep files in: it, or the nearest part of it
    that exists, is something else (a file, a device); None when it is or can be a folder."""
    nearest = path
    while not nearest.exists() and nearest != nearest.parent:
        if nearest.is_symlink():
            return f"{nearest} is a broken symbolic link"
        nearest = nearest.parent
    if not nearest.exists() or nearest.is_dir():
        return None
    kind = _kind(nearest)
    if nearest == (within or path):
        return f"{nearest} is {kind}, not a folder"
    return f"{within or path} is inside {nearest}, which is {kind}, not a folder"


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and prove a file can be written in it; otherwise raise
    :class:`FolderNotWritableError` naming the folder that refuses (the first one that exists)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except (FileExistsError, NotADirectoryError):
        raise FolderNotWritableError(f"{not_a_folder(folder) or folder}.") from None
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise not_writable(_first_existing(folder), exc) from None


def _first_existing(path: Path) -> Path:
    """The folder that refused: ``path`` or its nearest ancestor that exists."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
