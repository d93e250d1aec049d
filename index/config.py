"""The engine's configuration: a plain value, filled in by whichever front end runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from index.embedding import DEFAULT_MODEL
from index.ingest.chunking import ChunkingParams
from index.ingest.documents import DEFAULT_MAX_DOCUMENT_BYTES
from index.sources.spec import SourceSpec
from index.types import Retriever

# Chosen on the question sets (README, "Answer quality"): the dense cosine similarity
# below which the best passage is judged not to answer the question.
DEFAULT_THRESHOLD = 0.20
# For lexical-only retrieval, which has no cosine: the share of the question's
# (IDF-weighted) words that the best quote must contain.
DEFAULT_LEXICAL_THRESHOLD = 0.2
# The most passages one answer quotes (more is a search, not an answer).
TOP_K_MAX = 10

VectorStoreKind = Literal["faiss", "qdrant"]
VECTOR_STORES: tuple[VectorStoreKind, ...] = ("faiss", "qdrant")
# The alias that names the live collection; each build's own collection is "<alias>-<build>".
DEFAULT_QDRANT_COLLECTION = "verbatim"


@dataclass(frozen=True, slots=True)
class QdrantConfig:
    """Where the Qdrant store lives: a server or cluster (``url``) or qdrant-client's embedded
    local mode in a folder (``path``), exactly one of them."""

    url: str | None = None
    path: Path | None = None
    api_key: str | None = None
    collection: str = DEFAULT_QDRANT_COLLECTION

    @property
    def location(self) -> str:
        return self.url if self.url is not None else str(self.path)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    documents_dir: Path = Path("docs")
    index_dir: Path = Path(".verbatim/index")
    model: str = DEFAULT_MODEL
    device: str = "cpu"
    chunking: ChunkingParams = field(default_factory=ChunkingParams)
    top_k: int = 3
    retriever: Retriever = "hybrid"
    threshold: float = DEFAULT_THRESHOLD
    lexical_threshold: float = DEFAULT_LEXICAL_THRESHOLD
    quote_max_chars: int = 500
    max_question_chars: int = 2000
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    batch_size: int = 32
    # Rank spans with the shipped learned models (index/models); off: cosine + coverage.
    learned_ranking: bool = True
    # Let the shipped reader (index/reader.py) reread the first spans of a learned ranking.
    reader: bool = True
    # The learned probability that the first passage answers, below which the answer is
    # "not sure" / "not found". None: the cuts chosen when the models were trained.
    not_sure_threshold: float | None = None
    not_found_threshold: float | None = None
    # What to index, from the sources file; None: ``documents_dir`` alone, as before sources.
    sources: tuple[SourceSpec, ...] | None = None
    # Where the vectors and the lexical side live: FAISS + BM25 files in the build (the
    # default), or a Qdrant collection per build (index.qdrant_store), then ``qdrant`` says where.
    vector_store: VectorStoreKind = "faiss"
    qdrant: QdrantConfig | None = None
