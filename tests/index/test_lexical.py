"""BM25 over postings: bm25s's scores, and a reindex's update that scores what a fresh build would."""

from __future__ import annotations

import json
import random

import bm25s
import numpy as np
import pytest

from index.lexical import Bm25sIndex, LexicalIndex

WORDS = [f"w{i}" for i in range(120)]


def _corpus(rng: random.Random, count: int, words: list[str] = WORDS) -> list[list[str]]:
    # Skewed word choice (common and rare terms), some chunks without a token, some alike.
    chunks = [
        [rng.choice(words[: rng.randint(3, len(words))]) for _ in range(rng.randint(0, 25))] for _ in range(count)
    ]
    return chunks + [list(chunks[1]) for _ in range(5)]


def _queries(rng: random.Random, words: list[str]) -> list[list[str]]:
    # Unknown words and a word asked twice too.
    return [[rng.choice([*words, "unknown"]) for _ in range(rng.randint(1, 5))] for _ in range(150)] + [["w1", "w1"]]


def test_scores_are_those_of_bm25s():
    rng = random.Random(1)
    tokens = _corpus(rng, 400)
    ours = LexicalIndex.from_tokens(tokens)
    reference = bm25s.BM25()
    reference.index(tokens, show_progress=False)
    for query in _queries(rng, WORDS):
        known = [t for t in query if t in reference.vocab_dict]
        expected = reference.get_scores(known) if known else np.zeros(len(tokens))
        np.testing.assert_allclose(ours.scores(query), expected, rtol=1e-5, atol=1e-6)


def _rebuilt(tokens, previous_rows, new_tokens):
    fresh = iter(new_tokens)
    return [tokens[r] if r >= 0 else next(fresh) for r in previous_rows]


def test_an_update_scores_what_a_fresh_build_of_the_new_chunks_scores():
    rng = random.Random(2)
    # Chunks 40-59 go (a changed page), the rest move, new ones come in the middle and at the
    # end; "w119", held by a removed chunk only, goes with it, and "brandnew" appears.
    tokens = [[t for t in chunk if t != "w119"] for chunk in _corpus(rng, 300)]
    tokens[45].append("w119")
    old = LexicalIndex.from_tokens(tokens)
    kept = [r for r in range(len(tokens)) if not 40 <= r < 60]
    previous_rows = np.array(kept[:100] + [-1] * 12 + kept[100:] + [-1] * 3)
    new_tokens = [[rng.choice([*WORDS[:20], "brandnew"]) for _ in range(rng.randint(0, 15))] for _ in range(15)]
    updated = old.updated(previous_rows, new_tokens)
    fresh = LexicalIndex.from_tokens(_rebuilt(tokens, previous_rows, new_tokens))
    assert len(updated) == len(fresh) == len(previous_rows)
    assert old.knows("w119") and not updated.knows("w119") and updated.knows("brandnew")
    assert updated.terms() == fresh.terms()
    for query in _queries(rng, [*WORDS, "brandnew"]):
        assert updated.idf(query[0]) == fresh.idf(query[0])
        np.testing.assert_array_equal(updated.scores(query), fresh.scores(query))
        # The same rows at the cut too, where scores tie: ties go to the lower row.
        for k in (1, 3, 10):
            rows, scores = updated.search(query, k)
            expected_rows, expected_scores = fresh.search(query, k)
            assert rows.tolist() == expected_rows.tolist()
            np.testing.assert_array_equal(scores, expected_scores)


def test_an_update_refuses_new_rows_without_their_tokens():
    index = LexicalIndex.from_tokens([["a"], ["b"]])
    with pytest.raises(ValueError, match="2 new rows but tokens for 1"):
        index.updated(np.array([0, -1, -1]), [["c"]])


def test_a_saved_index_loads_mapped_and_scores_the_same(tmp_path):
    rng = random.Random(3)
    index = LexicalIndex.from_tokens(_corpus(rng, 200))
    index.save(tmp_path / "lexical")
    loaded = LexicalIndex.load(tmp_path / "lexical")
    assert isinstance(loaded, LexicalIndex) and len(loaded) == len(index)
    for query in _queries(rng, WORDS):
        assert loaded.search(query, 5)[0].tolist() == index.search(query, 5)[0].tolist()
        np.testing.assert_array_equal(loaded.scores(query), index.scores(query))


def test_postings_that_do_not_match_their_terms_are_refused(tmp_path):
    LexicalIndex.from_tokens([["a", "b"], ["b"]]).save(tmp_path / "lexical")
    saved = json.loads((tmp_path / "lexical" / "terms.json").read_text(encoding="utf-8"))
    saved["terms"].append("extra")
    (tmp_path / "lexical" / "terms.json").write_text(json.dumps(saved), encoding="utf-8")
    with pytest.raises(ValueError, match="do not match their terms"):
        LexicalIndex.load(tmp_path / "lexical")


def test_a_bm25s_index_of_an_older_build_still_answers(tmp_path):
    rng = random.Random(4)
    tokens = _corpus(rng, 100)
    folder = tmp_path / "lexical"
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    retriever.save(str(folder / "bm25"))
    df: dict[str, int] = {}
    for chunk in tokens:
        for token in set(chunk):
            df[token] = df.get(token, 0) + 1
    (folder / "document_frequency.json").write_text(json.dumps({"size": len(tokens), "df": df}), encoding="utf-8")
    legacy = LexicalIndex.load(folder)
    assert isinstance(legacy, Bm25sIndex)
    current = LexicalIndex.from_tokens(tokens)
    for query in _queries(rng, WORDS):
        np.testing.assert_allclose(legacy.scores(query), current.scores(query), rtol=1e-5, atol=1e-6)
        assert legacy.idf(query[0]) == pytest.approx(current.idf(query[0]))
    assert legacy.terms() == current.terms()


def test_equal_scores_at_the_cut_go_to_the_lower_rows_whatever_the_posting_order():
    # The new chunk (row 0) joins the end of the term's postings: rows 1, 2, 3, 0.
    index = LexicalIndex.from_tokens([["a"], ["a"], ["a"]]).updated(np.array([-1, 0, 1, 2]), [["a"]])
    rows, scores = index.search(["a"], 2)
    assert rows.tolist() == [0, 1] and scores[0] == scores[1]
