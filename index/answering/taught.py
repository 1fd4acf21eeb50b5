"""Answers the union's admins taught: matched question to question, not passage by passage.

An admin answers a question the documents do not ("会费每月交多少"), with the ways workers asked
it. A worker's question is encoded with the same encoder as the taught questions; the nearest
taught question, if its cosine reaches :data:`MATCH_THRESHOLD`, gives the answer. The threshold
is calibrated on ``eval/taught.jsonl``'s dev split (``python -m index taught``): paraphrases of
a taught question reach it, close questions it does not answer ("住房公积金交多少") do not.

:func:`group_by_meaning` uses the same measure to group the questions the bot could not answer,
so an admin sees one line per need, not one per wording.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from index.model.encoder import Encoder, Vectors

# Cosine between a worker's question and a taught question, both encoded as queries by the
# served (trained) model: the lowest at which under 2% of eval/taught.jsonl's dev wordings get
# an answer that is not theirs (`python -m index conversation`; README).
MATCH_THRESHOLD = 0.70
MAX_ANSWER_CHARS = 2000
MAX_QUESTION_CHARS = 300


@dataclass(frozen=True)
class TaughtAnswer:
    """One answer an admin taught, with the questions it answers."""

    answer_id: int
    questions: tuple[str, ...]
    answer: str
    taught_on: date  # when its current text was written (what a reply cites)
    revision: int = 1


@dataclass(frozen=True)
class TaughtMatch:
    taught: TaughtAnswer
    question: str  # the taught question it matched
    similarity: float


@dataclass(frozen=True)
class TaughtBank:
    """The taught answers in force, with one query vector per taught question."""

    answers: tuple[TaughtAnswer, ...]
    vectors: Vectors  # (questions, dim)
    owners: tuple[int, ...]  # the answer (index into ``answers``) of each vector's question
    questions: tuple[str, ...]  # each vector's question
    threshold: float = MATCH_THRESHOLD

    @classmethod
    def empty(cls) -> TaughtBank:
        return cls((), np.zeros((0, 0), dtype=np.float32), (), ())

    @classmethod
    def build(
        cls,
        answers: Sequence[TaughtAnswer],
        encoder: Encoder,
        threshold: float = MATCH_THRESHOLD,
    ) -> TaughtBank:
        """Encode every question of ``answers`` (one forward pass)."""
        questions = [(i, q) for i, a in enumerate(answers) for q in a.questions]
        if not questions:
            return cls.empty()
        vectors = encoder.encode_queries([q for _, q in questions])
        owners, texts = zip(*questions, strict=True)
        return cls(tuple(answers), vectors, owners, texts, threshold)

    def __len__(self) -> int:
        return len(self.answers)

    def match(self, query: Vectors) -> TaughtMatch | None:
        """The taught answer whose question is nearest ``query``, if near enough."""
        if not self.owners:
            return None
        scores = self.vectors @ query
        best = int(np.argmax(scores))
        if float(scores[best]) < self.threshold:
            return None
        taught = self.answers[self.owners[best]]
        return TaughtMatch(taught, self.questions[best], float(scores[best]))


def group_by_meaning(
    vectors: Vectors, weights: Sequence[int], threshold: float = MATCH_THRESHOLD
) -> list[list[int]]:
    """Rows grouped by meaning, largest (by summed ``weights``) first: each group's first row is
    the heaviest question not yet grouped, and holds every ungrouped row at least ``threshold``
    close to it — the same measure a taught answer is matched with, so teaching a group's first
    question answers the rest of it."""
    if len(vectors) == 0:
        return []
    order = sorted(range(len(vectors)), key=lambda i: -weights[i])
    similarity = vectors @ vectors.T
    left = np.ones(len(vectors), dtype=bool)
    groups: list[list[int]] = []
    for head in order:
        if not left[head]:
            continue
        members = [head] + [
            i for i in order if i != head and left[i] and similarity[head, i] >= threshold
        ]
        left[members] = False
        groups.append(members)
    groups.sort(key=lambda g: -sum(weights[i] for i in g))
    return groups
