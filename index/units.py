"""Sizes as people read them, one convention everywhere: settings (``VERBATIM_*_MB``), limits
and messages count 1 MB as 1,000,000 bytes, so a 20 MB setting is shown as 20 MB."""

from __future__ import annotations

KB = 1_000
MB = 1_000_000


def size_text(count: float) -> str:
    """``20 MB``, ``20.5 MB``, ``512 kB``."""
    if count >= MB:
        return f"{count / MB:.1f}".removesuffix(".0") + " MB"
    return f"{count / KB:.0f} kB"
