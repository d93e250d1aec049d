"""The engine's configuration: a plain value, filled in by whichever front end runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from index.chunking import ChunkingParams
from index.documents import DEFAULT_MAX_DOCUMENT_BYTES
from index.embedding import DEFAULT_MODEL
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
