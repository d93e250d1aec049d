"""Answer quality with the real packaged model and the shipped learned models: a
paraphrased question still reaches the sentence that says it, a "how many" question the
article does not answer is not answered with an unrelated figure, and the seed questions."""

from __future__ import annotations

from pathlib import Path

import pytest

from index import Engine, EngineConfig, build_index, make_embedder
from index.evaluation import read_questions
from index.ranker import MODELS_DIR
from index.reader import Reader
from tests.conftest import SEED, shared_data

pytestmark = pytest.mark.slow

REPORT = (
    "# Budget committee\n\n"
    "The committee met on Tuesday to review the draft budget for the coming year. "
    "It postponed the final vote until the spring session. "
    "Several members said they had not been given the revenue forecasts in time to study them. "
    "The chair, Maria Lopez, expects the budget to pass with only minor changes.\n\n"
    "# Parks\n\n"
    "The parks department asked for two new maintenance vehicles. "
    "Its request will be considered together with the rest of the budget.\n"
)


@pytest.fixture(scope="module")
def real_embedder(model_cache):
    return make_embedder(backend="auto", cache_dir=model_cache)


@pytest.fixture(scope="module")
def seed_engine(tmp_path_factory, real_embedder) -> Engine:  # type: ignore[no-untyped-def]
    """The bundled article, indexed once for this module's questions about it."""
    tmp = tmp_path_factory.mktemp("seed")
    folder = tmp / "docs"
    folder.mkdir()
    (folder / SEED.name).write_bytes(SEED.read_bytes())
    return engine_on(folder, tmp, real_embedder)


def engine_on(folder: Path, tmp: Path, embedder) -> Engine:  # type: ignore[no-untyped-def]
    config = EngineConfig(documents_dir=folder, index_dir=tmp / "index")
    build_index(config, embedder)
    return Engine.load(config, embedder)


def test_a_paraphrased_question_is_answered_by_the_sentence_that_says_it(tmp_path, real_embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "minutes.md").write_text(REPORT, encoding="utf-8")
    engine = engine_on(folder, tmp_path, real_embedder)
    # No content word of the answer sentence is in the question.
    first = engine.search("Why did the committee put off the vote?", k=1)[0]
    assert "revenue forecasts" in first.text


def test_the_shipped_reader_tells_the_span_that_answers_from_one_only_about_it():
    reader = Reader.load(MODELS_DIR)
    if reader is None:
        pytest.fail("the reader is missing from index/models (run bench/train_reader.py)")
    logits = reader.logits(
        "How many people live in the valley?",
        [
            "The valley is known for its vineyards and for the river that runs through it.",
            "About 12,000 people live in the valley, most of them in its two towns.",
        ],
    )
    assert logits[1] > logits[0]


def test_a_number_question_the_article_answers_is_answered(seed_engine):
    answer = seed_engine.ask("How many engineers signed a letter backing Anthropic?")
    assert answer.outcome == "answered" and "Over 200 engineers" in answer.passages[0].text


@pytest.mark.xfail(
    strict=True,
    reason="not solved yet (answer-quality issue): the shipped reader lowers 'How many employees' "
    "to confidence 0.38 and 'How many people work' to not sure (0.25), but the first stays above "
    "the not-sure cut (0.30); a stronger reader (more layers, more training) is next",
)
def test_a_how_many_question_the_article_does_not_answer_is_not_answered(seed_engine):
    for question in ("How many employees does Anthropic have?", "How many people work at Anthropic?"):
        assert seed_engine.ask(question).outcome != "answered", question


@pytest.mark.xfail(
    strict=True,
    reason="not solved yet: 'worth' never meets '$200 million contract' in the ranking; the reader "
    "now says not sure (0.29) about the passage on cancelling the contract, but reads only that one",
)
def test_a_number_question_finds_the_figure_it_asks_for(seed_engine):
    engine = seed_engine
    answer = engine.ask("How much is the DoD contract worth?")
    assert answer.outcome == "answered" and "$200 million" in answer.passages[0].text


def test_seed_questions_first_passage_and_honest_refusals(seed_engine):
    """The acceptance of the answer-quality issue on the seed set: every answerable question's
    first passage holds its answer, and both unanswerable ones are not answered."""
    questions_file = shared_data("eval/seed_dev.jsonl")
    engine = seed_engine
    missed = []
    for q in read_questions(questions_file):
        if q.answerable:
            first = engine.search(q.question, k=1)[0]
            if not any(g in first.text for g in q.answers):
                missed.append((q.question, first.text))
        elif engine.ask(q.question).outcome == "answered":
            missed.append((q.question, "answered although the article does not say"))
    assert not missed
