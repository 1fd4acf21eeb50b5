"""What an answer names: a law's article (《劳动合同法》第十九条) or a substring of a passage.

The evaluation sets, the training data and the question bank all link questions to passages
this way; one function decides whether a passage is the one named.
"""

from __future__ import annotations

import re

CITATION = re.compile(r"^《(.+)》(第.+条)$")


def answers_passage(document: str, place: str, text: str, answer: str) -> bool:
    """Whether a passage (its document's title, its place, its text) is what ``answer`` names:
    the cited article (《劳动合同法》第十九条), or a passage containing the substring."""
    cited = CITATION.match(answer)
    if cited is None:
        return answer in text
    law, article = cited.groups()
    return document.endswith(law) and place.rsplit(" ", maxsplit=1)[-1] == article
