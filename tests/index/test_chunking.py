from hypothesis import given, settings
from hypothesis import strategies as st

from index.ingest import ChunkingParams, chunk_document, parse_document

WORDS = st.sampled_from(
    ["the", "U.S.", "Dr.", "llama", "$3.5", "billion", "e.g.", "café", "naïve", "😀", "data", "“quoted”", "x"]
)
SENTENCE = st.lists(WORDS, min_size=1, max_size=30).map(lambda ws: " ".join(ws) + ".")


@st.composite
def markdown_documents(draw):
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            level = draw(st.integers(1, 3))
            parts.append("#" * level + " " + draw(st.sampled_from(["Intro", "Setup", "Llamas", "Q&A"])))
        paragraph = " ".join(draw(st.lists(SENTENCE, min_size=1, max_size=8)))
        if draw(st.booleans()):  # hard-wrap some paragraphs
            paragraph = paragraph.replace(" the ", newline + "the ")
        parts.append(paragraph)
        if draw(st.booleans()):
            parts.append(newline.join(f"- item {i} with text." for i in range(draw(st.integers(1, 3)))))
    return (newline + newline).join(parts) + newline


@settings(max_examples=150, deadline=None)
@given(markdown_documents(), st.integers(60, 600), st.integers(0, 2))
def test_every_chunk_is_an_exact_slice_with_the_right_lines(source, max_chars, overlap):
    document = parse_document("doc.md", source.encode("utf-8"))
    assert document.text == source  # no newline translation: offsets point into the file
    chunks = chunk_document(document, ChunkingParams(max_chars=max_chars, overlap=overlap))
    for chunk in chunks:
        assert chunk.text == source[chunk.start : chunk.end]
        assert chunk.line_start == source.count("\n", 0, chunk.start) + 1
        assert chunk.line_end == source.count("\n", 0, chunk.end - 1) + 1
        assert len(chunk.text) <= max_chars
        for a, b in chunk.sentences:
            assert chunk.start <= a < b <= chunk.end
        # a chunk never crosses a heading
        headings = [h.start for h in document.headings]
        assert not any(chunk.start < h < chunk.end for h in headings)


def test_every_sentence_of_the_body_is_in_some_chunk():
    source = "# A\n\n" + " ".join(f"Sentence number {i} is here." for i in range(40)) + "\n\n## B\n\nTail."
    document = parse_document("doc.md", source.encode())
    chunks = chunk_document(document, ChunkingParams(max_chars=200, overlap=1))
    covered = set()
    for chunk in chunks:
        covered.update(chunk.sentences)
    for i in range(40):
        start = source.index(f"Sentence number {i} ")
        assert any(a == start for a, _ in covered)
    assert chunks[-1].section == ("A", "B") and chunks[-1].text == "Tail."
    assert chunks[0].section == ("A",)


def test_overlap_repeats_the_last_sentence_of_the_previous_chunk():
    source = " ".join(f"Sentence {i} is a short one." for i in range(30))
    chunks = chunk_document(parse_document("a.txt", source.encode()), ChunkingParams(max_chars=120, overlap=1))
    for previous, following in zip(chunks, chunks[1:]):
        assert previous.sentences[-1] == following.sentences[0]


def test_one_huge_line_is_cut_into_bounded_chunks():
    source = ("word " * 250_000).strip()  # 1.25 MB, no sentence end
    chunks = chunk_document(parse_document("big.txt", source.encode()), ChunkingParams(max_chars=800, overlap=0))
    assert max(len(c.text) for c in chunks) <= 800
    assert all(c.text == source[c.start : c.end] for c in chunks)
    assert sum(len(c.text) for c in chunks) >= len(source) * 0.99
