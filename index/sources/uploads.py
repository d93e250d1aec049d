"""The uploads source: documents moderators add from Discord, kept in ``<index_dir>/sources/uploads/``.

Always indexed beside the other sources (as ``uploads/<file>``). A name is checked before
anything is written: one plain file name, a format Verbatim reads, under the size limit.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from index.config import EngineConfig
from index.errors import VerbatimError
from index.ingest.documents import SUPPORTED_SUFFIXES
from index.units import MB, size_text

UPLOADS = "uploads"
DEFAULT_MAX_UPLOAD_BYTES = 8 * MB
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,99}$")


class UploadError(VerbatimError):
    """An uploaded document cannot be stored or removed."""


@dataclass(frozen=True, slots=True)
class Upload:
    name: str  # the document's name in the index: uploads/<file>
    file: str
    bytes: int


def uploads_folder(config: EngineConfig) -> Path:
    return Path(config.index_dir) / "sources" / UPLOADS


def check_upload(filename: str, size: int, max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> str:
    """The file name to store, or :class:`UploadError` saying why not."""
    name = filename.strip()
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise UploadError(f"{filename!r} is not a format I read.", hint=f"Send one of: {kinds}.")
    if not _SAFE_NAME.match(name) or name.startswith(".") or "/" in name or "\\" in name:
        raise UploadError(
            f"{filename!r} is not a plain file name.", hint="Use letters, digits, spaces, '.', '-', '_' or brackets."
        )
    if size > max_bytes:
        raise UploadError(f"{filename} is {size_text(size)}; the limit is {size_text(max_bytes)}.")
    return name


def store_upload(config: EngineConfig, file: str, data: bytes) -> Upload:
    """Write an upload (replacing one of the same name) without ever leaving half a file."""
    folder = uploads_folder(config)
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{file}.partial"
    temporary.write_bytes(data)
    os.replace(temporary, folder / file)
    return Upload(f"{UPLOADS}/{file}", file, len(data))


def remove_upload(config: EngineConfig, name: str) -> Upload:
    """Remove ``uploads/<file>`` (or ``<file>``); only uploads can be removed this way."""
    file = name.removeprefix(f"{UPLOADS}/")
    existing = {u.file: u for u in list_uploads(config)}
    if file not in existing:
        raise UploadError(f"No uploaded document is named {name!r}.", hint="See them with /docs list.")
    (uploads_folder(config) / file).unlink()
    return existing[file]


def list_uploads(config: EngineConfig) -> list[Upload]:
    folder = uploads_folder(config)
    if not folder.is_dir():
        return []
    return [
        Upload(f"{UPLOADS}/{p.name}", p.name, p.stat().st_size)
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".")
    ]
