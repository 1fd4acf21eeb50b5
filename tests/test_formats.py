"""Document files to text, and adding/removing corpus documents without losing anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.errors import DocumentError
from index.ingest import formats
from index.ingest.formats import extract, reflow_lines, sniff, table_lines
from index.ingest.uploads import find_document, remove_document, safe_name, store_document
from tests.sample_files import docx_bytes, html_bytes, pdf_bytes, zip_bytes

TABLE = [["站点", "地址"], ["包头站", "钢铁大街8号"], ["满洲里站", "国门大道1号"]]


def test_docx_keeps_headings_paragraphs_and_table_rows_in_order() -> None:
    data = docx_bytes("货车司机之家", ["口岸新建了司机之家。", "全天开放。"], TABLE)
    extracted = extract("a.docx", data)
    assert extracted.text == (
        "# 货车司机之家\n\n口岸新建了司机之家。\n\n全天开放。\n\n"
        "站点：包头站，地址：钢铁大街8号。\n\n站点：满洲里站，地址：国门大道1号。\n"
    )
    assert extracted.table_rows == 2


def test_html_drops_scripts_and_joins_source_line_breaks_inside_a_paragraph() -> None:
    page = html_bytes(
        "<h2>职工书屋</h2><p>全区建成\n  <b>500</b>家，\n藏书十万册。</p>"
        "<table><tr><th>盟市</th><th>数量</th></tr><tr><td>包头</td><td>80</td></tr></table>"
        "<ul><li>一</li><li>二</li></ul>"
    )
    extracted = extract("a.html", page)
    # The page's <title> heads the document when no <h1> does.
    assert extracted.text == (
        "# 通知\n\n## 职工书屋\n\n全区建成500家，藏书十万册。\n\n"
        "盟市：包头，数量：80。\n\n一\n\n二\n"
    )
    assert "不要读我" not in extracted.text  # the <script>
    assert extracted.table_rows == 1


def test_html_in_a_legacy_encoding_is_decoded_by_its_meta_charset() -> None:
    extracted = extract("a.htm", html_bytes("<p>工会法律援助。</p>", charset="gb2312"))
    assert "工会法律援助。" in extracted.text


def test_pdf_lines_wrapped_by_the_page_are_joined_into_paragraphs() -> None:
    sentence = "工会在呼和浩特市新设立了星光驿站，为环卫工人和快递员提供热水、休息和手机充电服务。"
    extracted = extract("a.pdf", pdf_bytes(["星光驿站", sentence, "第二段很短。"]))
    assert extracted.text == f"星光驿站\n\n{sentence}\n\n第二段很短。\n"
    assert extracted.pages == 1


def test_reflow_ends_a_paragraph_at_a_short_line_or_a_full_stop() -> None:
    lines = [
        "标题",
        "这是一行很长的正文内容没有结束",
        "这一行接着上一行",
        "下一段的开头也很长很长很长。",
        "短句。",
    ]
    assert reflow_lines(lines) == [
        "标题",
        "这是一行很长的正文内容没有结束这一行接着上一行",
        "下一段的开头也很长很长很长。",
        "短句。",
    ]
    english = [
        "the union federation opened new rest sta-",
        "tions for truck drivers along the border",
        "roads.",
    ]
    assert reflow_lines(english) == [
        "the union federation opened new rest stations for truck drivers along the border roads."
    ]


def test_a_table_without_a_header_row_keeps_its_cells_and_merged_cells_once() -> None:
    assert table_lines([["合计", "合计", "120"], ["", "", ""]]) == ["合计，120。"]
    assert table_lines([["姓名", "电话"], ["张三", ""]]) == ["姓名：张三。"]
    assert table_lines([]) == []


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("a.pdf", b"PK\x03\x04broken zip", "it is a damaged ZIP archive, not a PDF"),
        ("a.docx", b"%PDF-1.7\n...", "it is a PDF, not a Word (.docx) document"),
        ("a.md", b"%PDF-1.7\n...", "it is a PDF, not plain text"),
        ("a.txt", b"\xd0\xcf\x11\xe0old office", "an old binary Office file"),
        ("a.docx", b"PK\x03\x04" + b"\x00" * 40, "damaged Word document"),
        ("a.pdf", b"%PDF-1.4\n%%EOF", "damaged PDF"),
        ("a.html", b"plain words only", "it is plain text, not an HTML page"),
        ("a.txt", b"\xff\xfe\xfd\xfc", "is not UTF-8 text (invalid byte 0xff at offset 0)"),
        ("a.txt", b"", "a.txt is empty"),
        ("a.doc", b"text", "unsupported file type .doc"),
        ("a", b"text", "unsupported file type (none)"),
    ],
)
def test_a_file_that_is_not_what_its_name_says_or_is_damaged_is_refused_with_the_reason(
    name: str, data: bytes, reason: str
) -> None:
    with pytest.raises(DocumentError) as refused:
        extract(name, data)
    assert reason in str(refused.value)


def test_a_zip_that_is_not_a_word_document_is_named_for_what_it_is() -> None:
    assert sniff(zip_bytes()) == "zip"
    with pytest.raises(DocumentError, match="it is a ZIP archive"):
        extract("a.docx", zip_bytes())


def test_a_pdf_without_a_text_layer_is_refused() -> None:
    with pytest.raises(DocumentError, match="has no text layer"):
        extract("scan.pdf", pdf_bytes([""]))


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("报告.PDF", "报告.pdf"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\win.txt", "win.txt"),
        ("a:b*c?.md", "a_b_c_.md"),
        (".hidden.txt", "hidden.txt"),
        ("x" * 300 + ".txt", "x" * 116 + ".txt"),
    ],
)
def test_stored_names_stay_inside_the_corpus_folder(given: str, stored: str) -> None:
    assert safe_name(given) == stored


def test_a_300_character_chinese_name_is_shortened_to_fit_the_file_system(tmp_path: Path) -> None:
    """300 CJK characters are 900 bytes; file systems allow 255 (errno 36 before)."""
    corpus, trash = tmp_path / "corpus", tmp_path / "trash"
    name = "内蒙古自治区总工会" * 33 + "通知.txt"
    first = store_document(corpus, trash, name, "工会通知。\n".encode())
    assert first.name.startswith("内蒙古自治区总工会")
    assert first.name.endswith(".txt")
    assert len(first.name.encode()) <= 180  # room for the temporary and trash names' affixes
    again = store_document(corpus, trash, name, "工会新通知。\n".encode())  # replaced: trashed
    assert again.replaced
    assert remove_document(corpus, trash, again.name) == again.name
    assert len(list(trash.iterdir())) == 2


def test_an_unusable_name_is_refused() -> None:
    with pytest.raises(DocumentError, match="not a usable file name"):
        safe_name("../...")
    with pytest.raises(DocumentError, match=r"unsupported file type \(none\)"):
        store_document(Path("/nonexistent"), Path("/nonexistent"), "../.txt", b"text")


def test_storing_replaces_into_the_trash_and_removing_moves_never_deletes(tmp_path: Path) -> None:
    corpus, trash = tmp_path / "corpus", tmp_path / "trash"
    first = store_document(corpus, trash, "通知.txt", "工会通知。\n".encode())
    assert (first.replaced, first.unchanged, first.paragraphs) == (False, False, 1)
    same = store_document(corpus, trash, "通知.txt", "工会通知。\n".encode())
    assert same.unchanged
    assert not trash.exists()
    second = store_document(corpus, trash, "通知.txt", "工会新通知。\n".encode())
    assert second.replaced
    assert (corpus / "通知.txt").read_text("utf-8") == "工会新通知。\n"
    (old,) = trash.iterdir()
    assert old.read_text("utf-8") == "工会通知。\n"
    assert remove_document(corpus, trash, "1") == "通知.txt"
    assert list(corpus.iterdir()) == []
    assert {p.read_text("utf-8") for p in trash.iterdir()} == {"工会通知。\n", "工会新通知。\n"}
    with pytest.raises(DocumentError, match=r"there is no document '通知\.txt'"):
        find_document(corpus, "通知.txt")


def test_a_refused_document_leaves_the_corpus_as_it_was(tmp_path: Path) -> None:
    corpus, trash = tmp_path / "corpus", tmp_path / "trash"
    store_document(corpus, trash, "a.docx", docx_bytes("标题", ["正文。"]))
    before = (corpus / "a.docx").read_bytes()
    with pytest.raises(DocumentError):
        store_document(corpus, trash, "a.docx", b"PK\x03\x04 truncated")
    assert (corpus / "a.docx").read_bytes() == before
    assert [p.name for p in corpus.iterdir()] == ["a.docx"]  # no partial file left


def test_a_corpus_folder_that_cannot_be_written_is_a_refusal_not_a_crash(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "corpus"
    not_a_folder.write_text("a file where the folder should be")
    with pytest.raises(DocumentError, match=r"cannot store 通知\.txt: File exists") as refused:
        store_document(not_a_folder, tmp_path / "trash", "通知.txt", "工会通知。\n".encode())
    assert refused.value.code == "storage"


def test_markdown_lines_wrapped_after_latin_text_are_joined() -> None:
    # A soft line break after a Latin letter crashed the reader (an IndexError) and with it a
    # reload of the whole law library.
    extracted = extract("notes.md", "第一条 Rules of\nthe union 适用本法。\n".encode())
    assert "Rules of" in extracted.text
    assert "the union 适用本法。" in extracted.text


def test_a_reader_that_fails_unexpectedly_refuses_that_document_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(name: str, data: bytes) -> object:
        raise IndexError("string index out of range")

    monkeypatch.setitem(formats._EXTRACTORS, "markdown", broken)
    with pytest.raises(DocumentError) as refused:
        extract("odd.md", "第一条 内容。".encode())
    assert refused.value.code == "unreadable"
    assert "odd.md" in str(refused.value)
