"""Laws and regulations read by their structure, in every format: 编/章/节 as sections, an
article as one passage whose items keep their lead sentence, citations by law and article; and
the shipped corpus free of Markdown markup and metadata."""

from __future__ import annotations

import re

import pytest

from index.ingest.chunking import ARTICLE_MAX_CHARS, chunk_documents, units
from index.ingest.documents import Document, document_from_bytes, load_corpus
from index.ingest.formats import extract
from tests.sample_files import docx_bytes, pdf_bytes
from tests.support import REPO

LAW_MD = """---
source: test
---
# 中华人民共和国测试劳动法

2020年1月1日 第十三届全国人民代表大会常务委员会第十五次会议通过

<!-- INFO END -->

## 第一章 总则

第一条 为了保护劳动者的**合法权益**，制定本法。

## 第二章 劳动合同

### 第一节 解除

第二条 用人单位有下列情形之一的，劳动者可以解除劳动合同：

（一）未及时足额支付劳动报酬的；

（二）未依法为劳动者缴纳社会保险费的。

第三条 劳动者提前三十日以书面形式通知用人单位，可以解除劳动合同。

劳动者在试用期内提前三日通知用人单位，可以解除劳动合同。
"""

LAW_LINES = [
    "中华人民共和国测试劳动法",
    "第一章　总则",
    "第一条　为了保护劳动者的合法权益，制定本法。",
    "第二章　劳动合同",
    "第二条　用人单位有下列情形之一的，劳动者可以解除劳动合同：",
    "（一）未及时足额支付劳动报酬的；",
    "（二）未依法为劳动者缴纳社会保险费的。",
    "第三条　劳动者提前三十日以书面形式通知用人单位，可以解除劳动合同。",
]


def _count_tokens(text: str) -> int:
    return len(text)


def _articles(document: Document) -> list[tuple[str, str, str]]:
    return [(p.section, p.article, p.text) for p in document.paragraphs if p.kind == "article"]


def test_markdown_is_parsed_title_headings_articles_and_no_metadata() -> None:
    document = document_from_bytes("测试法.md", LAW_MD.encode())
    assert document.title == "中华人民共和国测试劳动法"
    assert _articles(document) == [
        ("第一章 总则", "第一条", "为了保护劳动者的合法权益，制定本法。"),
        (
            "第二章 劳动合同 第一节 解除",
            "第二条",
            "用人单位有下列情形之一的，劳动者可以解除劳动合同：\n"
            "（一）未及时足额支付劳动报酬的；\n（二）未依法为劳动者缴纳社会保险费的。",
        ),
        (
            "第二章 劳动合同 第一节 解除",
            "第三条",
            "劳动者提前三十日以书面形式通知用人单位，可以解除劳动合同。\n"
            "劳动者在试用期内提前三日通知用人单位，可以解除劳动合同。",
        ),
    ]
    text = "\n".join(p.text for p in document.paragraphs)
    for metadata in ("INFO END", "2020年1月1日", "source:", "**", "#"):
        assert metadata not in text


@pytest.mark.parametrize("kind", ["txt", "docx", "pdf"])
def test_legal_structure_is_recognised_in_every_format(kind: str) -> None:
    if kind == "txt":
        data = "\n\n".join(LAW_LINES).encode()
    elif kind == "docx":
        data = docx_bytes(LAW_LINES[0], LAW_LINES[1:])
    else:
        data = pdf_bytes(LAW_LINES, width_chars=60)
    document = document_from_bytes(f"测试法.{kind}", data)
    articles = _articles(document)
    assert [a[1] for a in articles] == ["第一条", "第二条", "第三条"]
    assert [a[0] for a in articles] == ["第一章 总则", "第二章 劳动合同", "第二章 劳动合同"]
    assert articles[1][2].splitlines()[1:] == [
        "（一）未及时足额支付劳动报酬的；",
        "（二）未依法为劳动者缴纳社会保险费的。",
    ]
    assert document.title == "中华人民共和国测试劳动法"


def test_markdown_tables_become_rows_and_inline_markup_is_dropped() -> None:
    source = "# 驿站\n\n*星光*驿站在[新华大街](http://x)。\n\n"
    source += "| 站点 | 电话 |\n|---|---|\n| 呼和浩特站 | 0471 |\n"
    text = extract("站点.md", source.encode()).text
    assert text == "# 驿站\n\n星光驿站在新华大街。\n\n站点：呼和浩特站，电话：0471。\n"


def test_an_article_is_one_passage_with_its_place() -> None:
    document = document_from_bytes("测试法.md", LAW_MD.encode())
    chunks = chunk_documents([document], max_chars=160, max_tokens=512, count_tokens=_count_tokens)
    second = next(c for c in chunks if c.article == "第二条")
    assert second.place == "第二章 劳动合同 第一节 解除 第二条"
    assert second.short_title == "测试劳动法"
    assert second.embedding_text.startswith("测试劳动法第二条：用人单位有下列情形之一的")
    assert second.sentences[1] == "（一）未及时足额支付劳动报酬的；"


def test_a_long_article_splits_at_its_items_and_every_part_carries_the_lead() -> None:
    lead = "用人单位有下列情形之一的，劳动者可以解除劳动合同："
    items = [f"（{n}）{'用人单位未依法履行义务的情形之' * 3}{n}；" for n in "一二三四五六七八九十"]
    text = "\n".join(["## 第一章 总则", "", "第一条 " + lead, "", *[f"{i}\n" for i in items]])
    filler = "\n\n".join(f"第{n}条 其他规定。" for n in "二三")
    document = document_from_bytes("长.md", f"# 长法\n\n{text}\n\n{filler}\n".encode())
    chunks = chunk_documents([document], max_chars=160, max_tokens=512, count_tokens=_count_tokens)
    parts = [c for c in chunks if c.article == "第一条"]
    assert len(parts) > 1
    assert all(len(p.text) <= ARTICLE_MAX_CHARS for p in parts)
    assert all(p.text.startswith(lead) for p in parts)
    assert [p.lead for p in parts] == ["", *[lead] * (len(parts) - 1)]
    shown = [line for p in parts for line in p.text.splitlines() if line != lead]
    assert shown == items  # every item once, in order


def test_a_fact_in_one_clause_of_a_long_sentence_is_a_unit_of_its_own() -> None:
    sentence = (
        "坚持以学促干,深入基层开展蹲点调研,指导新建基层工会128家,慰问帮扶职工3902人次,"
        "化解劳动纠纷49件,提供法律援助16次,切实将学习成果转化成解决基层急难愁盼的工作效能。"
    )
    found = units(sentence)
    assert len(found) > 1
    assert "".join(found) == sentence
    assert any("提供法律援助16次" in u and len(u) <= 48 for u in found)


def test_the_shipped_corpus_has_the_report_and_eleven_laws_without_markup_or_metadata() -> None:
    documents = load_corpus(REPO / "corpus")
    laws = [d for d in documents if any(p.kind == "article" for p in d.paragraphs)]
    assert len(documents) == 12
    assert len(laws) == 11
    assert all(d.title.endswith(("法", "条例", "规定")) for d in laws)
    chunks = chunk_documents(documents, max_chars=160, max_tokens=512, count_tokens=_count_tokens)
    markup = re.compile(r"<!--|-->|^#|\*\*|\[.*\]\(|^\d{4}年\d{1,2}月\d{1,2}日.*(通过|修正)$", re.M)
    assert [c.text for c in chunks if markup.search(c.text)] == []
    law_chunks = [c for c in chunks if c.doc_id.endswith(".md")]
    assert law_chunks
    assert all(re.fullmatch(r".*第[零〇一二三四五六七八九十百千]+条", c.place) for c in law_chunks)
