"""Retrieval above 100 passages (the candidate path) and on the approximate (HNSW) index, and
the answering API's source lookup: a corpus of 180 passages embedded by a small model-free
encoder (tests/fakes.py), so these run in a second."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.answering.abstention import AbstentionModel
from index.answering.answerer import Answerer
from index.answering.retrieval import HybridRetriever, RetrievalParams, top_indices
from index.ingest.documents import load_corpus
from index.store.lifecycle import build_from_documents
from index.store.version_folder import IndexVersion
from index.store.versions import VersionStore
from index.text import general_idf, jieba_analyse, tokenize
from tests.fakes import CharBigramEncoder

CITIES = [
    "呼和浩特",
    "包头",
    "鄂尔多斯",
    "赤峰",
    "通辽",
    "乌海",
    "呼伦贝尔",
    "巴彦淖尔",
    "乌兰察布",
]
TOPICS = ["法律援助", "技能竞赛", "货车司机之家", "职工书屋", "困难帮扶", "工匠学院", "文艺演出"]
PASSAGES = 180


def _paragraphs() -> list[str]:
    paragraphs = []
    for n in range(PASSAGES):
        city, topic = CITIES[n % len(CITIES)], TOPICS[(n // len(CITIES)) % len(TOPICS)]
        paragraphs.append(
            f"{city}市第{n + 1}号工会在{topic}方面开展活动{n * 7 + 3}次，惠及职工{n * 13 + 5}人。"
        )
    return paragraphs


@pytest.fixture(scope="module")
def version(tmp_path_factory: pytest.TempPathFactory) -> IndexVersion:
    root = tmp_path_factory.mktemp("retrieval")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "report.txt").write_text("各地工会\n\n" + "\n\n".join(_paragraphs()) + "\n", "utf-8")
    store = VersionStore(root / "index")
    encoder = CharBigramEncoder()
    version_id = build_from_documents(
        store,
        load_corpus(corpus),
        encoder,
        max_chars=60,  # one paragraph, one passage
        approximate_above=50,  # HNSW above 50 vectors
        progress=False,
    )
    return store.load(version_id, encoder)


def _retriever(version: IndexVersion, candidates: int) -> HybridRetriever:
    return HybridRetriever(version, CharBigramEncoder(), RetrievalParams(candidates=candidates))


def test_the_index_is_approximate_and_holds_every_passage(version: IndexVersion) -> None:
    assert type(version.dense).__name__ == "IndexHNSWFlat"
    assert len(version.chunks) == PASSAGES


def test_above_the_candidate_limit_each_passage_is_found_by_its_own_words(
    version: IndexVersion,
) -> None:
    retriever = _retriever(version, candidates=20)
    for chunk in version.chunks[::7]:
        found = retriever.retrieve(chunk.text, k=3)
        assert found.passages[0].chunk.chunk_id == chunk.chunk_id, chunk.text


def test_the_candidate_path_ranks_like_scoring_every_passage(version: IndexVersion) -> None:
    limited, everything = _retriever(version, candidates=20), _retriever(version, candidates=10_000)
    questions = ["包头市工会的法律援助", "鄂尔多斯工匠学院活动多少次", "职工书屋惠及职工"]
    for question in questions:
        fast = [p.chunk.chunk_id for p in limited.retrieve(question, k=3).passages]
        full = [p.chunk.chunk_id for p in everything.retrieve(question, k=3).passages]
        assert fast == full, question


def test_each_candidates_best_unit_is_the_best_of_its_own_units(version: IndexVersion) -> None:
    retriever = _retriever(version, candidates=20)
    query = CharBigramEncoder().encode_queries(["包头市工会的法律援助活动"])[0]
    candidates = np.array([0, 3, 4, 17, 90, PASSAGES - 1])
    best = retriever._best_sentence(query, candidates)
    owner = version.sentence_owner
    for got, row in zip(best, candidates, strict=True):
        own = version.sentence_vectors[owner == row] @ query
        assert got == pytest.approx(float(own.max()), abs=1e-6)


def test_word_sets_are_cut_on_demand_and_match_the_texts(version: IndexVersion) -> None:
    retriever = _retriever(version, candidates=20)
    row = 42
    chunk = version.chunks[row]
    assert retriever.chunk_words(row) == frozenset(tokenize(chunk.search_text))
    first_unit = int(retriever.sentence_start[row])
    assert retriever.sentence_words(first_unit) == frozenset(tokenize(chunk.sentences[0]))


def test_the_idf_table_is_jiebas_own() -> None:
    table = jieba_analyse().default_tfidf  # imported as the project does (jieba leaks a file)
    ours = general_idf()
    assert ours.median == table.median_idf
    for word in ["劳动合同", "工会", "试用期", "的", "仲裁"]:
        assert ours(word) == table.idf_freq.get(word, table.median_idf)
    assert ours("这不是一个词语xyz") == table.median_idf


def test_stored_sources_come_back_with_their_own_scores_even_when_one_is_gone(
    version: IndexVersion,
) -> None:
    answerer = Answerer(_retriever(version, 100), AbstentionModel.load())
    first, second, third = version.chunks[3], version.chunks[4], version.chunks[5]
    sources = answerer.sources(
        [first.chunk_id, "a-passage-no-longer-indexed", third.chunk_id], [2.5, 2.0, 1.5]
    )
    assert [(s.passage_id, s.score) for s in sources] == [
        (first.chunk_id, 2.5),
        (third.chunk_id, 1.5),  # its own score, not the missing passage's
    ]
    assert sources[1].text == third.text
    assert second.chunk_id not in [s.passage_id for s in sources]
    with pytest.raises(ValueError, match="2 passage ids but 1 scores"):
        answerer.sources([first.chunk_id, third.chunk_id], [1.0])


def test_a_batch_answers_each_question_as_if_asked_alone(version: IndexVersion) -> None:
    answerer = Answerer(_retriever(version, 100), AbstentionModel.load())
    questions = ["包头市工会的法律援助", "", "😀😀", "赤峰 技能竞赛", "x" * 1001]
    batch = answerer.answer_many(questions, k=3)
    alone = [answerer.answer(q, k=3) for q in questions]
    assert [a.question for a in batch] == questions
    for together, single in zip(batch, alone, strict=True):
        assert together.version == version.version_id
        assert (together.reason, [s.passage_id for s in together.sources]) == (
            single.reason,
            [s.passage_id for s in single.sources],
        )
    assert [a.reason for a in batch[1:3]] + [batch[4].reason] == [
        "empty",
        "unsearchable",
        "too_long",
    ]


def test_the_faces_use_only_the_core_api(tmp_path: Path) -> None:
    """Nothing under bot/ reaches into the retriever or a loaded version, or imports the
    core's inner modules: it uses what ``index`` exports."""
    repo = Path(__file__).resolve().parents[1]
    offenders = []
    for path in sorted((repo / "bot").rglob("*.py")):
        text = path.read_text("utf-8")
        for needle in ("retriever", ".chunks", "IndexVersion", "from index.", "import index."):
            if needle in text:
                offenders.append(f"{path.relative_to(repo)}: {needle}")
    assert offenders == []


@pytest.mark.parametrize("size", [5, 100, 1_000, 50_000, 300_000])
def test_the_best_scores_are_found_exactly_at_any_size(size: int) -> None:
    rng = np.random.default_rng(size)
    scores = rng.random(size, dtype=np.float32)
    scores[rng.integers(0, size, size // 3)] = 0.0  # many equal (zero) scores, as BM25 gives
    found = top_indices(scores, 100)
    assert len(found) == min(size, 100)
    expected = np.sort(scores)[::-1][: min(size, 100)]
    np.testing.assert_array_equal(np.sort(scores[found])[::-1], expected)
