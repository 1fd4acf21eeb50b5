"""What an answer names: a law's article (《劳动合同法》第十九条) or a substring of a passage.

The evaluation sets, the training data and the question bank all link questions to passages
this way; one function decides whether a passage is the one named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol

CITATION = re.compile(r"^《(.+)》(第.+条)$")


def answers_passage(document: str, place: str, text: str, answer: str) -> bool:
    """Whether a passage (its document's title, its place, its text) is what ``answer`` names:
    the cited article (《劳动合同法》第十九条), or a passage containing the substring."""
    cited = CITATION.match(answer)
    if cited is None:
        return answer in text
    law, article = cited.groups()
    return document.endswith(law) and place.rsplit(" ", maxsplit=1)[-1] == article


class Passage(Protocol):
    """What :func:`first_answering` reads of a passage (a chunk has these fields)."""

    @property
    def doc_title(self) -> str: ...
    @property
    def place(self) -> str: ...
    @property
    def text(self) -> str: ...


def chunk_answers(chunk: Passage, answers: Sequence[str]) -> bool:
    """Whether ``chunk`` is what one of ``answers`` names."""
    return any(answers_passage(chunk.doc_title, chunk.place, chunk.text, a) for a in answers)


def first_answering(chunks: Iterable[Passage], answers: Sequence[str]) -> int | None:
    """The rank (1-based) of the first of ``chunks`` that one of ``answers`` names, or None."""
    return next((i + 1 for i, c in enumerate(chunks) if chunk_answers(c, answers)), None)
