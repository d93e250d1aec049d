"""Documents in, chunks as the index stores them out: the one read → parse → chunk loop.

The build, the benchmarks and the tests all read documents this way, so what a benchmark
measures is what the bot answers from.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from index.ingest.chunking import ChunkingParams, chunk_document
from index.ingest.documents import DEFAULT_MAX_DOCUMENT_BYTES, Document, DocumentSkipped, load_documents
from index.lexical import with_sentence_tokens
from index.types import Chunk, SkippedFile

log = logging.getLogger(__name__)


def chunks_of(document: Document, params: ChunkingParams) -> list[Chunk]:
    """A document's chunks with their sentences' BM25 tokens; :class:`DocumentSkipped` if none."""
    chunks = [with_sentence_tokens(c) for c in chunk_document(document, params)]
    if not chunks:
        raise DocumentSkipped("no text in it")
    return chunks


def load_chunks(
    root: Path, params: ChunkingParams, *, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
) -> Iterator[tuple[Document, list[Chunk]] | SkippedFile]:
    """Each document under ``root`` with its chunks, in path order, or why it was skipped."""
    for item in load_documents(root, max_bytes=max_bytes):
        if isinstance(item, SkippedFile):
            yield item
            continue
        try:
            yield item, chunks_of(item, params)
        except DocumentSkipped as exc:
            yield SkippedFile(item.path, str(exc))
        except Exception as exc:  # a chunking bug must not stop the others
            log.warning("document_failed", extra={"document": item.path}, exc_info=True)
            yield SkippedFile(item.path, f"could not be chunked ({type(exc).__name__})")
