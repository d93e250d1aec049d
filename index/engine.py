"""The quote engine: a loaded index that answers questions with verbatim passages."""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.config import EngineConfig
from index.dense import load_dense_index, search_dense
from index.embedding import Embedder
from index.errors import CorruptIndexError, DocumentNotFoundError, InvalidQuestionError
from index.lexical import LexicalIndex, tokenize
from index.lines import LineIndex
from index.quotes import QuoteSpan, choose_span
from index.store import IndexDirectory, Manifest, read_chunks, read_manifest, read_vectors
from index.types import RETRIEVERS, Answer, Chunk, DocumentInfo, Passage, Retriever, SectionRef

log = logging.getLogger(__name__)

# How many chunks each retriever contributes as candidates.
_CANDIDATES = 30
# Hybrid ranking: cosine similarity of the chunk plus this much of the quote's
# IDF-weighted question coverage. Chosen on the first half of SQuAD v1.1 dev and checked
# on the second half (README, "Answer quality"); 0.8 to 1.3 all score within half a point.
_COVERAGE_WEIGHT = 1.0
# Tokenized sentences of recently quoted chunks are cached; this caps the cache.
_TOKEN_CACHE_ROWS = 50_000


@dataclass(frozen=True, slots=True)
class _Candidate:
    row: int
    cosine: float
    lexical: float  # BM25 score, 0 when BM25 did not propose the chunk


def clean_question(question: str, max_chars: int) -> str:
    """The question as searched: control and format characters (NUL, RTL overrides) and
    lone surrogates dropped, whitespace collapsed. Raises :class:`InvalidQuestionError`
    with a short message if nothing is left or it is longer than ``max_chars``."""
    if not isinstance(question, str):
        raise InvalidQuestionError("The question must be text.")
    kept = "".join(ch for ch in question if unicodedata.category(ch) not in ("Cc", "Cf", "Cs") or ch in "\n\t")
    cleaned = " ".join(kept.split())
    if not cleaned:
        raise InvalidQuestionError("The question is empty.", hint="Ask something about the documents.")
    if len(cleaned) > max_chars:
        raise InvalidQuestionError(
            f"The question is too long ({len(cleaned)} characters; the limit is {max_chars}).",
            hint="Ask a shorter question.",
        )
    return cleaned


def abstains(passages: list[Passage], threshold: float) -> bool:
    """True when even the best passage is less relevant than ``threshold``."""
    return not passages or passages[0].relevance < threshold


class Engine:
    """Answers questions from one loaded index build. Thread-safe for reads."""

    def __init__(
        self,
        config: EngineConfig,
        embedder: Embedder,
        manifest: Manifest,
        chunks: list[Chunk],
        vectors: np.ndarray,
        dense,  # type: ignore[no-untyped-def]
        lexical: LexicalIndex,
        build_dir: Path,
    ) -> None:
        self.config = config
        self.embedder = embedder
        self.manifest = manifest
        self._chunks = chunks
        self._vectors = vectors
        self._dense = dense
        self._lexical = lexical
        self.build_dir = build_dir
        self._sentence_tokens: dict[int, list[set[str]]] = {}
        self._sections_cache: dict[str, tuple[tuple[str, ...], ...]] | None = None

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, config: EngineConfig, embedder: Embedder, *, verify: bool = True) -> Engine:
        """Open the live index build; raises a :class:`VerbatimError` saying how to fix it."""
        build = IndexDirectory(Path(config.index_dir)).current_build()
        manifest = read_manifest(build, expected_model=embedder.name, verify=verify)
        try:
            chunks = read_chunks(build)
            # Memory-mapped: only the rows of BM25-only candidates are ever read.
            vectors = read_vectors(build, mmap=True)
            dense = load_dense_index(build / "dense.faiss")
            lexical = LexicalIndex.load(build / "lexical")
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise CorruptIndexError(
                f"The index in {build} cannot be read ({type(exc).__name__}).",
                hint="Rebuild it with: verbatim index --rebuild",
            ) from exc
        if not (len(chunks) == len(vectors) == dense.ntotal == len(lexical)):
            raise CorruptIndexError(
                f"The index in {build} is inconsistent (chunk and vector counts differ).",
                hint="Rebuild it with: verbatim index --rebuild",
            )
        log.info("index_loaded", extra={"chunks": len(chunks), "build": build.name})
        return cls(config, embedder, manifest, chunks, vectors, dense, lexical, build)

    # ------------------------------------------------------------------ facts
    @property
    def built_at(self) -> str:
        return self.manifest.built_at

    @property
    def chunk_count(self) -> int:
        return len(self._chunks)

    def documents(self) -> list[DocumentInfo]:
        return [self.document(path) for path in sorted(self.manifest.documents)]

    def document(self, path: str) -> DocumentInfo:
        record = self.manifest.documents.get(path)
        if record is None:
            raise DocumentNotFoundError(f"No document named {path!r} is indexed.", hint="See the list with /sources.")
        return DocumentInfo(
            path=record.path,
            title=record.title,
            chunks=record.chunks,
            indexed_at=record.indexed_at,
            sha256=record.sha256,
            sections=self._sections().get(path, ()),
            source_url=record.source_url,
        )

    def _sections(self) -> dict[str, tuple[tuple[str, ...], ...]]:
        """Each document's heading paths in document order, computed once per engine."""
        if self._sections_cache is None:
            found: dict[str, dict[tuple[str, ...], None]] = {}
            for chunk in self._chunks:
                if chunk.section:
                    found.setdefault(chunk.document, {})[chunk.section] = None
            self._sections_cache = {path: tuple(paths) for path, paths in found.items()}
        return self._sections_cache

    # ------------------------------------------------------------------ asking
    def ask(self, question: str, *, k: int | None = None, retriever: Retriever | None = None) -> Answer:
        """Up to ``k`` distinct verbatim passages answering ``question``, or an abstention."""
        question = self._clean(question)
        retriever = retriever or self.config.retriever
        k = k or self.config.top_k
        passages = self._passages(question, retriever, k)
        if abstains(passages, self.threshold_for(retriever)):
            return Answer(
                question=question,
                passages=(),
                abstained=True,
                suggestions=self._suggestions(passages),
                retriever=retriever,
                index_built_at=self.built_at,
            )
        return Answer(question, tuple(passages[:k]), False, (), retriever, self.built_at)

    def threshold_for(self, retriever: Retriever) -> float:
        return self.config.lexical_threshold if retriever == "lexical" else self.config.threshold

    def search(self, query: str, *, k: int = 10, retriever: Retriever | None = None) -> list[Passage]:
        """The best ``k`` distinct passages for ``query``, without abstaining."""
        return self._passages(self._clean(query), retriever or self.config.retriever, k)

    def _clean(self, question: str) -> str:
        return clean_question(question, self.config.max_question_chars)

    def _passages(self, question: str, retriever: Retriever, k: int) -> list[Passage]:
        if retriever not in RETRIEVERS:
            raise InvalidQuestionError(f"Unknown retriever {retriever!r}; choose one of {', '.join(RETRIEVERS)}.")
        tokens = tokenize(question)
        weights = {t: self._lexical.idf(t) for t in set(tokens)}
        scored: list[tuple[float, float, int, QuoteSpan]] = []  # (score, relevance, row, span)
        for candidate in self._retrieve(question, tokens, retriever):
            span = choose_span(
                self._chunks[candidate.row], weights, self._tokens_of(candidate.row), self.config.quote_max_chars
            )
            if retriever == "hybrid":
                score, relevance = candidate.cosine + _COVERAGE_WEIGHT * span.coverage, candidate.cosine
            elif retriever == "dense":
                score, relevance = candidate.cosine, candidate.cosine
            else:
                score, relevance = candidate.lexical, span.coverage
            scored.append((score, relevance, candidate.row, span))
        scored.sort(key=lambda item: -item[0])
        passages: list[Passage] = []
        taken: dict[str, list[tuple[int, int]]] = {}
        for score, relevance, row, span in scored:
            chunk = self._chunks[row]
            if any(a < span.end and span.start < b for a, b in taken.get(chunk.document, [])):
                continue  # overlapping chunks must not quote the same words twice
            taken.setdefault(chunk.document, []).append((span.start, span.end))
            passages.append(self._passage(chunk, span.start, span.end, score, relevance))
            if len(passages) >= max(k, 1):
                break
        return passages

    def _retrieve(self, question: str, tokens: list[str], retriever: Retriever) -> list[_Candidate]:
        """Candidate chunks: the nearest by embedding, the best by BM25, or both."""
        rows: dict[int, _Candidate] = {}
        query_vector = None
        if retriever in ("dense", "hybrid"):
            query_vector = self.embedder.embed_query(question)
            dense_rows, dense_scores = search_dense(self._dense, query_vector, _CANDIDATES)
            for row, cosine in zip(dense_rows.tolist(), dense_scores.tolist()):
                rows[row] = _Candidate(row, cosine, 0.0)
        if retriever in ("lexical", "hybrid"):
            lexical_rows, lexical_scores = self._lexical.search(tokens, _CANDIDATES)
            for row, bm25 in zip(lexical_rows.tolist(), lexical_scores.tolist()):
                if row in rows:
                    rows[row] = _Candidate(row, rows[row].cosine, bm25)
                else:
                    cosine = float(self._vectors[row] @ query_vector) if query_vector is not None else 0.0
                    rows[row] = _Candidate(row, cosine, bm25)
        return list(rows.values())

    def _tokens_of(self, row: int) -> list[set[str]]:
        cached = self._sentence_tokens.get(row)
        if cached is None:
            chunk = self._chunks[row]
            if len(chunk.sentence_tokens) == len(chunk.sentences):
                cached = [set(tokens.split()) for tokens in chunk.sentence_tokens]
            else:  # an index written before tokens were stored
                cached = [set(tokenize(chunk.text[a - chunk.start : b - chunk.start])) for a, b in chunk.sentences]
            if len(self._sentence_tokens) >= _TOKEN_CACHE_ROWS:
                self._sentence_tokens.clear()  # bounded memory on huge indexes; refills with hot rows
            self._sentence_tokens[row] = cached
        return cached

    def _passage(self, chunk: Chunk, start: int, end: int, score: float, relevance: float) -> Passage:
        record = self.manifest.documents[chunk.document]
        text = chunk.text[start - chunk.start : end - chunk.start]
        local = LineIndex(chunk.text)
        first = chunk.line_start + local.line_of(start - chunk.start) - 1
        last = chunk.line_start + local.line_of(max(start, end - 1) - chunk.start) - 1
        return Passage(
            document=chunk.document,
            title=record.title,
            section=chunk.section,
            start=start,
            end=end,
            line_start=first,
            line_end=last,
            text=text,
            score=score,
            relevance=relevance,
            page=chunk.page,
            source_url=record.source_url,
        )

    def _suggestions(self, passages: list[Passage]) -> tuple[SectionRef, ...]:
        seen: set[tuple[str, tuple[str, ...]]] = set()
        out = []
        for p in passages:
            key = (p.document, p.section)
            if key not in seen:
                seen.add(key)
                out.append(SectionRef(p.document, p.section, p.line_start, p.relevance))
        return tuple(out[:3])
