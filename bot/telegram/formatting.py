"""HTML messages with every piece of user and corpus text escaped, split under Telegram's limit."""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import escape, unescape

from bot.texts import Texts
from index import Answer, Source

TELEGRAM_LIMIT = 4096
_PIECE = 3000  # plain characters per piece when one paragraph alone is too long
_TAG = re.compile(r"</?[a-z][^<>]*>")


def answer_blocks(answer: Answer, texts: Texts) -> list[str]:
    """The answer as HTML paragraphs (each balanced, so any split between them is safe)."""
    if answer.answered:
        citation = answer.citation
        if answer.taught is not None:  # the union's own answer, not a document's
            citation = texts.taught_source.format(date=answer.taught.taught_on.isoformat())
        return [
            f"<b>{escape(texts.answer_label)}</b>{escape(answer.answer)}",
            f"<i>{escape(texts.source_label)}{escape(citation)}</i>",
        ]
    head = escape(texts.refusal(answer.reason, ask_instead=bool(answer.ask_instead)))
    if answer.ask_instead:  # the questions are buttons that ask them (handlers/questions.py)
        return [head]
    topics = "\n".join(f"• {escape(t)}" for t in answer.suggestions)
    return [head, topics] if topics else [head]


def source_blocks(sources: Iterable[Source], texts: Texts) -> list[str]:
    sources = list(sources)
    blocks = []
    for i, source in enumerate(sources, 1):
        counter = f"{escape(texts.sources_title)} {i}/{len(sources)}"
        title = f"<b>{counter}</b> · <i>{escape(source.citation)}</i>"
        blocks.append(title)
        blocks += [escape(piece) for piece in _pieces(source.text)]
    return blocks


def split_messages(
    blocks: list[str], limit: int = TELEGRAM_LIMIT, *, sep: str = "\n\n"
) -> list[str]:
    """Join paragraphs with blank lines (or ``sep``) into as few messages as fit under ``limit``."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        candidate = f"{current}{sep}{block}" if current else block
        if len(candidate) <= limit:
            current = candidate
        else:
            if current:
                messages.append(current)
            current = block
    if current:
        messages.append(current)
    return messages


def telegram_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def fit_message(text: str, *, html: bool, limit: int = TELEGRAM_LIMIT) -> list[tuple[str, bool]]:
    """``text`` as messages Telegram accepts, each (text, is HTML): split between paragraphs
    (HTML paragraphs are balanced, so such a split is safe); a paragraph too long on its own is
    sent as plain text in pieces (its tags dropped, its entities unescaped)."""
    if telegram_length(text) <= limit:
        return [(text, html)]
    out: list[tuple[str, bool]] = []
    for block in split_messages(text.split("\n\n"), limit):
        if telegram_length(block) <= limit:
            out.append((block, html))
            continue
        plain = unescape(_TAG.sub("", block)) if html else block
        out += [(piece, False) for piece in _pieces(plain, size=min(_PIECE, limit // 2))]
    return out


def _pieces(text: str, size: int = _PIECE) -> list[str]:
    """Split an over-long paragraph at line ends, else at sentence ends, else by length."""
    if len(text) <= size:
        return [text]
    pieces: list[str] = []
    rest = text
    while len(rest) > size:
        window = rest[:size]
        cut = max(window.rfind("\n"), window.rfind("。"), window.rfind(". "))
        cut = cut + 1 if cut > size // 2 else size
        pieces.append(rest[:cut])
        rest = rest[cut:]
    return [*pieces, rest] if rest else pieces
