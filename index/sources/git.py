"""Git sources: a shallow clone the first time, a shallow fetch after, through the ``git`` command.

The checkout is a working copy like any folder; the build re-embeds only the files whose
content changed, and the commit it holds goes into the manifest and every citation link.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from index.errors import SourceSyncError

__all__ = ["SourceSyncError", "checkout_commit", "sync_git"]

log = logging.getLogger(__name__)

GIT_TIMEOUT_SECONDS = 300


def _git(args: list[str], cwd: Path | None = None) -> str:
    # No prompt for credentials: a sync runs unattended and must fail, not wait.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        raise SourceSyncError("The git command is not installed.", hint="Install git to use git sources.") from None
    except subprocess.TimeoutExpired:
        raise SourceSyncError(f"git {args[0]} took over {GIT_TIMEOUT_SECONDS} s and was stopped.") from None
    if done.returncode != 0:
        raise SourceSyncError(f"git {args[0]} failed: {_reason(done.stderr) or f'exit {done.returncode}'}")
    return done.stdout.strip()


def _reason(stderr: str) -> str | None:
    """The line of git's error output that says what failed: its first ``fatal:`` or ``error:``
    line (the last is often advice, like "and the repository exists.")."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        for prefix in ("fatal: ", "error: "):
            if line.startswith(prefix):
                return line.removeprefix(prefix)
    return lines[0] if lines else None


def sync_git(url: str, branch: str | None, checkout: Path) -> str:
    """Bring ``checkout`` to the tip of ``branch`` (the remote's default without one); the commit."""
    if (checkout / ".git").is_dir():
        ref = branch or "HEAD"
        _git(["fetch", "--depth", "1", "--no-tags", "origin", ref], cwd=checkout)
        _git(["reset", "--hard", "--quiet", "FETCH_HEAD"], cwd=checkout)
        _git(["clean", "-fdxq"], cwd=checkout)
    else:
        # Cloned beside the checkout and moved into place: a clone cut short leaves nothing half-made.
        partial = checkout.with_name(checkout.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        branch_args = ["--branch", branch] if branch else []
        # "--": a URL is never read as an option, whatever the sources file says.
        _git(
            ["clone", "--depth", "1", "--single-branch", "--no-tags", "--quiet", *branch_args, "--", url, str(partial)]
        )
        shutil.rmtree(checkout, ignore_errors=True)
        os.replace(partial, checkout)
    commit = _git(["rev-parse", "HEAD"], cwd=checkout)
    log.info("git_synced", extra={"url": url, "commit": commit})
    return commit


def checkout_commit(checkout: Path) -> str | None:
    """The commit a checkout holds, or None when it was never cloned."""
    if not (checkout / ".git").is_dir():
        return None
    try:
        return _git(["rev-parse", "HEAD"], cwd=checkout)
    except SourceSyncError:
        return None
