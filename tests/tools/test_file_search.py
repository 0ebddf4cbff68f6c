"""file_search engine: parsers, chunking, embeddings and hybrid search, on the real model.

Fixtures in ``tests/tools/data`` were written by hand, except ``report.pdf``
(made once with fpdf2) and ``memo.docx`` (made once with python-docx).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from nbext.errors import APIError
from nbext.tools.file_search import (
    StaticChunking,
    VectorIndex,
    chunk_text,
    count_tokens,
    embed,
    embed_passages,
    get_encoder,
    parse_chunking_strategy,
    parse_file,
)

DATA = Path(__file__).parent / "data"


def parse(name: str) -> str:
    return parse_file(name, (DATA / name).read_bytes())


# -- parsers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("handbook.md", "27 days of paid vacation"),
        ("notes.txt", "count down from ten"),
        ("module.py", "def escape_velocity"),
        ("mission.json", '"Artemis"'),
        ("page.html", "Hard hats are mandatory on the launch pad."),
        ("report.pdf", "The engine test on pad 39A passed with no anomalies."),
        ("memo.docx", "Training in the centrifuge starts on Monday at 08:00."),
    ],
)
def test_each_parser_extracts_text(name: str, expected: str) -> None:
    assert expected in parse(name)


def test_html_drops_scripts_and_styles_and_decodes_entities() -> None:
    text = parse("page.html")
    assert "do not index me" not in text
    assert "color: red" not in text
    assert "within 500 metres" in text


def test_pdf_keeps_every_page_and_docx_keeps_tables() -> None:
    assert "next static fire is scheduled for May" in parse("report.pdf")
    assert "Mission specialist" in parse("memo.docx")


def test_unsupported_extension_is_a_400_naming_supported_types() -> None:
    with pytest.raises(APIError) as info:
        parse_file("diagram.png", b"\x89PNG")
    err = info.value
    assert err.status == 400
    assert err.code == "unsupported_file"
    assert ".png" in err.message
    for ext in (".txt", ".md", ".py", ".json", ".html", ".pdf", ".docx"):
        assert ext in err.message


def test_corrupt_pdf_is_invalid_file() -> None:
    with pytest.raises(APIError) as info:
        parse_file("broken.pdf", b"%PDF-1.4 this is not really a pdf")
    assert info.value.status == 400
    assert info.value.code == "invalid_file"


# -- chunking --------------------------------------------------------------------------

LONG_TEXT = " ".join(f"Sentence {i} talks about rockets, fuel and orbits." for i in range(400))


def test_auto_strategy_is_800_tokens_with_400_overlap() -> None:
    strategy = parse_chunking_strategy({"type": "auto"})
    assert strategy == parse_chunking_strategy(None) == StaticChunking(800, 400)
    assert strategy.to_wire() == {
        "type": "static",
        "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
    }
    chunks = chunk_text(LONG_TEXT, strategy)
    assert all(c.token_count <= 800 for c in chunks)
    assert all(c.token_count == 800 for c in chunks[:-1])
    assert [c.start_token for c in chunks[:3]] == [0, 400, 800]


def test_static_chunks_respect_size_and_overlap_and_quote_the_original() -> None:
    chunks = chunk_text(
        LONG_TEXT,
        parse_chunking_strategy(
            {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 30}}
        ),
    )
    assert len(chunks) > 10
    for c in chunks:
        assert c.token_count <= 100
        assert count_tokens(c.text) == c.token_count
        assert c.text == LONG_TEXT[c.start_char : c.end_char]
    for a, b in itertools.pairwise(chunks):
        assert b.start_token - a.start_token == 70
        assert b.start_char < a.end_char  # the 30 overlapping tokens are in both
    assert chunks[-1].end_char == len(LONG_TEXT.rstrip())


def test_short_and_empty_texts() -> None:
    assert [c.text for c in chunk_text("Hello  world")] == ["Hello  world"]
    assert chunk_text("   \n ") == []


@pytest.mark.parametrize(
    ("strategy", "fragment"),
    [
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 99, "chunk_overlap_tokens": 0}},
            "between 100 and 4096",
        ),
        (
            {
                "type": "static",
                "static": {"max_chunk_size_tokens": 4097, "chunk_overlap_tokens": 0},
            },
            "between 100 and 4096",
        ),
        (
            {
                "type": "static",
                "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 101},
            },
            "must not exceed half",
        ),
        (
            {
                "type": "static",
                "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": -1},
            },
            "non-negative",
        ),
        (
            {
                "type": "static",
                "static": {"max_chunk_size_tokens": "800", "chunk_overlap_tokens": 0},
            },
            "must be an integer",
        ),
        ({"type": "static", "static": {"max_chunk_size_tokens": 800}}, "chunk_overlap_tokens"),
        ({"type": "static"}, "'chunking_strategy.static' is required"),
        ({"type": "semantic"}, "'auto' and 'static'"),
        ({"type": "auto", "static": {}}, "Unknown parameter: 'chunking_strategy.static'"),
        (
            {
                "type": "static",
                "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 0, "x": 1},
            },
            "Unknown parameter: 'chunking_strategy.static.x'",
        ),
    ],
)
def test_invalid_chunking_strategy_is_a_400(strategy: dict, fragment: str) -> None:
    with pytest.raises(APIError) as info:
        parse_chunking_strategy(strategy)
    assert info.value.status == 400
    assert info.value.param == "chunking_strategy"
    assert fragment in info.value.message


# -- embeddings ------------------------------------------------------------------------


def test_embeddings_are_unit_norm_and_meaningful() -> None:
    v = embed(
        [
            "How many days of holiday do employees get?",
            "Staff receive 27 days of paid vacation every year.",
            "The rocket engine burns liquid oxygen and kerosene.",
        ]
    )
    assert v.shape == (3, 384)
    assert v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3


def test_passage_embedding_equals_plain_embedding_for_short_texts() -> None:
    texts = ["A short passage.", "Another one about orbits."]
    np.testing.assert_allclose(embed_passages(texts), embed(texts), atol=1e-6)
    long_vector = embed_passages([LONG_TEXT])
    np.testing.assert_allclose(np.linalg.norm(long_vector), 1.0, atol=1e-5)


REFERENCE = Path(__file__).with_name("data") / "minilm_reference.npz"


def test_numpy_encoder_matches_sentence_transformers() -> None:
    """Our numpy MiniLM against sentence-transformers' own vectors of the same texts,
    computed once with torch (``make_minilm_reference.py``; nbext installs no torch).
    Measured: at most 2.5e-7 apart; a wrong pooling, truncation or normalisation is
    off by far more than the 1e-5 allowed."""
    reference = np.load(REFERENCE)
    texts = [str(text) for text in reference["texts"]]
    assert len(texts) == 26 and any(len(text) > 1000 for text in texts) and "" in texts
    ours = get_encoder().encode(texts)
    assert np.abs(ours - reference["embeddings"]).max() < 1e-5
    assert (ours * reference["embeddings"]).sum(axis=1).min() > 0.99999


# -- index -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index() -> VectorIndex:
    idx = VectorIndex()
    small = StaticChunking(100, 50)
    for file_id, name in [
        ("file-hb", "handbook.md"),
        ("file-html", "page.html"),
        ("file-pdf", "report.pdf"),
        ("file-py", "module.py"),
    ]:
        idx.add_file(file_id, name, parse(name), small)
    idx.add_file("file-long", "long.txt", LONG_TEXT, small)
    return idx


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How much paid holiday do I get?", "27 days of paid vacation"),
        ("Can I bring my dog to work?", "Dogs are welcome in the office on Wednesdays"),
        ("what helmet rules apply at the launch site", "Hard hats are mandatory"),
        ("function computing escape velocity", "def escape_velocity"),
    ],
)
def test_hybrid_search_finds_the_right_chunk(
    index: VectorIndex, question: str, expected: str
) -> None:
    results = index.search(question, max_num_results=3)
    assert expected in results[0].chunk_text
    assert all(0 < r.score <= 1 for r in results)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)


def test_keyword_and_semantic_modes(index: VectorIndex) -> None:
    assert "39A" in index.search("pad 39A", max_num_results=1, mode="keyword")[0].chunk_text
    top = index.search("reimbursement of meals", max_num_results=1, mode="semantic")[0]
    assert top.file_id == "file-hb" and "40 euros" in top.chunk_text
    assert index.search("zzzqqq", mode="keyword") == []


def test_max_num_results_and_score_threshold(index: VectorIndex) -> None:
    assert len(index.search("rockets", max_num_results=1)) == 1
    assert len(index.search("rockets", max_num_results=7)) == 7
    everything = index.search("vacation", max_num_results=50)
    threshold = everything[2].score
    kept = index.search("vacation", max_num_results=50, score_threshold=threshold)
    assert kept and all(r.score >= threshold for r in kept)
    assert len(kept) < len(everything)
    assert index.search("vacation", score_threshold=1.0) == []
    for bad in ({"max_num_results": 0}, {"max_num_results": 51}, {"score_threshold": 1.5}):
        with pytest.raises(APIError) as info:
            index.search("vacation", **bad)  # type: ignore[arg-type]
        assert info.value.status == 400


def test_wire_shapes(index: VectorIndex) -> None:
    hit = index.search("launch pad", max_num_results=1)[0]
    wire = hit.to_vector_store_search_response()
    assert wire.file_id == hit.file_id and wire.content[0].text == hit.chunk_text
    step = hit.to_file_search_result(include_content=False)
    assert step.file_name == hit.filename and step.content is None


def test_remove_replace_and_persist(index: VectorIndex, tmp_path: Path) -> None:
    copy = VectorIndex.from_records(index.to_records())
    assert len(copy) == len(index)
    query = "dogs in the office"
    assert copy.search(query, max_num_results=3) == index.search(query, max_num_results=3)

    copy.save(tmp_path / "vs_1")
    loaded = VectorIndex.load(tmp_path / "vs_1")
    assert loaded.search(query, max_num_results=3) == index.search(query, max_num_results=3)

    removed = loaded.remove_file("file-hb")
    assert removed > 0 and "file-hb" not in loaded.file_ids
    assert all(r.file_id != "file-hb" for r in loaded.search(query, max_num_results=50))
    loaded.add_file("file-html", "page.html", "Only one sentence now.")  # replaces
    assert sum(r.file_id == "file-html" for r in loaded.to_records()) == 1
