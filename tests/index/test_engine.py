from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index import Engine, InvalidQuestionError, build_index
from index.types import Passage


@pytest.fixture
def engine(config, embedder) -> Engine:
    build_index(config, embedder)
    return Engine.load(config, embedder)


def assert_verbatim(passage: Passage, docs: Path) -> None:
    source = (docs / passage.document).read_bytes().decode("utf-8")
    assert source[passage.start : passage.end] == passage.text
    assert passage.line_start == source.count("\n", 0, passage.start) + 1
    assert passage.line_end == source.count("\n", 0, passage.end - 1) + 1


def test_answer_quotes_the_document_verbatim_with_a_citation(engine, docs_dir):
    answer = engine.ask("How much can a llama carry?")
    assert not answer.abstained
    top = answer.passages[0]
    assert top.text == "A llama can carry 25 kg over 20 km."
    assert top.document == "guide.md" and top.section == ("Guide", "Llamas")
    assert top.citation == "guide.md › Guide › Llamas, line 11"
    assert answer.index_built_at == engine.built_at
    for passage in answer.passages:
        assert_verbatim(passage, docs_dir)


def test_passages_are_distinct_even_where_chunks_overlap(engine):
    passages = engine.search("Anthropic Department of Defense guardrails", k=10)
    assert len(passages) > 3
    spans = [(p.document, p.start, p.end) for p in passages]
    for i, (doc, a, b) in enumerate(spans):
        for doc2, c, d in spans[i + 1 :]:
            assert doc != doc2 or b <= c or d <= a, "two passages share text"


def test_unrelated_question_abstains_with_nearest_sections(engine):
    answer = engine.ask("zebra quantum volcano recipe")
    assert answer.abstained and answer.passages == ()
    assert all(s.document in {"seed.txt", "guide.md"} for s in answer.suggestions)


@pytest.mark.parametrize("retriever", ["dense", "lexical", "hybrid"])
def test_every_retriever_finds_the_llama_passage(engine, retriever):
    answer = engine.ask("llama carry kg", retriever=retriever)
    assert answer.retriever == retriever
    assert any("25 kg" in p.text for p in answer.passages)


@pytest.mark.parametrize("question", ["", "   \n\t ", "\x00\x01", "\u202e\u200b"])
def test_empty_questions_are_refused_clearly(engine, question):
    with pytest.raises(InvalidQuestionError, match="empty"):
        engine.ask(question)


def test_too_long_question_is_refused_clearly(engine):
    with pytest.raises(InvalidQuestionError, match="too long"):
        engine.ask("why " * 5000)


def test_k_limits_the_number_of_passages(engine):
    assert len(engine.ask("Anthropic", k=1).passages) == 1
    assert len(engine.search("Anthropic", k=5)) == 5


def test_documents_and_sections_are_listed(engine):
    listed = {d.path: d for d in engine.documents()}
    assert set(listed) == {"guide.md", "seed.txt"}
    assert listed["guide.md"].sections == (("Guide",), ("Guide", "Installing"), ("Guide", "Llamas"))
    assert listed["seed.txt"].chunks > 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=st.text(min_size=1, max_size=120))
def test_any_question_gets_verbatim_quotes_or_a_clear_refusal(engine, docs_dir, question):
    try:
        answer = engine.ask(question, k=5)
    except InvalidQuestionError:
        return
    for passage in answer.passages:
        assert_verbatim(passage, docs_dir)
