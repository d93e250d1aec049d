"""BM25 over the chunks (bm25s), plus the term statistics quote selection needs."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.types import Chunk

_WORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed word tokens without English stop words.

    Single characters are kept when they are digits ("8" in "atomic number 8").
    """
    stop = _stopwords()
    words = [w for w in _WORD.findall(text.lower()) if w not in stop and (len(w) > 1 or w.isdigit())]
    return _stemmer().stemWords(words)


def with_sentence_tokens(chunk: Chunk) -> Chunk:
    """``chunk`` with the tokens of each of its sentences filled in (if they were not)."""
    if len(chunk.sentence_tokens) == len(chunk.sentences):
        return chunk
    tokens = tuple(" ".join(tokenize(chunk.text[a - chunk.start : b - chunk.start])) for a, b in chunk.sentences)
    return dataclasses.replace(chunk, sentence_tokens=tokens)


def chunk_tokens(chunk: Chunk) -> list[str]:
    """All BM25 tokens of a chunk, in order (the same as tokenizing its text: sentences
    cover it but for whitespace)."""
    return [token for sentence in chunk.sentence_tokens for token in sentence.split()]


class LexicalIndex:
    """BM25 scores of a query against every chunk, and inverse document frequencies."""

    def __init__(self, retriever, document_frequency: dict[str, int], size: int) -> None:  # type: ignore[no-untyped-def]
        self._retriever = retriever
        self._df = document_frequency
        self._size = size
        self._vocab: dict[str, int] = retriever.vocab_dict if retriever is not None else {}

    @classmethod
    def from_tokens(cls, tokens: list[list[str]]) -> LexicalIndex:
        import bm25s

        statistics = cls.statistics(tokens)
        if not any(tokens):
            return statistics
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        return cls(retriever, statistics._df, len(tokens))

    @classmethod
    def statistics(cls, tokens: list[list[str]]) -> LexicalIndex:
        """Term statistics alone (idf, knows), without a BM25 retriever: for a store that
        scores BM25 itself (index.qdrant_store)."""
        df: Counter[str] = Counter()
        for doc_tokens in tokens:
            df.update(set(doc_tokens))
        return cls(None, dict(df), len(tokens))

    def __len__(self) -> int:
        return self._size

    def terms(self) -> set[str]:
        """Every token some chunk holds."""
        return {t for t, n in self._df.items() if n > 0}

    def knows(self, token: str) -> bool:
        """True when some chunk holds ``token``."""
        return self._df.get(token, 0) > 0

    def idf(self, token: str) -> float:
        df = self._df.get(token, 0)
        return math.log(1.0 + (self._size - df + 0.5) / (df + 0.5))

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        known = [t for t in query_tokens if t in self._vocab]
        if self._retriever is None or not known:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(known), dtype=np.float32)

    def search(self, query_tokens: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids and BM25 scores of the top ``k`` chunks with a score above zero."""
        scores = self.scores(query_tokens)
        if not len(scores):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]
        return top.astype(np.int64), scores[top]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self._retriever is not None:
            self._retriever.save(str(folder / "bm25"))
        (folder / "document_frequency.json").write_text(
            json.dumps({"size": self._size, "df": self._df}, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        import bm25s

        stats = json.loads((folder / "document_frequency.json").read_text(encoding="utf-8"))
        # Mapped: a query reads the postings of its own words only.
        retriever = bm25s.BM25.load(str(folder / "bm25"), mmap=True) if (folder / "bm25").exists() else None
        return cls(retriever, stats["df"], int(stats["size"]))
