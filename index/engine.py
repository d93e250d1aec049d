"""The quote engine: a loaded index that answers questions with verbatim passages."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from index.chunk_store import ChunkTable
from index.config import EngineConfig
from index.embedding import Embedder
from index.errors import CorruptIndexError, DocumentNotFoundError, InvalidQuestionError
from index.ingest.lines import LineIndex
from index.links import document_link, passage_link
from index.ranker import MODELS_DIR, Ranker
from index.reader import Reader
from index.search import Searcher, StageHook
from index.store import IndexDirectory, Manifest, read_chunks, read_manifest, read_sentence_vectors
from index.types import Answer, Chunk, DocumentInfo, Outcome, Passage, Retriever, SectionRef
from index.vector_store import check_store, vector_backend

log = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class Judged:
    """The passages found for a question and the outcome they earn."""

    question: str
    retriever: Retriever
    passages: tuple[Passage, ...]
    outcome: Outcome
    confidence: float | None


def decide(*, relevant: bool, confidence: float | None, thresholds: tuple[float, float]) -> Outcome:
    """The outcome of a search: ``relevant`` when the best passage clears the relevance
    floor; ``thresholds`` are (not sure below, not found below) for ``confidence``."""
    if not relevant:
        return "not_found"
    if confidence is None:
        return "answered"
    not_sure, not_found = thresholds
    if confidence < not_found:
        return "not_found"
    return "not_sure" if confidence < not_sure else "answered"


def abstains(passages: list[Passage], threshold: float) -> bool:
    """True when no passage is as relevant as ``threshold``. The most relevant one counts,
    not the first: the learned ranker may put a passage found by its words first."""
    return not passages or max(p.relevance for p in passages) < threshold


class Engine:
    """Answers questions from one loaded index build. Thread-safe for reads."""

    def __init__(
        self,
        config: EngineConfig,
        embedder: Embedder,
        manifest: Manifest,
        chunks: ChunkTable,
        searcher: Searcher,
        build_dir: Path,
    ) -> None:
        self.config = config
        self.embedder = embedder
        self.manifest = manifest
        self._chunks = chunks
        self.build_dir = build_dir
        self.searcher = searcher
        self._sections_cache: dict[str, tuple[tuple[str, ...], ...]] | None = None

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, config: EngineConfig, embedder: Embedder, *, verify: bool = False) -> Engine:
        """Open the live index build; raises a :class:`VerbatimError` saying how to fix it.

        Every file's size and the chunk store's shapes are checked; with ``verify`` every
        file's checksum too (``verbatim index --verify`` does that without loading)."""
        build = IndexDirectory(Path(config.index_dir)).current_build()
        manifest = read_manifest(build, expected_model=embedder.name, verify=verify)
        check_store(manifest, config)
        try:
            chunks = read_chunks(build)
            sentence_vectors = read_sentence_vectors(build, mmap=True)
            store = vector_backend(config).open(build, manifest)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise CorruptIndexError(
                f"The index in {build} cannot be read ({type(exc).__name__}).",
                hint="Rebuild it with: verbatim index --rebuild",
            ) from exc
        sentences = chunks.sentence_count
        if len(chunks) != len(store) or (sentence_vectors is not None and len(sentence_vectors) != sentences):
            raise CorruptIndexError(
                f"The index in {build} is inconsistent (chunk and vector counts differ).",
                hint="Rebuild it with: verbatim index --rebuild",
            )
        log.info("index_loaded", extra={"chunks": len(chunks), "build": build.name, "vector_store": store.kind})
        searcher = Searcher(
            chunks,
            store,
            embedder,
            quote_max_chars=config.quote_max_chars,
            sentence_vectors=sentence_vectors,
            ranker=Ranker.load() if config.learned_ranking else None,
            reader=Reader.load(MODELS_DIR) if config.learned_ranking and config.reader else None,
        )
        return cls(config, embedder, manifest, chunks, searcher, build)

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
            source_url=document_link(record),
        )

    def _sections(self) -> dict[str, tuple[tuple[str, ...], ...]]:
        """Each document's heading paths in document order, computed once per engine."""
        if self._sections_cache is None:
            self._sections_cache = self._chunks.sections_by_document()
        return self._sections_cache

    # ------------------------------------------------------------------ asking
    def ask(
        self, question: str, *, k: int | None = None, retriever: Retriever | None = None, hook: StageHook | None = None
    ) -> Answer:
        """Up to ``k`` distinct verbatim passages answering ``question``, or an abstention.

        ``hook(stage, seconds)`` is told how long each ranking stage took (index.search.STAGES)."""
        judged = self.judge(question, k=k or self.config.top_k, retriever=retriever, hook=hook)
        if judged.outcome == "not_found":
            return Answer(
                question=judged.question,
                passages=(),
                abstained=True,
                suggestions=self._suggestions(judged.passages),
                retriever=judged.retriever,
                index_built_at=self.built_at,
                confidence=judged.confidence,
            )
        return Answer(
            judged.question,
            judged.passages,
            False,
            (),
            judged.retriever,
            self.built_at,
            outcome=judged.outcome,
            confidence=judged.confidence,
        )

    def judge(
        self, question: str, *, k: int, retriever: Retriever | None = None, hook: StageHook | None = None
    ) -> Judged:
        """The best ``k`` passages and the outcome they earn, passages kept whatever it is
        (``verbatim eval`` scores both)."""
        question = self._clean(question)
        retriever = retriever or self.config.retriever
        ranking = self.searcher.search(question, retriever, k, hook=hook)
        passages = tuple(
            self._passage(self._chunks[r.row], r.start, r.end, r.score, r.relevance) for r in ranking.spans
        )
        return Judged(
            question, retriever, passages, self.outcome_for(passages, ranking.answerable, retriever), ranking.answerable
        )

    def outcome_for(self, passages: Sequence[Passage], confidence: float | None, retriever: Retriever) -> Outcome:
        """not_found below the relevance floor or the learned not-found cut; not_sure below
        the not-sure cut; answered otherwise."""
        return decide(
            relevant=not abstains(list(passages), self.threshold_for(retriever)),
            confidence=confidence,
            thresholds=self.confidence_thresholds(),
        )

    def confidence_thresholds(self) -> tuple[float, float]:
        """(not sure below, not found below): the configured ones, else those the models were trained with."""
        chosen: dict[str, float] = self.searcher.ranker.info.get("thresholds", {}) if self.searcher.ranker else {}
        reader = self.searcher.reader
        if reader is not None and reader.settings is not None:  # the reader's confidence is another scale
            chosen = {"not_sure": reader.settings.not_sure, "not_found": reader.settings.not_found}
        not_sure = self.config.not_sure_threshold
        not_found = self.config.not_found_threshold
        not_sure = float(chosen.get("not_sure", 0.0)) if not_sure is None else not_sure
        not_found = float(chosen.get("not_found", 0.0)) if not_found is None else not_found
        return not_sure, min(not_found, not_sure)

    def threshold_for(self, retriever: Retriever) -> float:
        return self.config.lexical_threshold if retriever == "lexical" else self.config.threshold

    def search(self, query: str, *, k: int = 10, retriever: Retriever | None = None) -> list[Passage]:
        """The best ``k`` distinct passages for ``query``, without abstaining."""
        return list(self.judge(query, k=k, retriever=retriever).passages)

    def section_opening(self, document: str, section: tuple[str, ...]) -> Passage:
        """The first sentences of one section, verbatim (within the quote budget): what a reader
        sees on choosing a suggested section when the documents did not answer."""
        row = self._chunks.first_row_of(document, section)
        if row is not None:
            chunk = self._chunks[row]
            if not chunk.sentences:
                return self._passage(chunk, chunk.start, chunk.end, 0.0, 0.0)
            start, end = chunk.sentences[0]
            for _, sentence_end in chunk.sentences[1:]:
                if sentence_end - start > self.config.quote_max_chars:
                    break
                end = sentence_end
            return self._passage(chunk, start, end, 0.0, 0.0)
        raise DocumentNotFoundError(
            f"No section {' › '.join((document, *section))!r} is indexed.", hint="See the list with /sources."
        )

    def _clean(self, question: str) -> str:
        return clean_question(question, self.config.max_question_chars)

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
            source_url=passage_link(record, start, first, last),
        )

    def _suggestions(self, passages: Sequence[Passage]) -> tuple[SectionRef, ...]:
        seen: set[tuple[str, tuple[str, ...]]] = set()
        out = []
        for p in passages:
            key = (p.document, p.section)
            if key not in seen:
                seen.add(key)
                out.append(SectionRef(p.document, p.section, p.line_start, p.relevance))
        return tuple(out[:3])
