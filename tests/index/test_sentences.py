from hypothesis import given, settings
from hypothesis import strategies as st

from index.ingest import split_sentences
from tests.conftest import SEED


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def test_seed_opening_sentence_is_one_sentence():
    text = SEED.read_text(encoding="utf-8")
    first = sentences(text)[0]
    assert first.startswith("Anthropic refused the U.S. Department of Defense’s demand")
    assert first.endswith("fully autonomous weapons.")


def test_abbreviations_money_decimals_quotes_and_ellipses_do_not_split():
    text = 'Dr. Smith paid $3.5 billion, e.g. for the U.S. Army. He said "Stop." Then... it ended! Really? Yes.'
    assert sentences(text) == [
        "Dr. Smith paid $3.5 billion, e.g. for the U.S. Army.",
        'He said "Stop."',
        "Then... it ended!",
        "Really?",
        "Yes.",
    ]


def test_list_items_headings_and_table_rows_are_their_own_sentences():
    text = "# Setup\nSteps follow.\n1. Install it\n2. Run it\n- a bullet\n| a | b. C |\n\nLast one."
    assert sentences(text) == [
        "# Setup",
        "Steps follow.",
        "1. Install it",
        "2. Run it",
        "- a bullet",
        "| a | b. C |",
        "Last one.",
    ]


def test_hard_wrapped_paragraph_stays_one_sentence_and_blank_line_ends_one():
    text = "This sentence is wrapped\nover two lines without a stop\n\nA new paragraph."
    assert sentences(text) == ["This sentence is wrapped\nover two lines without a stop", "A new paragraph."]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400))
def test_spans_are_ordered_trimmed_and_lose_no_text(text):
    spans = split_sentences(text)
    previous = 0
    for a, b in spans:
        assert previous <= a < b <= len(text)
        assert not text[a].isspace() and not text[b - 1].isspace()
        assert text[previous:a].strip() == ""  # only whitespace between sentences
        previous = b
    assert text[previous:].strip() == ""


@given(st.text(max_size=200))
def test_any_string_including_lone_surrogates_is_split_without_error(text):
    for a, b in split_sentences(text):
        assert 0 <= a < b <= len(text)
