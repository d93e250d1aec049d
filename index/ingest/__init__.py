"""Ingest: files in; text, sentences, chunks with offsets out."""

from index.ingest.chunking import ChunkingParams, chunk_document
from index.ingest.documents import (
    DEFAULT_MAX_DOCUMENT_BYTES,
    SUPPORTED_SUFFIXES,
    Candidate,
    Document,
    DocumentRoot,
    discover_roots,
    load_documents,
    parse_document,
    read_bytes,
)
from index.ingest.formats import DocumentSkipped, ParsedText
from index.ingest.html_text import parse_html
from index.ingest.lines import LineIndex
from index.ingest.sentences import split_sentences

__all__ = [
    "DEFAULT_MAX_DOCUMENT_BYTES",
    "SUPPORTED_SUFFIXES",
    "Candidate",
    "ChunkingParams",
    "Document",
    "DocumentRoot",
    "DocumentSkipped",
    "LineIndex",
    "ParsedText",
    "chunk_document",
    "discover_roots",
    "load_documents",
    "parse_document",
    "parse_html",
    "read_bytes",
    "split_sentences",
]
