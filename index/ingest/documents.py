"""Documents of the corpus folder, read and repaired into paragraphs that belong to sections.

Text extracted from a newspaper page comes damaged in known ways, all repaired here:

- a paragraph broken mid-sentence across blank lines (``…线`` then ``下决赛…``) is joined again,
  even when a photo caption stands between the two halves;
- photo captions (short lines grouped without a blank line, short lines before the headline,
  a parenthesised credit) are kept as small passages marked ``caption``;
- headings (short lines without sentence punctuation, or Markdown ``#``) start sections; the
  first is the document's title and every passage carries the section it stands in.

Laws and regulations, in any format, are read by their structure instead: 编/章/节 headings
make the section (``第四章 劳动合同的解除和终止``), and each article (``第四十七条 …``) is one
paragraph of kind ``article`` holding its 款 and 项 as lines, so an item never loses its lead
sentence or its article number. Promulgation lines (``2012年12月28日 … 修正``) are metadata,
not content.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from index.errors import CorpusError, DocumentError
from index.ingest.formats import SUPPORTED_SUFFIXES, extract
from index.text import (
    ARTICLE_START,
    DIVISION_START,
    SENTENCE_ENDS,
    is_terminated,
    join_fragments,
)

CAPTION_MAX_CHARS = 40  # a line of a multi-line photo caption
LEAD_CAPTION_MAX_CHARS = 80  # a one-line caption standing above the headline
HEADING_MAX_CHARS = 50
_SENTENCE_PUNCT = re.compile(f"[{SENTENCE_ENDS}]")
_CLAUSE_PUNCT = re.compile(r"[，,：:；;]")  # headings do not run on in clauses (、 enumerates)
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_PARENTHESISED = re.compile(r"^[（(].*[)）]$")

_ARTICLE = ARTICLE_START
_DIVISION = DIVISION_START
_DIVISION_LEVELS = {"编": 0, "分": 1, "章": 2, "节": 3}
LEGAL_MIN_ARTICLES = 3  # a document with this many article lines is read as a law
# "2007年6月29日 第十届全国人民代表大会常务委员会第二十八次会议通过" and the like.
_PROMULGATION = re.compile(
    r"^[（(]?\d{4}年\d{1,2}月\d{1,2}日[^。]{0,160}(通过|公布|修正|修订|施行|发布|批准)[）)]?$"
)

BlockKind = Literal["heading", "paragraph", "caption"]
PassageKind = Literal["paragraph", "caption", "article"]


@dataclass(frozen=True)
class Paragraph:
    """A repaired paragraph (or caption, or a law's article) and the section it belongs to."""

    section: str
    text: str  # an article's 款 and 项 are its lines
    kind: PassageKind
    article: str = ""  # 第四十七条, for an article


@dataclass(frozen=True)
class Document:
    doc_id: str  # file name inside the corpus folder
    title: str
    sha256: str
    paragraphs: tuple[Paragraph, ...]

    @property
    def sections(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.section for p in self.paragraphs))


@dataclass
class _Block:
    kind: BlockKind
    text: str


def load_corpus(corpus_dir: Path) -> list[Document]:
    """Every supported document in ``corpus_dir``, in name order; refuses an empty corpus."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"the corpus folder {corpus_dir} does not exist")
    files = corpus_files(corpus_dir)
    if not files:
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        raise CorpusError(f"the corpus folder {corpus_dir} has no documents ({kinds})")
    return [read_document(path) for path in files]


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The document files of the corpus folder, in name order."""
    if not corpus_dir.is_dir():
        return []
    # Not is_file(): a dangling link must be reported as unreadable, not silently skipped.
    return sorted(
        p for p in corpus_dir.iterdir() if not p.is_dir() and p.suffix.lower() in SUPPORTED_SUFFIXES
    )


def read_document(path: Path) -> Document:
    """Read one document file (text, Markdown, Word, PDF, HTML) into sectioned paragraphs."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"cannot read {path.name}: {exc.strerror}") from exc
    return document_from_bytes(path.name, raw)


def document_from_bytes(name: str, raw: bytes) -> Document:
    """Check and parse a file's bytes as the document ``name`` (DocumentError if refused)."""
    return parse_document(name, extract(name, raw).text, hashlib.sha256(raw).hexdigest())


def parse_document(doc_id: str, text: str, sha256: str = "") -> Document:
    """Repair ``text`` into paragraphs; the title is the first heading (or the file's stem)."""
    raw_blocks = [
        lines
        for lines in ([x for x in b if not _PROMULGATION.match(x)] for b in _raw_blocks(text))
        if lines
    ]
    fallback_title = Path(doc_id).stem
    lines = [line for block in raw_blocks for line in block]
    if sum(bool(_ARTICLE.match(line)) for line in lines) >= LEGAL_MIN_ARTICLES:
        title, articles = _legal_paragraphs(lines, fallback_title)
        return Document(doc_id, title, sha256 or _sha256(text), tuple(articles))
    # A Markdown document says where its headings are; then no other line is one.
    markdown = any(_MARKDOWN_HEADING.match(line) for block in raw_blocks for line in block)
    blocks = _join_broken(_mark_lead_captions(list(_classify(raw_blocks, markdown))))
    title = next((b.text for b in blocks if b.kind == "heading"), fallback_title)
    paragraphs = tuple(_assign_sections(blocks, title))
    if not paragraphs:
        raise DocumentError(f"{doc_id} has no text to answer from", code="no_text")
    return Document(doc_id, title, sha256 or _sha256(text), paragraphs)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _legal_paragraphs(lines: list[str], fallback_title: str) -> tuple[str, list[Paragraph]]:
    """A law's title and its articles, each under its 编/章/节 (see the module docstring)."""
    title = ""
    divisions: dict[int, str] = {}  # level -> heading, e.g. {2: "第四章 劳动合同的解除和终止"}
    article = ""
    body: list[str] = []
    paragraphs: list[Paragraph] = []

    def section() -> str:
        return " ".join(divisions[level] for level in sorted(divisions)) or title

    def flush() -> None:
        if article and body:
            paragraphs.append(Paragraph(section(), "\n".join(body), "article", article))
        body.clear()

    for raw in lines:
        heading = _MARKDOWN_HEADING.match(raw)
        line = " ".join((heading.group(1) if heading else raw).split())
        division = _DIVISION.match(line)
        found = _ARTICLE.match(line)
        if division and len(line) <= HEADING_MAX_CHARS and not _SENTENCE_PUNCT.search(line):
            flush()
            article = ""
            level = _DIVISION_LEVELS[division.group(1)]
            divisions = {k: v for k, v in divisions.items() if k < level}
            divisions[level] = line
        elif found:
            flush()
            article = found.group(1)
            if found.group(2):
                body.append(found.group(2))
        elif not title and (heading or not paragraphs):
            title = line  # the first heading, or the first line above the articles
        elif heading:
            flush()  # another heading (附则 written without 第…章): a section of its own
            article = ""
            divisions = {9: line}
        elif article:
            body.append(line)  # a further 款, or an item （一）
        else:
            paragraphs.append(Paragraph(section(), line, "paragraph"))  # a preamble
    flush()
    return title or fallback_title, paragraphs


def _raw_blocks(text: str) -> Iterable[list[str]]:
    """Runs of non-empty lines separated by blank lines."""
    block: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = line.strip()
        if stripped:
            block.append(stripped)
        elif block:
            yield block
            block = []
    if block:
        yield block


def _classify(raw_blocks: Iterable[list[str]], markdown: bool) -> Iterable[_Block]:
    for lines in raw_blocks:
        if len(lines) > 1 and all(len(line) <= CAPTION_MAX_CHARS for line in lines):
            # Photo captions come as a few short lines with no blank line between them.
            yield _Block("caption", "".join(lines))
            continue
        for line in lines:
            yield _classify_line(line, markdown)


def _classify_line(line: str, markdown: bool) -> _Block:
    heading = _MARKDOWN_HEADING.match(line)
    if heading:
        return _Block("heading", heading.group(1).strip())
    if _PARENTHESISED.match(line) and len(line) <= LEAD_CAPTION_MAX_CHARS:
        return _Block("caption", line)  # a credit such as （本文图片由…提供）
    looks_like_heading = (
        not markdown
        and len(line) <= HEADING_MAX_CHARS
        and not _SENTENCE_PUNCT.search(line)
        and not _CLAUSE_PUNCT.search(line)
    )
    return _Block("heading" if looks_like_heading else "paragraph", line)


def _mark_lead_captions(blocks: list[_Block]) -> list[_Block]:
    """Short one-sentence lines above the first heading are captions of the page's photos."""
    first_heading = next((i for i, b in enumerate(blocks) if b.kind == "heading"), None)
    if first_heading is None:
        return blocks
    for block in blocks[:first_heading]:
        if block.kind == "paragraph" and len(block.text) <= LEAD_CAPTION_MAX_CHARS:
            block.kind = "caption"
    return blocks


def _join_broken(blocks: list[_Block]) -> list[_Block]:
    """Join a paragraph that stops mid-sentence with the next paragraph, across captions."""
    out: list[_Block] = []
    open_paragraph: _Block | None = None  # an unfinished paragraph waiting for its tail
    for block in blocks:
        if block.kind == "paragraph" and open_paragraph is not None:
            open_paragraph.text = join_fragments(open_paragraph.text, block.text)
        else:
            if block.kind == "heading":
                open_paragraph = None
            out.append(block)
            if block.kind == "paragraph":
                open_paragraph = block
        if open_paragraph is not None and is_terminated(open_paragraph.text):
            open_paragraph = None
    return out


def _assign_sections(blocks: list[_Block], title: str) -> Iterable[Paragraph]:
    section = title
    previous: BlockKind | None = None
    for block in blocks:
        if block.kind == "heading":
            # A heading right under the title (or under another heading) is a subtitle.
            if previous != "heading":
                section = block.text
        else:
            yield Paragraph(section, block.text, block.kind)
        previous = block.kind if block.kind != "caption" else previous
