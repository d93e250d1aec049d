"""The reader: it rereads the first spans of a learned ranking, reorders them by what it
read, and its judgement decides the outcome. A scripted reader stands in for the model here;
tests/index/test_answer_quality_real.py runs the shipped one."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import index.engine
from index import Engine, build_index
from index.reader import READ_TOP, READER_FEATURES, SETTINGS_FILE, Reader, ReaderSettings
from index.search import STAGES

QUESTION = "How much can a llama carry?"


class ScriptedReader:
    """Reads nothing: a span's logit is +8 when it holds ``wanted``, -8 otherwise."""

    def __init__(self, wanted: str, *, weight: float = 1.0, intercept: float = 0.0, read_below: float = 1.01) -> None:
        self.wanted = wanted
        # The answer's log-odds is the reader's logit for the span shown first.
        coefficients = tuple(1.0 if name == "reader_first" else 0.0 for name in READER_FEATURES)
        self.settings = ReaderSettings(
            read_top=READ_TOP,
            read_below=read_below,
            weight=weight,
            coefficients=coefficients,
            intercept=intercept,
            not_sure=0.6,
            not_found=0.3,
        )
        self.read: list[list[str]] = []

    def logits(self, question: str, spans: list[str]) -> np.ndarray:
        self.read.append(list(spans))
        return np.array([8.0 if self.wanted in s else -8.0 for s in spans], dtype=np.float32)


@pytest.fixture
def with_reader(monkeypatch, config, embedder):  # type: ignore[no-untyped-def]
    build_index(config, embedder)

    def engine(reader: ScriptedReader | None) -> Engine:
        monkeypatch.setattr(index.engine.Reader, "load", staticmethod(lambda folder: reader))
        return Engine.load(config, embedder)

    return engine


def test_the_span_the_reader_says_answers_is_shown_first(with_reader):
    plain = with_reader(None).ask(QUESTION, k=READ_TOP)
    assert len(plain.passages) >= 2
    # Make the reader prefer a span the ranker put second: it must come first.
    wanted = plain.passages[1].text
    reader = ScriptedReader(wanted, weight=100.0)
    answer = with_reader(reader).ask(QUESTION, k=READ_TOP)
    assert answer.passages[0].text == wanted
    assert reader.read and len(reader.read[0]) == READ_TOP
    # The reader reorders what the ranker found; it never brings in another span.
    assert {p.text for p in answer.passages} == {p.text for p in plain.passages}


def test_the_readers_judgement_decides_the_outcome(with_reader):
    sure = with_reader(ScriptedReader("25 kg")).ask(QUESTION)
    assert sure.outcome == "answered" and "25 kg" in sure.passages[0].text
    assert sure.confidence is not None and sure.confidence > 0.99
    # A reader that finds the answer in no span: not found, whatever the ranker thought.
    refused = with_reader(ScriptedReader("words no document holds")).ask(QUESTION)
    assert refused.outcome == "not_found" and refused.abstained
    # Half sure (log-odds 0 at the first span): not sure, passages still shown.
    unsure = with_reader(ScriptedReader("25 kg", intercept=-8.0)).ask(QUESTION)
    assert unsure.outcome == "not_sure" and unsure.passages


def test_the_reader_reads_only_where_the_ranker_is_not_sure(with_reader):
    # A gate no confidence reaches: the ranker's answer and judgement stand, the reader is not run.
    reader = ScriptedReader("words no document holds", read_below=0.0)
    answer = with_reader(reader).ask(QUESTION)
    assert not reader.read and answer.outcome != "not_found" and "25 kg" in answer.passages[0].text
    always = ScriptedReader("words no document holds", read_below=1.01)
    assert with_reader(always).ask(QUESTION).outcome == "not_found" and always.read


def test_the_reader_is_timed_as_its_own_stage(with_reader):
    stages: list[str] = []
    with_reader(ScriptedReader("25 kg")).ask(QUESTION, hook=lambda stage, seconds: stages.append(stage))
    assert stages == list(STAGES) and "read" in stages


def test_the_reader_can_be_switched_off(monkeypatch, config, embedder):
    build_index(config, embedder)
    reader = ScriptedReader("words no document holds")
    monkeypatch.setattr(index.engine.Reader, "load", staticmethod(lambda folder: reader))
    answer = Engine.load(dataclasses.replace(config, reader=False), embedder).ask(QUESTION)
    assert not reader.read and "25 kg" in answer.passages[0].text
    # Nor does it read for the dense or lexical retrievers, whose scores it was not fitted to.
    Engine.load(config, embedder).ask(QUESTION, retriever="lexical")
    assert not reader.read


def test_a_reader_fitted_to_other_features_is_not_used(tmp_path: Path):
    folder = tmp_path / "models"
    folder.mkdir()
    assert Reader.load(folder) is None  # no reader shipped: the ranker alone
    for name in ("reader.onnx", "reader-tokenizer.json"):
        (folder / name).write_bytes(b"")
    settings = {
        "read_top": READ_TOP,
        "reader_weight": 1.0,
        "answer_features": list(READER_FEATURES),
        "answer_coefficients": [0.0] * len(READER_FEATURES),
        "answer_intercept": 0.0,
        "thresholds": {"not_sure": 0.5, "not_found": 0.2},
    }
    (folder / SETTINGS_FILE).write_text(json.dumps(settings), encoding="utf-8")
    loaded = Reader.load(folder)
    assert loaded is not None and loaded.settings is not None and loaded.settings.not_sure == 0.5
    stale = {**settings, "answer_features": [*READER_FEATURES[:-1], "a_feature_this_code_does_not_compute"]}
    (folder / SETTINGS_FILE).write_text(json.dumps(stale), encoding="utf-8")
    assert Reader.load(folder) is None
