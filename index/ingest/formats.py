"""Document files to text: ``.txt``/``.md`` (UTF-8 or GB18030), ``.docx``, ``.pdf``, ``.html``.

The type is decided by the content as well as the name: a PDF renamed ``report.docx`` is refused
with a reason that says what the file really is. The text comes out in the form
:func:`index.ingest.documents.parse_document` reads: paragraphs separated by blank lines, Markdown
``#`` headings where the file marks them, and every table row as one readable line
(``表头：值，表头：值。``) so a table's facts can be found and quoted like any sentence.

The parsers are well-kept libraries (python-docx, pypdf, BeautifulSoup); nothing here parses a
file format by hand beyond recognising its first bytes.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal

from index.errors import DocumentError
from index.text import (
    ARTICLE_START,
    CLOSING_MARKS,
    DIVISION_START,
    ELLIPSIS,
    ITEM_START,
    SENTENCE_ENDS,
)

log = logging.getLogger(__name__)

Kind = Literal["text", "markdown", "docx", "pdf", "html"]
KIND_BY_SUFFIX: dict[str, Kind] = {
    ".txt": "text",
    ".md": "markdown",
    ".docx": "docx",
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
}
SUPPORTED_SUFFIXES = tuple(KIND_BY_SUFFIX)
# A .docx is a ZIP; refuse one that would inflate beyond this (a "zip bomb").
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
# A PDF line ending in one of these ends its paragraph (ASCII ";" too: lists end lines with it).
_TERMINAL = SENTENCE_ENDS + ";" + ELLIPSIS + CLOSING_MARKS
_PLAUSIBLE_SHARE = 0.97  # of characters in a GB18030 reading that must look like real text
_HTML_TAG = re.compile(rb"<\s*(!doctype\s+html|html|head|body|p|div|table|h[1-6]|br|span)\b", re.I)
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


@dataclass(frozen=True)
class ExtractedText:
    """A file's text, ready for :func:`parse_document`, and what was found in it."""

    text: str
    kind: Kind
    table_rows: int = 0
    pages: int = 0


def kind_of(name: str) -> Kind:
    """The kind a file name declares; refuses unsupported names."""
    suffix = PurePath(name).suffix.lower()
    if suffix not in KIND_BY_SUFFIX:
        supported = " ".join(SUPPORTED_SUFFIXES)
        raise DocumentError(
            f"{name}: unsupported file type {suffix or '(none)'}; use {supported}",
            code="unsupported",
            suffix=suffix or "(none)",
        )
    return KIND_BY_SUFFIX[suffix]


def sniff(data: bytes) -> str:  # noqa: PLR0911 (one return per file kind reads best)
    """What the bytes are, whatever the name says: pdf, docx, zip, html, text or binary."""
    head = data[:1024]
    if head.lstrip().startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile:
            return "damaged-zip"  # a truncated .docx looks like this
        return "docx" if "word/document.xml" in names else "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "ole"  # an old binary Office file (.doc, .xls)
    if b"\x00" in data[:4096]:
        return "binary"
    if _HTML_TAG.search(data[:65536]):
        return "html"
    return "text"


_WHAT_IT_IS = {
    "pdf": "a PDF",
    "docx": "a Word (.docx) document",
    "zip": "a ZIP archive",
    "damaged-zip": "a damaged ZIP archive",
    "ole": "an old binary Office file (.doc/.xls); save it as .docx",
    "binary": "binary data",
    "html": "an HTML page",
    "text": "plain text",
}


def extract(name: str, data: bytes) -> ExtractedText:
    """Check that ``data`` is what ``name`` says and return its text; DocumentError otherwise."""
    declared = kind_of(name)
    actual = sniff(data)
    if not data.strip():
        raise DocumentError(f"{name} is empty", code="empty")
    if not _compatible(declared, actual):
        raise DocumentError(
            f"{name} is not what its name says: it is {_WHAT_IT_IS[actual]}, "
            f"not {_WHAT_IT_IS['text' if declared == 'markdown' else declared]}",
            code="mismatch",
            actual=actual,
            declared="text" if declared == "markdown" else declared,
        )
    try:
        extracted = _EXTRACTORS[declared](name, data)
    except DocumentError:
        raise
    except Exception as exc:  # a reader's own bug must not stop a reload of every document
        log.exception("reading %s failed", name)
        raise DocumentError(
            f"{name} could not be read ({type(exc).__name__}: {exc})", code="unreadable"
        ) from exc
    if not extracted.text.strip():
        raise DocumentError(f"{name} has no text to answer from", code="no_text")
    return extracted


def _compatible(declared: Kind, actual: str) -> bool:
    if declared in ("text", "markdown"):
        # A text file may quote HTML; what it may not be is a PDF, a ZIP or binary data.
        return actual in ("text", "html")
    if declared == "docx" and actual == "damaged-zip":
        return True  # python-docx then says it is damaged
    return declared == actual


def decode_text(name: str, data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 when that reads as real text."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = ""
    if text and _plausible(text):
        return text
    raise DocumentError(
        f"{name} is not UTF-8 text (invalid byte 0x{data[utf8_error.start]:02x} at offset "
        f"{utf8_error.start}) nor GB18030; save it as UTF-8 and try again",
        code="encoding",
    )


def _plausible(text: str) -> bool:
    good = sum(1 for ch in text if ch.isprintable() or ch in "\n\r\t")
    return good / len(text) >= _PLAUSIBLE_SHARE


def _extract_text(name: str, data: bytes) -> ExtractedText:
    return ExtractedText(decode_text(name, data), "text")


def _extract_markdown(name: str, data: bytes) -> ExtractedText:
    """Markdown through a real parser (markdown-it-py): headings stay ``#`` lines, inline
    markup is dropped, tables become one sentence per row; front matter, HTML (comments such
    as ``<!-- INFO END -->`` included) and the metadata lines above such a marker are not
    content."""
    from markdown_it import MarkdownIt

    text = _FRONT_MATTER.sub("", decode_text(name, data), count=1)
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    blocks: list[str] = []
    rows = 0
    heading: str | None = None
    table: list[list[str]] = []
    for token in tokens:
        if token.type == "heading_open":
            heading = "#" * int(token.tag[1])
        elif token.type == "html_block" and _METADATA_END.search(token.content):
            # Everything between the title and the marker is metadata (promulgation lines).
            blocks = [b for b in blocks if b.startswith("# ")][:1]
        elif token.type == "tr_open":
            table.append([])
        elif token.type == "table_close":
            lines = table_lines(table)
            rows += len(lines)
            blocks.extend(lines)
            table = []
        elif token.type == "inline":
            content = _inline_text(token)
            if table:
                table[-1].append(content)
            elif heading is not None:
                blocks.append(f"{heading} {content}")
                heading = None
            else:
                blocks.append(content)
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content.strip())
    return ExtractedText(_join_blocks(blocks), "markdown", table_rows=rows)


def _inline_text(token: Any) -> str:
    """An inline token's text without its markup; soft line breaks rejoined."""
    text = ""
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            text += child.content
        elif child.type in ("softbreak", "hardbreak"):
            text = _join_wrapped(text, "")
            text += "\n"
        elif child.type == "image":
            text += child.content
    return _unwrap(text)


_FRONT_MATTER = re.compile(r"\A(?:\ufeff)?---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*\n", re.S)
_METADATA_END = re.compile(r"<!--\s*INFO END\s*-->", re.I)


# --- Word --------------------------------------------------------------------------------------


def _extract_docx(name: str, data: bytes) -> ExtractedText:
    import docx
    from docx.table import Table

    try:
        _check_unzipped_size(name, data)
        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        rows = 0
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                table_rows = table_lines([[c.text for c in row.cells] for row in item.rows])
                rows += len(table_rows)
                blocks.extend(table_rows)
            else:
                blocks.append(_docx_paragraph(item))
    except DocumentError:
        raise
    except Exception as exc:  # python-docx raises many types (KeyError, XMLSyntaxError...)
        raise DocumentError(
            f"{name} is a damaged Word document ({type(exc).__name__})", code="damaged", kind="docx"
        ) from exc
    return ExtractedText(_join_blocks(blocks), "docx", table_rows=rows)


def _docx_paragraph(paragraph: Any) -> str:
    text = _SPACES.sub(" ", paragraph.text).strip()
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    level = re.match(r"Heading (\d)", style)
    if text and (level or style == "Title"):
        return "#" * (int(level.group(1)) if level else 1) + " " + text
    return text


def _check_unzipped_size(name: str, data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        total = sum(info.file_size for info in archive.infolist())
    if total > MAX_UNZIPPED_BYTES:
        raise DocumentError(
            f"{name} would unpack to {total // 2**20} MB; refusing it",
            code="zip_bomb",
            mb=str(total // 2**20),
        )


# --- tables (Word and HTML) --------------------------------------------------------------------


def table_lines(rows: Sequence[Sequence[str]]) -> list[str]:
    """Each data row as one sentence, ``表头：值，表头：值。`` (the first row heads the others
    when it is a header): commas, not semicolons, so a row is never split into clauses."""
    cleaned = [_dedupe_merged([_SPACES.sub(" ", c).strip() for c in row]) for row in rows]
    cleaned = [row for row in cleaned if any(row)]
    if not cleaned:
        return []
    header = cleaned[0]
    has_header = len(cleaned) > 1 and len(header) > 1 and all(header)
    lines = []
    for row in cleaned[1:] if has_header else cleaned:
        if has_header and len(row) == len(header):
            cells = [f"{h}：{v}" for h, v in zip(header, row, strict=True) if v]
        else:
            cells = [c for c in row if c]
        if cells:
            lines.append("，".join(cells) + "。")
    return lines


def _dedupe_merged(cells: list[str]) -> list[str]:
    """python-docx repeats a horizontally merged cell's text in every grid column it spans."""
    out: list[str] = []
    for cell in cells:
        if not out or cell != out[-1] or not cell:
            out.append(cell)
    return out


# --- PDF ---------------------------------------------------------------------------------------


def _extract_pdf(name: str, data: bytes) -> ExtractedText:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(
                f"{name} is password-protected; send an unprotected copy", code="encrypted"
            )
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentError:
        raise
    except Exception as exc:  # pypdf raises PdfReadError, ValueError, KeyError... on damage
        raise DocumentError(
            f"{name} is a damaged PDF ({type(exc).__name__}: {exc})", code="damaged", kind="pdf"
        ) from exc
    blocks = [block for page in pages for block in reflow_lines(page.splitlines())]
    if not any(blocks):
        raise DocumentError(
            f"{name} has no text layer (a scanned image?); text recognition is not supported",
            code="no_text_layer",
        )
    return ExtractedText(_join_blocks(blocks), "pdf", pages=len(pages))


def reflow_lines(lines: Iterable[str]) -> list[str]:
    """Rejoin a PDF page's wrapped lines into paragraphs.

    A line as wide as the page's usual line that does not end a sentence continues on the next;
    a shorter line (a heading, a paragraph's last line) ends its paragraph.
    """
    stripped = [_SPACES.sub(" ", line).strip() for line in lines]
    stripped = [line for line in stripped if line]
    if not stripped:
        return []
    widths = sorted(len(line) for line in stripped)
    full = 0.8 * widths[len(widths) * 3 // 4]  # the upper quartile: most body lines are full
    blocks: list[str] = []
    current = ""
    for line in stripped:
        if current and _starts_a_unit(line):
            blocks.append(current)  # an article, a chapter or an item never continues a line
            current = ""
        current = _join_wrapped(current, line)
        if len(line) < full or line.endswith(tuple(_TERMINAL)):
            blocks.append(current)
            current = ""
    if current:
        blocks.append(current)
    return blocks


def _starts_a_unit(line: str) -> bool:
    return bool(ARTICLE_START.match(line) or DIVISION_START.match(line) or ITEM_START.match(line))


def _join_wrapped(left: str, right: str) -> str:
    if not left:
        return right
    if left.endswith("-") and right[:1].isalpha():
        return left[:-1] + right
    cjk = _CJK.match(left[-1]) or (right and _CJK.match(right[0]))
    return left + right if cjk else f"{left} {right}"


# --- HTML --------------------------------------------------------------------------------------

_BLOCK_TAGS = [
    "p",
    "div",
    "li",
    "section",
    "article",
    "main",
    "aside",
    "blockquote",
    "pre",
    "dd",
    "dt",
    "figcaption",
    "caption",
    "ul",
    "ol",
    "dl",
    "header",
    "footer",
    "form",
    "fieldset",
    "address",
]
_DROPPED_TAGS = ["script", "style", "noscript", "template", "svg", "iframe", "object", "nav"]


def _extract_html(name: str, data: bytes) -> ExtractedText:
    from bs4 import BeautifulSoup

    try:
        soup = BeautifulSoup(data, "html.parser")
    except Exception as exc:  # the stdlib parser is lenient; this is a last resort
        raise DocumentError(
            f"{name} is not readable HTML ({type(exc).__name__})", code="damaged", kind="html"
        ) from exc
    for tag in soup(_DROPPED_TAGS):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    if soup.head is not None:
        soup.head.decompose()
    rows = 0
    for table in soup.find_all("table"):
        if table.find_parent("table") is not None:
            continue  # a nested table is read as part of its outer cell's text
        lines = table_lines(
            [
                [cell.get_text(" ", strip=True) for cell in tr.find_all(["th", "td"])]
                for tr in table.find_all("tr")
            ]
        )
        rows += len(lines)
        table.replace_with("\n\n" + "\n\n".join(lines) + "\n\n")
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            heading.replace_with(f"\n\n{'#' * level} {heading.get_text(' ', strip=True)}\n\n")
    for br in soup.find_all("br"):
        br.replace_with("\n\n")
    for block in soup.find_all(_BLOCK_TAGS):
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    blocks = [_unwrap(block) for block in re.split(r"\n\s*\n", soup.get_text())]
    if title and not any(b.startswith("# ") for b in blocks):
        blocks.insert(0, f"# {title}")
    return ExtractedText(_join_blocks(blocks), "html", table_rows=rows)


def _unwrap(block: str) -> str:
    """HTML source line breaks inside a paragraph are spaces (none between Chinese characters)."""
    text = ""
    for raw in block.splitlines():
        line = _SPACES.sub(" ", raw).strip()
        if line:
            text = _join_wrapped(text, line)
    return text


def _join_blocks(blocks: Iterable[str]) -> str:
    return "\n\n".join(b for b in blocks if b.strip()) + "\n"


_EXTRACTORS = {
    "text": _extract_text,
    "markdown": _extract_markdown,
    "docx": _extract_docx,
    "pdf": _extract_pdf,
    "html": _extract_html,
}
