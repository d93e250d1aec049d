"""The reader: a model that reads the question and a span together.

The bi-encoder behind retrieval embeds a question and a passage apart, so it can tell that
a passage is *about* the question but not that it *answers* it. The reader is the packaged
MiniLM (all-MiniLM-L6-v2), its first layers fine-tuned as a cross-encoder by
``bench/train_reader.py`` on the shared question sets: ``[CLS] question [SEP] span [SEP]`` in, the mean of its last layer
through one linear unit out, a logit that the span holds the answer.

It ships in ``index/models/`` as an int8 ONNX graph with its tokenizer, so answering needs
ONNX Runtime and ``tokenizers`` only. ``reader.json`` beside it records how the
reader's logit is combined with the ranker's score and with the answerability model; a
reader that is absent, or written for other features, is not used.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

READER_FILE = "reader.onnx"
TOKENIZER_FILE = "reader-tokenizer.json"
SETTINGS_FILE = "reader.json"
# Question and span together; a 500-character quote is about 120 word pieces.
MAX_TOKENS = 256
# The selected spans the reader reads (unless reader.json says otherwise): each costs
# about one model run at query time.
READ_TOP = 3
# What the answerability combination reads, in this order.
READER_FEATURES = (
    "ranker_answerable",  # log-odds of the ranker stage's answerability model
    "reader_first",  # the reader's logit for the span shown first
    "reader_best",  # its best logit over the spans read
    "reader_margin",  # first minus second
)


@dataclass(frozen=True, slots=True)
class ReaderSettings:
    """How the reader's logits join the ranking and the outcome (fitted by bench/train_reader.py)."""

    read_top: int  # how many of the first selected spans it reads
    read_below: float  # it reads only when the ranker's own confidence is below this
    weight: float  # of the reader's logit beside the ranker's score
    coefficients: tuple[float, ...]  # of READER_FEATURES in the answerability log-odds
    intercept: float
    not_sure: float
    not_found: float


def answer_logit(features: np.ndarray, coefficients: Sequence[float] | np.ndarray, intercept: float) -> float:
    """The log-odds that the first span answers, from a :data:`READER_FEATURES` row."""
    return float(np.dot(features, np.asarray(coefficients, dtype=np.float64)) + intercept)


def reader_features(ranker_probability: float | None, logits: Sequence[float]) -> np.ndarray:
    """The :data:`READER_FEATURES` row of a search whose read spans, in the order shown,
    got ``logits`` (the training script builds it the same way)."""
    p = min(max(ranker_probability if ranker_probability is not None else 0.5, 1e-4), 1 - 1e-4)
    first = logits[0] if len(logits) else 0.0
    second = logits[1] if len(logits) > 1 else first
    best = max(logits) if len(logits) else 0.0
    return np.array([np.log(p / (1 - p)), first, best, first - second], dtype=np.float64)


class Reader:
    """Scores (question, span) pairs with the shipped cross-encoder. Thread-safe."""

    def __init__(self, model_file: Path, tokenizer_file: Path, *, threads: int | None = None) -> None:
        self._model_file = model_file
        self._tokenizer_file = tokenizer_file
        self._threads = threads
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self.settings: ReaderSettings | None = None

    @classmethod
    def load(cls, folder: Path) -> Reader | None:
        """The reader in ``folder`` with its settings, or None (with a warning when stale).
        One instance per folder and file version: every engine of a process shares its
        ONNX session (half a second to open) instead of opening its own."""
        model, tokenizer, meta = folder / READER_FILE, folder / TOKENIZER_FILE, folder / SETTINGS_FILE
        if not (model.is_file() and tokenizer.is_file()):
            return None
        versions = tuple((p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else None for p in (model, meta))
        return _shared(folder.resolve(), versions)

    @classmethod
    def _read(cls, folder: Path) -> Reader | None:
        model, tokenizer, meta = folder / READER_FILE, folder / TOKENIZER_FILE, folder / SETTINGS_FILE
        reader = cls(model, tokenizer)
        if meta.is_file():
            info = json.loads(meta.read_text(encoding="utf-8"))
            if tuple(info.get("answer_features", ())) != READER_FEATURES:
                log.warning("reader_stale", extra={"folder": str(folder)})
                return None
            reader.settings = ReaderSettings(
                read_top=max(1, int(info.get("read_top", READ_TOP))),
                read_below=float(info.get("read_below", 1.01)),
                weight=float(info["reader_weight"]),
                coefficients=tuple(float(c) for c in info["answer_coefficients"]),
                intercept=float(info["answer_intercept"]),
                not_sure=float(info["thresholds"]["not_sure"]),
                not_found=float(info["thresholds"]["not_found"]),
            )
        return reader

    def _loaded(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._open()
        return self._session

    def _open(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = self._threads or max(1, len(os.sched_getaffinity(0)))
        options.log_severity_level = 3
        # Idle worker threads sleep instead of spinning: the bot's event loop shares the CPU.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        tokenizer = Tokenizer.from_file(str(self._tokenizer_file))
        tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="longest_first")
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._session = ort.InferenceSession(str(self._model_file), options, providers=["CPUExecutionProvider"])

    def logits(self, question: str, spans: Sequence[str]) -> np.ndarray:
        """One logit per span: how sure the reader is that the span answers ``question``."""
        if not spans:
            return np.zeros(0, dtype=np.float32)
        session = self._loaded()
        ids, mask, types = encode_pairs(self._tokenizer, [(question, span) for span in spans])
        out = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)


@lru_cache(maxsize=8)
def _shared(folder: Path, versions: tuple[object, ...]) -> Reader | None:
    return Reader._read(folder)


def encode_pairs(tokenizer: Any, pairs: Sequence[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[CLS] question [SEP] span [SEP]`` for each (question, span), padded to the longest:
    the token ids, attention mask and segment ids (the training script encodes with this too)."""
    encodings = tokenizer.encode_batch(list(pairs))
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(pairs), width), dtype=np.int64)
    mask = np.zeros((len(pairs), width), dtype=np.int64)
    types = np.zeros((len(pairs), width), dtype=np.int64)
    for i, e in enumerate(encodings):
        n = len(e.ids)
        ids[i, :n] = e.ids
        mask[i, :n] = 1
        types[i, :n] = e.type_ids
    return ids, mask, types
