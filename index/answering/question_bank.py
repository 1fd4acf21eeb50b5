"""The question bank: the questions the project wrote as workers ask them (``train/questions``),
each linked to the passages that answer it.

A version keeps every bank question its documents answer, with their vectors (``bank.jsonl``,
``bank.npy``, written when it is built; the vector cache spares a reload re-encoding them).
Ranking uses them all: a question that nearly repeats a bank question lifts the passages that
answer it (``index.answering.retrieval``), most of all where the model alone misses them. A
refusal offers the nearest of those the model itself finds (``offered``) and the bot, asked them,
answers (the answerer checks), one per passage, as questions the bot knows how to answer
("您可以这样问：…"), rather than keyword lists.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.answering.citations import CITATION, answers_passage
from index.ingest.chunking import Chunk

log = logging.getLogger(__name__)

QUESTION_BANK = Path(__file__).parents[2] / "train" / "questions"
BANK = "bank.jsonl"
BANK_VECTORS = "bank.npy"
# A bank question is offered only when it is at least this close to the refused question
# (cosine, query to query), so a question about the weather is not offered labour law.
MIN_SIMILARITY = 0.60


@dataclass(frozen=True)
class QuestionBank:
    questions: tuple[str, ...]
    rows: tuple[tuple[int, ...], ...]  # the chunk rows that answer each question
    vectors: np.ndarray  # one query vector per question
    # Whether each question may be offered after a refusal: an answering passage is among its
    # three nearest, so asking it gets the answer it promises.
    offered: tuple[bool, ...]

    @classmethod
    def empty(cls, dim: int) -> QuestionBank:
        return cls((), (), np.zeros((0, dim), dtype=np.float32), ())

    def __len__(self) -> int:
        return len(self.questions)

    def nearest(
        self, query: np.ndarray, n: int = 3, *, answered: Callable[[int], bool] | None = None
    ) -> tuple[str, ...]:
        """The ``n`` offered bank questions nearest ``query``, at most one per answering
        passage, none below :data:`MIN_SIMILARITY`; with ``answered``, only those (by index)
        it says the bot answers, asked of the ``n * 3`` nearest candidates at most (each costs
        a search the first time)."""
        if not self.questions:
            return ()
        scores = self.vectors @ query
        chosen: list[str] = []
        seen: set[int] = set()
        checks = n * 3
        for i in np.argsort(-scores, kind="stable")[: n * 20]:
            if scores[i] < MIN_SIMILARITY or len(chosen) == n or checks == 0:
                break
            if not self.offered[i] or seen & set(self.rows[i]):
                continue
            checks -= 1
            if answered is None or answered(int(i)):
                chosen.append(self.questions[i])
                seen.update(self.rows[i])
        return tuple(chosen)

    def write(self, folder: Path) -> None:
        with (folder / BANK).open("w", encoding="utf-8") as handle:
            for question, rows, offered in zip(
                self.questions, self.rows, self.offered, strict=True
            ):
                entry = {"q": question, "rows": rows, "offer": offered}
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        np.save(folder / BANK_VECTORS, self.vectors, allow_pickle=False)

    @classmethod
    def read(cls, folder: Path, dim: int) -> QuestionBank:
        """The bank of a version folder (empty for a version built without one)."""
        if not (folder / BANK).is_file():
            return cls.empty(dim)
        rows = [json.loads(line) for line in (folder / BANK).read_text("utf-8").splitlines()]
        vectors = np.load(folder / BANK_VECTORS, allow_pickle=False)
        if vectors.shape != (len(rows), dim):
            raise ValueError(f"{BANK_VECTORS} has shape {vectors.shape}, not ({len(rows)}, {dim})")
        return cls(
            tuple(r["q"] for r in rows),
            tuple(tuple(r["rows"]) for r in rows),
            vectors,
            tuple(bool(r["offer"]) for r in rows),
        )


def bank_questions(
    chunks: Sequence[Chunk], folder: Path = QUESTION_BANK
) -> list[tuple[str, tuple[int, ...]]]:
    """The bank questions that ``chunks`` answer, with the rows that answer each."""
    if not folder.is_dir():
        return []
    by_article: dict[str, list[int]] = {}
    for row, chunk in enumerate(chunks):
        if chunk.article:
            by_article.setdefault(chunk.article, []).append(row)
    prose = [row for row, chunk in enumerate(chunks) if not chunk.article]
    found: dict[str, set[int]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            try:
                entry = json.loads(line)
                question, answers = str(entry["question"]), [str(a) for a in entry["answers"]]
            except (ValueError, KeyError, TypeError):
                log.warning("question bank %s: skipping an unreadable line", path.name)
                continue
            rows: set[int] = set()
            for answer in answers:
                cited = CITATION.match(answer)
                candidates = by_article.get(cited.group(2), []) if cited else prose
                rows.update(
                    r
                    for r in candidates
                    if answers_passage(chunks[r].doc_title, chunks[r].place, chunks[r].text, answer)
                )
            if rows:
                found.setdefault(question, set()).update(rows)
    return [(q, tuple(sorted(rows))) for q, rows in found.items()]
