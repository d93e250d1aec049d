"""Values that cross from the engine to its front ends. All frozen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Retriever = Literal["hybrid", "dense", "lexical"]
RETRIEVERS: tuple[Retriever, ...] = ("hybrid", "dense", "lexical")
# answered: the first passage answers. not_sure: passages that may help, none judged to
# answer directly. not_found: nothing relevant; nearest sections only.
Outcome = Literal["answered", "not_sure", "not_found"]
OUTCOMES: tuple[Outcome, ...] = ("answered", "not_sure", "not_found")


@dataclass(frozen=True, slots=True)
class Heading:
    """A section heading: where it starts in the document text and how deep it sits."""

    start: int
    level: int
    title: str
    anchor: str | None = None  # the HTML id a link can jump to (``page.html#anchor``)
    # An API entry's signature (``os.path.join(path, *paths)``): it opens a section like a
    # heading, but is part of the text and quoted with its description.
    entry: bool = False


@dataclass(frozen=True, slots=True)
class Chunk:
    """A window of whole sentences inside one section of one document.

    ``text == document_text[start:end]``; ``sentences`` are absolute ``(start, end)``
    offsets of the sentences it holds, so a quote can be cut from the chunk alone.
    """

    document: str
    start: int
    end: int
    line_start: int
    line_end: int
    section: tuple[str, ...]
    text: str
    sentences: tuple[tuple[int, int], ...]
    page: int | None = None
    # The BM25 tokens of each sentence, space-separated: computed once at build time, they
    # serve BM25 (re)builds and quote selection without tokenizing again.
    sentence_tokens: tuple[str, ...] = ()
    # Indexes (into ``sentences``) of the pieces of a long code block after its first: a
    # quote never starts inside a code block's middle.
    mid_code: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Passage:
    """A verbatim quote with everything needed to cite it.

    ``text`` is exactly ``document_text[start:end]`` of ``document``; lines are 1-based
    and inclusive.
    """

    document: str
    title: str
    section: tuple[str, ...]
    start: int
    end: int
    line_start: int
    line_end: int
    text: str
    score: float
    relevance: float
    page: int | None = None
    source_url: str | None = None

    @property
    def citation(self) -> str:
        """``file › Section › Sub, lines a–b`` (and the page for PDFs)."""
        place = " › ".join((self.document, *self.section))
        lines = (
            f"line {self.line_start}"
            if self.line_start == self.line_end
            else f"lines {self.line_start}–{self.line_end}"
        )
        page = f"page {self.page}, " if self.page is not None else ""
        return f"{place}, {page}{lines}"


@dataclass(frozen=True, slots=True)
class SectionRef:
    """A section offered as a suggestion when the engine abstains."""

    document: str
    section: tuple[str, ...]
    line_start: int
    relevance: float

    @property
    def label(self) -> str:
        return " › ".join((self.document, *self.section)) + f" (line {self.line_start})"


@dataclass(frozen=True, slots=True)
class Answer:
    """The engine's reply to one question: quotes, or an abstention with suggestions.

    ``outcome`` says which of three it is; ``abstained`` is true for "not_found" only, the
    one outcome that shows no passages. ``confidence`` is the learned probability that the
    first passage answers (None without the learned models)."""

    question: str
    passages: tuple[Passage, ...]
    abstained: bool
    suggestions: tuple[SectionRef, ...] = ()
    retriever: Retriever = "hybrid"
    index_built_at: str | None = None
    outcome: Outcome = "answered"
    confidence: float | None = None

    def __post_init__(self) -> None:
        if self.abstained and self.outcome != "not_found":
            object.__setattr__(self, "outcome", "not_found")


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """One indexed document as listed by ``/sources`` and ``verbatim sources``."""

    path: str
    title: str
    chunks: int
    indexed_at: str
    sha256: str
    sections: tuple[tuple[str, ...], ...] = ()
    source_url: str | None = None


@dataclass(frozen=True, slots=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a (re)index did."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[SkippedFile, ...] = ()
    chunks: int = 0
    embedded_chunks: int = 0
    seconds: float = 0.0
    index_dir: str = ""
    built_at: str = ""
    rebuilt: bool = field(default=False)
    # One line per source fetched before the build ("site: 12 pages fetched, ..."); its
    # skipped pages are in ``skipped`` with the documents.
    fetches: tuple[str, ...] = ()
    # One line per source whose fetch failed ("site: fetch failed (...); ..."): indexed as last synced.
    failed_fetches: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped; "
            f"{self.chunks} chunks ({self.embedded_chunks} embedded) in {self.seconds:.1f} s"
        )
