import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index import Engine, InvalidQuestionError, build_index
from tests.conftest import on_vector_store
from tests.hostile import HOSTILE_QUESTIONS


@pytest.fixture
def config(config, vector_store, tmp_path):
    """The engine tests run on each vector store (tests/conftest.py, VECTOR_STORES)."""
    return on_vector_store(config, vector_store, tmp_path)


@pytest.fixture
def engine(config, embedder):
    build_index(config, embedder)
    return Engine.load(config, embedder)


def check_answer_or_refusal(engine, docs_dir, question):
    try:
        answer = engine.ask(question)
    except InvalidQuestionError as exc:
        message = str(exc)
        assert message and len(message) < 200 and "Traceback" not in message
        return None
    for passage in answer.passages:
        source = (docs_dir / passage.document).read_bytes().decode("utf-8")
        assert source[passage.start : passage.end] == passage.text
    return answer


@pytest.mark.parametrize("name", sorted(HOSTILE_QUESTIONS))
def test_hostile_question_gets_verbatim_quotes_or_a_short_message(engine, docs_dir, name):
    check_answer_or_refusal(engine, docs_dir, HOSTILE_QUESTIONS[name])
    # and the engine keeps serving
    assert engine.ask("How much can a llama carry?").passages


def test_empty_and_huge_are_refused_while_mentions_are_just_text(engine, docs_dir):
    assert check_answer_or_refusal(engine, docs_dir, HOSTILE_QUESTIONS["empty"]) is None
    assert check_answer_or_refusal(engine, docs_dir, HOSTILE_QUESTIONS["huge"]) is None
    answer = check_answer_or_refusal(engine, docs_dir, HOSTILE_QUESTIONS["mentions"])
    assert answer is not None and "@everyone" in answer.question


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=st.text(max_size=3000))
def test_arbitrary_text_never_breaks_search(engine, docs_dir, question):
    try:
        passages = engine.search(question, k=5)
    except InvalidQuestionError:
        return
    for passage in passages:
        source = (docs_dir / passage.document).read_bytes().decode("utf-8")
        assert source[passage.start : passage.end] == passage.text
