"""User-facing errors raised by the engine.

Every exception a caller should show to a person derives from :class:`VerbatimError`
and carries a message written for that person, plus an optional ``hint`` saying what to
do about it. Front ends (the command line, the Discord bot) print ``str(error)`` and
never a traceback.
"""

from __future__ import annotations


class VerbatimError(Exception):
    """Base class for errors that are safe and useful to show to a user."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class InvalidQuestionError(VerbatimError):
    """The question is empty or cannot be searched."""


class NoDocumentsError(VerbatimError):
    """The documents folder is missing or holds nothing that can be indexed."""


class SourceSyncError(VerbatimError):
    """A source could not be fetched; the index keeps serving what it had."""


class IndexNotFoundError(VerbatimError):
    """No index has been built yet in the configured index directory."""


class IndexMismatchError(VerbatimError):
    """The index on disk was built with a different model or format."""


class VectorStoreMismatchError(VerbatimError):
    """The index was written to another vector store than the configured one. Unlike an
    :class:`IndexMismatchError`, loading never rebuilds it: moving stores is asked for with
    ``verbatim index``."""


class CorruptIndexError(VerbatimError):
    """An index file is truncated, garbled or missing."""


class ModelLoadError(VerbatimError):
    """The embedding model cannot be loaded (not installed, or not available offline)."""


class ReindexInProgressError(VerbatimError):
    """A reindex was requested while another one is running."""


class DocumentNotFoundError(VerbatimError):
    """A named document is not in the index."""


class VectorStoreError(VerbatimError):
    """The configured vector store (Qdrant) is unreachable or refused a request."""
