"""Verbatim's quote engine: documents in, verbatim cited passages out.

A library with no knowledge of Discord. Typical use::

    from index import Engine, EngineConfig, build_index, make_embedder

    config = EngineConfig(documents_dir=Path("docs"))
    embedder = make_embedder(config.model)  # what the CLI and the bot use: their indexes match
    build_index(config, embedder)
    answer = Engine.load(config, embedder).ask("What did the DoD demand?")
"""

from index.build import build_index
from index.config import DEFAULT_THRESHOLD, EngineConfig
from index.embedding import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder
from index.engine import Engine, Judged, clean_question
from index.errors import (
    CorruptIndexError,
    DocumentNotFoundError,
    IndexMismatchError,
    IndexNotFoundError,
    InvalidQuestionError,
    ModelLoadError,
    NoDocumentsError,
    ReindexInProgressError,
    VerbatimError,
)
from index.ingest.chunking import ChunkingParams, chunk_document
from index.ingest.documents import Document, load_documents, parse_document
from index.ingest.sentences import split_sentences
from index.onnx_embedding import OnnxEmbedder, make_embedder
from index.sources.sync import update_index
from index.types import (
    OUTCOMES,
    RETRIEVERS,
    Answer,
    BuildReport,
    Chunk,
    DocumentInfo,
    Outcome,
    Passage,
    Retriever,
    SectionRef,
    SkippedFile,
)

__all__ = [
    "update_index",
    "DEFAULT_MODEL",
    "DEFAULT_THRESHOLD",
    "OUTCOMES",
    "RETRIEVERS",
    "Judged",
    "Outcome",
    "Answer",
    "BuildReport",
    "Chunk",
    "ChunkingParams",
    "CorruptIndexError",
    "Document",
    "DocumentInfo",
    "DocumentNotFoundError",
    "Embedder",
    "Engine",
    "EngineConfig",
    "IndexMismatchError",
    "IndexNotFoundError",
    "InvalidQuestionError",
    "ModelLoadError",
    "NoDocumentsError",
    "Passage",
    "ReindexInProgressError",
    "Retriever",
    "SectionRef",
    "SentenceTransformerEmbedder",
    "SkippedFile",
    "VerbatimError",
    "build_index",
    "chunk_document",
    "clean_question",
    "load_documents",
    "make_embedder",
    "parse_document",
    "split_sentences",
    "OnnxEmbedder",
]
