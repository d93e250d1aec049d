import dataclasses
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index import DocumentNotFoundError, Engine, InvalidQuestionError, build_index
from index.types import RETRIEVERS, Passage
from tests.conftest import on_vector_store


@pytest.fixture
def config(config, vector_store, tmp_path):
    """The engine tests run on each vector store (tests/conftest.py, VECTOR_STORES)."""
    return on_vector_store(config, vector_store, tmp_path)


# Sentences as people type them: hard-wrapped, with double spaces and tabs inside.
SHEARING = (
    "# Shearing\n\n"
    "Alpacas are shorn once a year,\nusually in late spring before the heat.  Their  fleece is\tsorted by colour "
    "and fineness.\nA\tshorn alpaca looks  much smaller\n    than it did the day before.\n"
)


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
    assert "A llama can carry 25 kg over 20 km." in top.text
    assert top.document == "guide.md" and top.section == ("Guide", "Llamas")
    assert top.citation == "guide.md › Guide › Llamas, line 11"
    assert answer.index_built_at == engine.built_at
    for passage in answer.passages:
        assert_verbatim(passage, docs_dir)


@pytest.mark.parametrize("retriever", RETRIEVERS)
def test_quotes_keep_hard_wraps_double_spaces_and_tabs(config, embedder, docs_dir, retriever):
    (docs_dir / "shearing.md").write_text(SHEARING, encoding="utf-8")
    build_index(config, embedder)
    engine = Engine.load(config, embedder)
    quoted = []
    for question in (
        "When are alpacas shorn, usually in late spring?",
        "How is their fleece sorted, by colour and fineness?",
        "How much smaller does a shorn alpaca look than the day before?",
    ):
        answer = engine.ask(question, retriever=retriever)
        assert not answer.abstained, question
        top = answer.passages[0]
        assert top.document == "shearing.md", (question, top.text)
        assert_verbatim(top, docs_dir)
        quoted.append(top)
    # Between them the quotes hold every kind of whitespace the sentences have, and a
    # hard-wrapped quote is cited over the lines it spans.
    text = "".join(p.text for p in quoted)
    assert "\n" in text and "  " in text and "\t" in text
    assert any(p.line_end > p.line_start for p in quoted)


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


def test_the_relevance_floor_refuses_on_its_own_whatever_the_learned_confidence(config, embedder):
    """Below VERBATIM_THRESHOLD nothing is quoted, even when the learned model would be sure:
    the floor is what keeps plainly off-topic questions out."""
    build_index(config, embedder)
    trusting = Engine.load(dataclasses.replace(config, not_sure_threshold=0.0, not_found_threshold=0.0), embedder)
    answer = trusting.ask("zebra quantum volcano recipe")
    assert answer.outcome == "not_found" and answer.passages == ()
    assert trusting.ask("How much can a llama carry?").outcome == "answered"  # the floor alone refuses nothing on-topic


def test_not_found_is_decided_on_the_most_relevant_passage_not_the_first(config, embedder):
    """The learned ranker may put first a passage found by its words, less related than one
    after it: the relevance floor is judged on the most relevant passage quoted."""
    build_index(config, embedder)
    questions = (
        "What could happen to the company's military contracts?",
        "Which company does Sam Altman lead?",
        "Where had Anthropic already integrated its models?",
        "What did the Department of Defense demand from Anthropic?",
    )
    relevances = {q: [p.relevance for p in Engine.load(config, embedder).judge(q, k=3).passages] for q in questions}
    led = {q: r for q, r in relevances.items() if r and r[0] < max(r)}
    assert led, "no question here has a less relevant passage first"
    for question, found in led.items():
        floor = (found[0] + max(found)) / 2  # above the first passage, below the best one
        trusting = Engine.load(
            replace(config, threshold=floor, not_sure_threshold=0.0, not_found_threshold=0.0), embedder
        )
        answer = trusting.ask(question, k=3)
        assert answer.outcome == "answered" and answer.passages, question


def test_lexical_retrieval_refuses_a_question_the_documents_barely_touch(engine):
    # One word the documents use ("llamas") among words they never do.
    question = "Which llamas won the chess olympiad in Reykjavik?"
    found = engine.search(question, retriever="lexical", k=3)
    assert found and any("llama" in p.text.lower() for p in found)  # BM25 finds the word...
    answer = engine.ask(question, retriever="lexical")
    assert answer.abstained and answer.passages == ()  # ...but no quote answers the question
    assert any(s.document == "guide.md" for s in answer.suggestions)
    assert not engine.ask("How much can a llama carry?", retriever="lexical").abstained


def test_lexical_retrieval_is_judged_by_its_own_threshold(config, embedder):
    """Lexical retrieval has no cosine similarity: ``lexical_threshold`` alone decides whether it
    answers, and ``threshold`` alone decides for dense and hybrid retrieval."""
    build_index(config, embedder)
    question = "How much can a llama carry?"
    strict_dense = Engine.load(replace(config, threshold=1.01), embedder)  # no cosine reaches it
    assert strict_dense.ask(question, retriever="dense").abstained
    assert strict_dense.ask(question, retriever="hybrid").abstained
    assert not strict_dense.ask(question, retriever="lexical").abstained
    strict_lexical = Engine.load(replace(config, lexical_threshold=1.01), embedder)  # no coverage reaches it
    assert strict_lexical.ask(question, retriever="lexical").abstained
    assert not strict_lexical.ask(question, retriever="dense").abstained
    assert not strict_lexical.ask(question, retriever="hybrid").abstained


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


def test_a_sections_opening_is_its_first_sentences_verbatim(engine: Engine, docs_dir) -> None:
    opening = engine.section_opening("guide.md", ("Guide", "Llamas"))
    text = (docs_dir / "guide.md").read_text("utf-8")
    assert (
        opening.text
        == text[opening.start : opening.end]
        == "Llamas eat grass and hay. A llama can carry 25 kg over 20 km."
    )
    assert opening.citation == "guide.md › Guide › Llamas, line 11"
    with pytest.raises(DocumentNotFoundError):
        engine.section_opening("guide.md", ("Guide", "Alpacas"))
