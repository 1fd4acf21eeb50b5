"""Quality of the conversation features: follow-ups read with the earlier turn, and taught
answers matched question to question.

- ``eval/dialogues.jsonl``: dialogues of two to four turns, ``{"id", "lang", "split", "turns":
  [{"question", "answers", "follow_up"?}]}``. Each follow-up turn is answered with the context
  the bot would keep (the last answered turn's ``searched``) and without it; R@3 of each. The
  questions that stand alone (the dialogues' first turns and the question sets) are answered
  after an unrelated earlier turn and alone: R@3 must not move.
- ``eval/taught.jsonl``: ``{"id", "split", "taught", "same": [...], "other": [...]}``. Each entry
  is taught (its one question); a "same" wording must get its own answer, an "other" wording (or
  another entry's wording) none of them. Recall and false matches at a threshold; ``calibrate``
  picks the threshold on the dev split.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from index.answering.answerer import Answer, QuestionAnswerer
from index.answering.citations import CITATION
from index.answering.dialogue import Context
from index.answering.evaluation import Question, holds
from index.answering.taught import TaughtAnswer, TaughtBank
from index.model.encoder import Encoder

TOP = 3


@dataclass(frozen=True)
class Turn:
    question: str
    answers: tuple[str, ...]
    follow_up: bool


@dataclass(frozen=True)
class Dialogue:
    did: str
    lang: str
    split: str
    turns: tuple[Turn, ...]


def load_dialogues(path: Path) -> list[Dialogue]:
    dialogues = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            turns = tuple(
                Turn(t["question"], tuple(t["answers"]), bool(t.get("follow_up")))
                for t in row["turns"]
            )
            dialogues.append(Dialogue(row["id"], row["lang"], row["split"], turns))
    return dialogues


def as_questions(dialogue: Dialogue) -> list[Question]:
    """The dialogue's turns as questions (in order; a law question when every answer cites an
    article), for ``python -m index calibrate`` to ask turn by turn."""
    questions = []
    for n, turn in enumerate(dialogue.turns, 1):
        law = bool(turn.answers) and all(CITATION.match(a) for a in turn.answers)
        english = dialogue.lang == "en"
        kind = ("law_english" if english else "law") if law else ("english" if english else "fact")
        questions.append(
            Question(f"{dialogue.did}-{n}", kind, turn.question, turn.answers, dialogue.split)
        )
    return questions


def found(answer: Answer, answers: Sequence[str], k: int = TOP) -> bool:
    """Whether one of the first ``k`` sources is a passage ``answers`` names."""
    return any(holds(s, a) for s in answer.sources[:k] for a in answers)


@dataclass
class Tally:
    hits: int = 0
    total: int = 0

    def add(self, hit: bool) -> None:
        self.hits += hit
        self.total += 1

    @property
    def share(self) -> float:
        return self.hits / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.share:.3f} ({self.hits}/{self.total})"


def evaluate_dialogues(
    answerer: QuestionAnswerer, dialogues: Sequence[Dialogue], standalone: Sequence[Turn]
) -> str:
    """R@3 of follow-up turns with and without the context, and of questions that stand
    alone with an unrelated earlier turn and without; by split and language."""
    with_context: dict[str, Tally] = {}
    alone: dict[str, Tally] = {}
    read_with: dict[str, Tally] = {}
    for dialogue in dialogues:
        context: Context | None = None
        for turn in dialogue.turns:
            (answer,) = answerer.answer_many([turn.question], 10, previous=[context])
            if turn.follow_up:
                (single,) = answerer.answer_many([turn.question], 10)
                for key in (dialogue.split, f"{dialogue.split} {dialogue.lang}"):
                    with_context.setdefault(key, Tally()).add(found(answer, turn.answers))
                    alone.setdefault(key, Tally()).add(found(single, turn.answers))
                    read_with.setdefault(key, Tally()).add(answer.read_with is not None)
            if answer.answered:
                context = answer.context
    lines = ["follow-up turns, answered from the right passage in the top 3:"]
    for key in sorted(with_context):
        gain = (with_context[key].share - alone[key].share) * 100
        lines.append(
            f"  {key:<12} with context {with_context[key]}  without {alone[key]}  "
            f"(+{gain:.1f} points; replies saying so {read_with[key].share:.0%})"
        )
    lines.append(standalone_report(answerer, dialogues, standalone))
    return "\n".join(lines)


def standalone_report(
    answerer: QuestionAnswerer, dialogues: Sequence[Dialogue], standalone: Sequence[Turn]
) -> str:
    """R@3 of questions that stand alone, asked after an unrelated earlier turn and alone."""
    firsts = [d.turns[0].question for d in dialogues] or ["试用期最长多久？"]
    # The earlier turn each is asked after: a dialogue's opening, as the bot keeps it.
    earlier = [a.context for a in answerer.answer_many(firsts, 10)]
    questions = [t.question for t in standalone]
    previous = [earlier[(i * 7) % len(earlier)] for i in range(len(questions))]
    after = answerer.answer_many(questions, 10, previous=previous)
    single = answerer.answer_many(questions, 10)
    with_turn, without, misread = Tally(), Tally(), 0
    for turn, a, b in zip(standalone, after, single, strict=True):
        with_turn.add(found(a, turn.answers))
        without.add(found(b, turn.answers))
        misread += a.read_with is not None
    return (
        f"questions that stand alone ({len(questions)}): R@3 after an unrelated turn "
        f"{with_turn}, alone {without} (difference {with_turn.share - without.share:+.3f}; "
        f"replies saying they were read with the earlier turn: {misread})"
    )


@dataclass(frozen=True)
class TaughtCase:
    cid: str
    split: str
    taught: str
    same: tuple[str, ...]
    other: tuple[str, ...]


def load_taught_cases(path: Path) -> list[TaughtCase]:
    cases = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            cases.append(
                TaughtCase(
                    row["id"], row["split"], row["taught"], tuple(row["same"]), tuple(row["other"])
                )
            )
    return cases


@dataclass(frozen=True)
class TaughtScores:
    """For one split: each "same" wording's similarity to its own taught question and its
    best similarity to any other; each "other" wording's best similarity to any taught one."""

    own: np.ndarray
    best_other_of_same: np.ndarray
    best_of_other: np.ndarray

    def at(self, threshold: float) -> tuple[float, float]:
        """(recall: same wordings answered by their own answer, false: wordings answered by
        an answer that is not theirs, among all probe wordings)."""
        right = (self.own >= threshold) & (self.own >= self.best_other_of_same)
        wrong = (self.best_other_of_same >= threshold) & (self.best_other_of_same > self.own)
        false = wrong.sum() + (self.best_of_other >= threshold).sum()
        probes = len(self.own) + len(self.best_of_other)
        return float(right.mean()), float(false / probes)


def taught_scores(encoder: Encoder, cases: Sequence[TaughtCase], split: str) -> TaughtScores:
    """Every entry taught (its one question), every wording of ``split`` matched."""
    taught = encoder.encode_queries([c.taught for c in cases])
    own, best_other, best_of_other = [], [], []
    for i, case in enumerate(cases):
        if case.split != split:
            continue
        for vector in encoder.encode_queries(list(case.same)):
            scores = taught @ vector
            own.append(float(scores[i]))
            best_other.append(float(np.delete(scores, i).max()))
        for vector in encoder.encode_queries(list(case.other)):
            best_of_other.append(float((taught @ vector).max()))
    return TaughtScores(np.array(own), np.array(best_other), np.array(best_of_other))


def calibrate_taught(
    encoder: Encoder, cases: Sequence[TaughtCase], *, max_false: float = 0.02
) -> tuple[float, str]:
    """The lowest threshold whose false matches on the dev split stay under ``max_false``
    (a wrong taught answer is worse than the documents' answer or a refusal), and a report
    of recall and false matches on both splits around it."""
    dev = taught_scores(encoder, cases, "dev")
    grid = [round(t, 2) for t in np.arange(0.50, 0.99, 0.01)]
    chosen = next((t for t in grid if dev.at(t)[1] <= max_false), grid[-1])
    held = taught_scores(encoder, cases, "heldout")
    lines = [f"taught answers: threshold {chosen:.2f} (dev false matches <= {max_false:.0%})"]
    for t in sorted({chosen - 0.04, chosen - 0.02, chosen, chosen + 0.02, chosen + 0.04}):
        d, h = dev.at(t), held.at(t)
        mark = " <-" if t == chosen else ""
        lines.append(
            f"  {t:.2f}  dev recall {d[0]:.3f} false {d[1]:.3f}   "
            f"held-out recall {h[0]:.3f} false {h[1]:.3f}{mark}"
        )
    return chosen, "\n".join(lines)


def taught_bank_of(cases: Sequence[TaughtCase], encoder: Encoder, threshold: float) -> TaughtBank:
    """The cases taught as an admin would (one question each), as a bank."""
    answers = [
        TaughtAnswer(i + 1, (c.taught,), f"taught {c.cid}", date(2026, 11, 29))
        for i, c in enumerate(cases)
    ]
    return TaughtBank.build(answers, encoder, threshold)
