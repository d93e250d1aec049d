"""How a source's last sync is shown, the same on Discord and in the terminal."""

from __future__ import annotations

from index.sources.sync import SourceStatus, sync_age_seconds


def age(seconds: float) -> str:
    """``42 s``, ``5 min``, ``3 h``, ``2 d``: how long ago, roughly."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{max(seconds, 0):.0f} s"


def status_text(status: SourceStatus) -> str:
    """``site (web): synced 2026-12-01T14:09:11+00:00 (5 min ago), every 6 h``."""
    return f"{status.name} {status_detail(status)}"


def status_detail(status: SourceStatus) -> str:
    """What follows the source's name: ``(web): synced … (5 min ago), every 6 h``."""
    if status.age_seconds is None or status.synced_at is None:
        when = "never synced"
    elif status.error:  # the copy served is the last good one: its time first, then what failed
        served = f"synced {status.good_at}{_ago(status.good_at)}" if status.good_at else "never synced"
        when = f"{served}; the fetch of {status.synced_at} ({age(status.age_seconds)} ago) failed: {status.error}"
    else:
        when = f"synced {status.synced_at} ({age(status.age_seconds)} ago)"
    commit = f", commit {status.commit[:12]}" if status.commit else ""
    refresh = f", every {age(status.refresh_seconds)}" if status.refresh_seconds else ""
    return f"({status.kind}): {when}{commit}{refresh}"


def _ago(synced_at: str) -> str:
    seconds = sync_age_seconds(synced_at)
    return f" ({age(seconds)} ago)" if seconds is not None else ""
