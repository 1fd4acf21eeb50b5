"""Sentence-aware chunking: paragraphs into passages that never cut a sentence.

A chunk gathers whole sentences of one paragraph up to ``max_chars``; a sentence longer than
that stands alone, and one longer than the model's token limit is split at commas (the only case
where a sentence is divided, since the model would otherwise silently truncate it). Chunk ids
are content hashes, so rebuilding the same text gives the same ids.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from index.ingest.documents import Document, PassageKind
from index.text import CLAUSE_ENDS, split_sentences

TokenCounter = Callable[[str], int]
# Bump when chunk boundaries change for the same text, so existing indexes are rebuilt.
CHUNKER_VERSION = 1
_CLAUSE_END = re.compile(f"(?<=[{CLAUSE_ENDS}])")


@dataclass(frozen=True)
class Chunk:
    """A passage of the corpus as indexed, displayed and cited."""

    chunk_id: str
    doc_id: str
    doc_title: str
    section: str
    kind: PassageKind
    text: str
    sentences: tuple[str, ...]

    @property
    def embedding_text(self) -> str:
        """What the encoder sees: the section title gives a short passage its context."""
        return f"{self.section}：{self.text}"


def chunk_documents(
    documents: Iterable[Document],
    *,
    max_chars: int,
    max_tokens: int,
    count_tokens: TokenCounter,
) -> list[Chunk]:
    """Chunks of every paragraph of every document, in reading order, with unique ids."""
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for document in documents:
        for paragraph in document.paragraphs:
            for sentences in _group(
                split_sentences(paragraph.text),
                max_chars,
                max_tokens,
                count_tokens,
                paragraph.section,
            ):
                text = "".join(sentences)
                chunk_id = _chunk_id(document.doc_id, paragraph.section, text, seen)
                chunks.append(
                    Chunk(
                        chunk_id=chunk_id,
                        doc_id=document.doc_id,
                        doc_title=document.title,
                        section=paragraph.section,
                        kind=paragraph.kind,
                        text=text,
                        sentences=tuple(sentences),
                    )
                )
    return chunks


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
