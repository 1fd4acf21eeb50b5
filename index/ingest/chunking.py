"""Structure-aware chunking: paragraphs and articles into passages that never cut a sentence.

A paragraph's chunk gathers whole sentences up to ``max_chars``; a sentence longer than that
stands alone, and one longer than the model's token limit is split at commas (the only case
where a passage divides a sentence, since the model would otherwise silently truncate it).

A law's article is one passage; a long one splits at its 款 and 项, every part carrying the
article's lead sentence and number, so "（三）未依法为劳动者缴纳社会保险费的；" is never
retrieved without "用人单位有下列情形之一的，劳动者可以解除劳动合同：" and 第三十八条.

Each passage also lists its *units*: its sentences, with a long sentence divided into clauses
(at ；; and then ，), so a fact that sits in one clause of a 500-character sentence can be found
and quoted on its own. Chunk ids are content hashes, so rebuilding the same text gives the same
ids.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from index.ingest.documents import Document, Paragraph, PassageKind
from index.text import CLAUSE_ENDS, ITEM_START, split_sentences

TokenCounter = Callable[[str], int]
# Bump when chunk boundaries change for the same text, so existing indexes are rebuilt.
CHUNKER_VERSION = 2
ARTICLE_MAX_CHARS = 400  # an article up to this long is one passage
UNIT_MAX_CHARS = 80  # a longer sentence is divided into clause units...
CLAUSE_UNIT_CHARS = 48  # ...of up to this many characters
_CLAUSE_END = re.compile(f"(?<=[{CLAUSE_ENDS}])")
_MAJOR_CLAUSE_END = re.compile(r"(?<=[；;])")
NATIONAL_PREFIX = "中华人民共和国"
ITEM = ITEM_START  # an item of a law's article: （一）, (十二)


@dataclass(frozen=True)
class Chunk:
    """A passage of the corpus as indexed, displayed and cited."""

    chunk_id: str
    doc_id: str
    doc_title: str
    section: str  # the section; for a law, its 编/章/节
    kind: PassageKind
    text: str
    sentences: tuple[str, ...]  # the units: sentences, long ones divided into clauses
    article: str = ""  # 第四十七条, for a law's article
    lead: str = ""  # an article's lead sentence, when this part of it lists items

    @property
    def place(self) -> str:
        """Where it stands in its document: the section, and the article of a law."""
        return f"{self.section} {self.article}".strip() if self.article else self.section

    @property
    def embedding_text(self) -> str:
        """What the encoder sees: an article with its law's short title and number (劳动合同法
        第十九条：…); a paragraph with its section title, which gives a short passage its
        context. (Measured on eval/: the full title and chapter dilute an article's meaning.)"""
        if self.article:
            return f"{self.short_title}{self.article}：{self.text}"
        return f"{self.section}：{self.text}"

    @property
    def unit_texts(self) -> tuple[str, ...]:
        """What the encoder sees of each unit: an article's units carry its law and number."""
        if self.article:
            return tuple(f"{self.short_title}{self.article}：{unit}" for unit in self.sentences)
        return self.sentences

    @property
    def search_text(self) -> str:
        """What BM25 indexes: the text with its document's title and its place."""
        return f"{self.doc_title} {self.place}：{self.text}"

    @property
    def short_title(self) -> str:
        """The title as people say it: 中华人民共和国劳动合同法 → 劳动合同法."""
        return self.doc_title.removeprefix(NATIONAL_PREFIX) or self.doc_title


def chunk_documents(
    documents: Iterable[Document],
    *,
    max_chars: int,
    max_tokens: int,
    count_tokens: TokenCounter,
) -> list[Chunk]:
    """Chunks of every paragraph and article of every document, in reading order, with unique
    ids."""
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for document in documents:
        for paragraph in document.paragraphs:
            if paragraph.kind == "article":
                parts = _article_parts(paragraph, max_tokens, count_tokens)
            else:
                parts = [
                    ("", "".join(sentences))
                    for sentences in _group(
                        split_sentences(paragraph.text),
                        max_chars,
                        max_tokens,
                        count_tokens,
                        paragraph.section,
                    )
                ]
            for lead, text in parts:
                key = f"{paragraph.section}\x1f{paragraph.article}"
                chunks.append(
                    Chunk(
                        chunk_id=_chunk_id(document.doc_id, key, text, seen),
                        doc_id=document.doc_id,
                        doc_title=document.title,
                        section=paragraph.section,
                        kind=paragraph.kind,
                        text=text,
                        sentences=tuple(units(text)),
                        article=paragraph.article,
                        lead=lead,
                    )
                )
    return chunks


def units(text: str) -> list[str]:
    """The searchable units of a passage: its lines' sentences, long ones divided at clause
    marks (first ；; then ，) into pieces of up to ``UNIT_MAX_CHARS``."""
    found: list[str] = []
    for line in text.split("\n"):
        for sentence in split_sentences(line):
            found.extend(_divide(sentence))
    return found


def _divide(sentence: str) -> list[str]:
    if len(sentence) <= UNIT_MAX_CHARS:
        return [sentence]
    pieces: list[str] = []
    for major in (c for c in _MAJOR_CLAUSE_END.split(sentence) if c):
        clauses = [major] if len(major) <= CLAUSE_UNIT_CHARS else _CLAUSE_END.split(major)
        for clause in (c for c in clauses if c):
            if (
                pieces
                and len(pieces[-1]) + len(clause) <= CLAUSE_UNIT_CHARS
                and not _ends_major(pieces[-1])
            ):
                pieces[-1] += clause
            else:
                pieces.append(clause)
    return pieces


def _ends_major(piece: str) -> bool:
    return piece.rstrip()[-1:] in "；;"


def _article_parts(
    paragraph: Paragraph, max_tokens: int, count_tokens: TokenCounter
) -> list[tuple[str, str]]:
    """(lead, text) of each passage of an article: the whole article when it is short enough,
    else groups of its 款 and 项, each part after the first headed by the lead sentence."""
    text = paragraph.text
    title = f"{paragraph.section} {paragraph.article}："

    def fits(candidate: str) -> bool:
        return len(candidate) <= ARTICLE_MAX_CHARS and count_tokens(title + candidate) <= max_tokens

    if fits(text):
        return [("", text)]
    parts: list[tuple[str, str]] = []
    lead = ""  # the sentence the items being read complete
    current: list[str] = []
    current_lead = ""  # the lead repeated at the head of the part being filled
    for line in text.split("\n"):
        item = bool(ITEM.match(line))
        if not item:
            lead = ""  # a new 款: any items after it belong to it
        elif not lead and current:
            lead = current[-1]
        if current and not fits("\n".join([*current, line])):
            parts.append((current_lead, "\n".join(current)))
            current_lead = lead if item else ""
            current = [lead, line] if current_lead else [line]
        else:
            current.append(line)
    if current:
        parts.append((current_lead, "\n".join(current)))
    return [
        (lead, piece)
        for lead, body in parts
        for piece in (_split_long(body, fits) if not fits(body) else [body])
    ]


def _split_long(text: str, fits: Callable[[str], bool]) -> list[str]:
    """A single 款 longer than a passage: its sentences, grouped."""
    pieces: list[str] = []
    for sentence in split_sentences(text.replace("\n", "")):
        if pieces and fits(pieces[-1] + sentence):
            pieces[-1] += sentence
        else:
            pieces.append(sentence)
    return pieces


def _group(
    sentences: Sequence[str],
    max_chars: int,
    max_tokens: int,
    count_tokens: TokenCounter,
    section: str,
) -> Iterable[list[str]]:
    def fits(parts: list[str]) -> bool:
        return count_tokens(f"{section}：{''.join(parts)}") <= max_tokens

    current: list[str] = []
    for sentence in sentences:
        for piece in _fit_sentence(sentence, fits):
            candidate = [*current, piece]
            if current and (len("".join(candidate)) > max_chars or not fits(candidate)):
                yield current
                current = [piece]
            else:
                current = candidate
    if current:
        yield current


def _fit_sentence(sentence: str, fits: Callable[[list[str]], bool]) -> list[str]:
    """The sentence itself, or (only if the model could not read it whole) its clauses."""
    if fits([sentence]):
        return [sentence]
    pieces: list[str] = []
    for clause in (c for c in _CLAUSE_END.split(sentence) if c):
        if pieces and fits([pieces[-1] + clause]):
            pieces[-1] += clause
        elif fits([clause]):
            pieces.append(clause)
        else:  # a clause longer than the model's window: cut it by characters
            pieces.extend(_hard_split(clause, fits))
    return pieces


def _hard_split(text: str, fits: Callable[[list[str]], bool]) -> list[str]:
    pieces: list[str] = []
    while text:
        size = len(text)
        while size > 1 and not fits([text[:size]]):
            size //= 2
        pieces.append(text[:size])
        text = text[size:]
    return pieces


def _chunk_id(doc_id: str, section: str, text: str, seen: dict[str, int]) -> str:
    digest = hashlib.sha1(f"{doc_id}\x1f{section}\x1f{text}".encode()).hexdigest()[:16]
    seen[digest] = seen.get(digest, 0) + 1
    return digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
