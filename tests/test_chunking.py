"""Sentence-aware chunking: whole sentences, size limits, stable ids."""

from __future__ import annotations

from index.ingest.chunking import chunk_documents
from index.ingest.documents import parse_document
from index.text import split_sentences

TEXT = "标题\n\n第一句话。第二句话比较长一些！第三句？“引号里的话。”最后一句；还有一句\n"


def chars(text: str) -> int:
    """A stand-in token counter: one token per character (the real one is the model's)."""
    return len(text)


def test_sentences_keep_their_punctuation_and_closing_quotes() -> None:
    assert split_sentences("第一句话。第二句！“引号里的话。”最后；尾巴") == [
        "第一句话。",
        "第二句！",
        "“引号里的话。”",
        "最后；",
        "尾巴",
    ]


def test_chunks_gather_whole_sentences_up_to_the_size() -> None:
    document = parse_document("a.txt", TEXT)
    chunks = chunk_documents([document], max_chars=16, max_tokens=512, count_tokens=chars)
    assert [c.text for c in chunks] == [
        "第一句话。第二句话比较长一些！",
        "第三句？“引号里的话。”",
        "最后一句；还有一句",
    ]
    assert all(c.section == "标题" for c in chunks)
    assert "".join(c.text for c in chunks) == document.paragraphs[0].text


def test_chunk_ids_are_stable_across_rebuilds_and_unique() -> None:
    document = parse_document("a.txt", TEXT + "\n第一句话。\n\n第一句话。\n")
    first = chunk_documents([document], max_chars=16, max_tokens=512, count_tokens=chars)
    again = chunk_documents([document], max_chars=16, max_tokens=512, count_tokens=chars)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert len({c.chunk_id for c in first}) == len(first)


def test_a_sentence_longer_than_the_model_window_is_split_at_commas() -> None:
    long_sentence = "，".join(["工会提供法律援助"] * 12) + "。"
    document = parse_document("b.txt", f"标题\n\n{long_sentence}\n")
    chunks = chunk_documents([document], max_chars=500, max_tokens=40, count_tokens=chars)
    assert len(chunks) > 1
    assert all(chars(f"{c.section}：{c.text}") <= 40 for c in chunks)
    assert "".join(c.text for c in chunks) == long_sentence
