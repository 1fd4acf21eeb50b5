"""Corpus reading and repair, on tiny documents with exact expected results."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.errors import CorpusError
from index.ingest.documents import load_corpus, parse_document, read_document
from tests.support import REPORT

PAGE = """

第一张照片的说明文字。


正文标题

副标题写在这里

工会为职工提供法律援助,今年共提供法律援助16次,线


劳模工匠深入基层
宣讲会议精神。

下决赛20支代表队同台竞技。

第二部分的标题

货车司机之家建在口岸。

（本文图片由工会提供）
"""


def test_report_layout_is_repaired_into_sectioned_paragraphs() -> None:
    document = parse_document("page.txt", PAGE)
    assert document.title == "正文标题"
    assert [(p.kind, p.section, p.text) for p in document.paragraphs] == [
        ("caption", "正文标题", "第一张照片的说明文字。"),
        (
            "paragraph",
            "正文标题",
            "工会为职工提供法律援助,今年共提供法律援助16次,线下决赛20支代表队同台竞技。",
        ),
        ("caption", "正文标题", "劳模工匠深入基层宣讲会议精神。"),
        ("paragraph", "第二部分的标题", "货车司机之家建在口岸。"),
        ("caption", "第二部分的标题", "（本文图片由工会提供）"),
    ]


def test_the_shipped_report_rejoins_its_four_broken_paragraphs() -> None:
    document = read_document(REPORT)
    texts = [p.text for p in document.paragraphs]
    for seam in (
        "自治区党委十一届十次全会",
        "规定精神学习教育与作风",
        "线下决赛20支",
        "职业技能比赛,助力",
    ):
        assert sum(seam in t for t in texts) == 1, seam
    assert len(document.sections) == 3
    assert sum(p.kind == "caption" for p in document.paragraphs) == 6


def test_markdown_headings_and_latin_line_breaks() -> None:
    document = parse_document("notice.md", "# Notice\n\nThe union office opens\n\nat nine.\n")
    assert document.title == "Notice"
    assert [p.text for p in document.paragraphs] == ["The union office opens at nine."]


def test_empty_corpus_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="has no documents"):
        load_corpus(tmp_path)
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "missing")


def test_legacy_gbk_text_is_read(tmp_path: Path) -> None:
    (tmp_path / "gbk.txt").write_text("工会法律援助。\n", encoding="gbk")
    (document,) = load_corpus(tmp_path)
    assert document.paragraphs[0].text == "工会法律援助。"


def test_text_in_no_known_encoding_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "odd.txt").write_bytes(b"\xff\xfe\xfd legal aid")
    with pytest.raises(
        CorpusError,
        match=r"odd.txt is not UTF-8 text \(invalid byte 0xff at offset 0\) nor GB18030",
    ):
        load_corpus(tmp_path)


def test_file_without_text_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "blank.txt").write_text(" \n\n \t\n", "utf-8")
    with pytest.raises(CorpusError, match=r"blank\.txt is empty"):
        load_corpus(tmp_path)


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "nowhere")
    (tmp_path / "ok.txt").write_text("工会。", "utf-8")
    with pytest.raises(CorpusError, match=r"cannot read dangling\.txt"):
        load_corpus(tmp_path)
