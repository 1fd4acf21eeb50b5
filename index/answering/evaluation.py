"""Retrieval and abstention quality on a question set, and the abstention model's calibration.

A question set is JSON lines: ``{"id", "kind", "question", "answers": [substring, ...]}``; a
passage answers a question when it contains one of the substrings. ``kind`` "unanswerable"
(with no answers) marks questions the documents cannot answer.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.answering.abstention import ABSTENTION_MODEL, AbstentionModel, abstention_features
from index.answering.answerer import QuestionAnswerer, clean_question
from index.answering.retrieval import HybridRetriever

UNANSWERABLE = "unanswerable"
KINDS_ORDER = ("fact", "colloquial", "english", UNANSWERABLE)
CALIBRATION_MIN_ANSWERED = 0.95


@dataclass(frozen=True)
class Question:
    qid: str
    kind: str
    question: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    question: Question
    rank: int | None  # 1-based rank of the first source holding an answer, None if absent
    answered: bool
    answer_has_substring: bool


def load_questions(path: Path) -> list[Question]:
    questions = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            data = json.loads(line)
            questions.append(
                Question(data["id"], data["kind"], data["question"], tuple(data.get("answers", [])))
            )
    return questions


def evaluate(answerer: QuestionAnswerer, questions: list[Question], k: int = 5) -> list[Outcome]:
    outcomes = []
    answers = answerer.answer_many([q.question for q in questions], k)
    for q, answer in zip(questions, answers, strict=True):
        rank = next(
            (i + 1 for i, s in enumerate(answer.sources) if any(a in s.text for a in q.answers)),
            None,
        )
        has_substring = any(a in answer.answer for a in q.answers)
        outcomes.append(Outcome(q, rank, answer.answered, has_substring))
    return outcomes


def report(outcomes: list[Outcome]) -> str:
    """R@1, R@3, R@5 and MRR by kind; abstention on unanswerable, coverage on the rest."""
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_kind[o.question.kind].append(o)
    lines = [f"{'kind':<12} {'n':>3}  {'R@1':>5} {'R@3':>5} {'R@5':>5} {'MRR':>5}  answered"]
    answerable: list[Outcome] = []
    chinese: list[Outcome] = []
    for kind in sorted(by_kind, key=lambda k: KINDS_ORDER.index(k) if k in KINDS_ORDER else 9):
        group = by_kind[kind]
        if kind == UNANSWERABLE:
            continue
        answerable += group
        if kind != "english":
            chinese += group
        lines.append(_row(kind, group))
    lines.append(_row("chinese", chinese))
    lines.append(_row("answerable", answerable))
    unanswerable = by_kind.get(UNANSWERABLE, [])
    abstained = sum(not o.answered for o in unanswerable)
    answered = sum(o.answered for o in answerable)
    quoted = sum(o.answer_has_substring for o in answerable if o.answered)
    lines += [
        f"abstention: {abstained}/{len(unanswerable)} unanswerable questions abstained "
        f"({_share(abstained, len(unanswerable))})",
        f"coverage:   {answered}/{len(answerable)} answerable questions answered "
        f"({_share(answered, len(answerable))})",
        f"answer text quotes the expected substring: {quoted}/{answered} answered questions",
    ]
    return "\n".join(lines)


def _row(name: str, group: list[Outcome]) -> str:
    def recall(k: int) -> float:
        return float(np.mean([o.rank is not None and o.rank <= k for o in group]))

    mrr = float(np.mean([1 / o.rank if o.rank else 0.0 for o in group]))
    answered = sum(o.answered for o in group)
    return (
        f"{name:<12} {len(group):>3}  {recall(1):5.2f} {recall(3):5.2f} {recall(5):5.2f} "
        f"{mrr:5.2f}  {answered}/{len(group)}"
    )


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "n/a"


def calibrate(
    retriever: HybridRetriever, questions: list[Question], path: Path = ABSTENTION_MODEL
) -> str:
    """Fit the abstention model on ``questions`` and write it to ``path``; return a summary.

    Logistic regression (balanced classes) over the standardised features; the threshold is
    the highest that still answers at least 95% of the answerable questions.
    """
    from sklearn.linear_model import LogisticRegression

    features = [
        abstention_features(retriever.retrieve(clean_question(q.question), 5), retriever)
        for q in questions
    ]
    names = tuple(features[0])
    x = np.array([[f[n] for n in names] for f in features])
    y = np.array([q.kind != UNANSWERABLE for q in questions])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(class_weight="balanced").fit((x - mean) / scale, y)
    decision = model.decision_function((x - mean) / scale)
    answerable_scores = np.sort(decision[y])
    allowed_misses = int(np.floor((1 - CALIBRATION_MIN_ANSWERED) * len(answerable_scores)))
    # The threshold that keeps the required share, placed half-way between the lowest score
    # kept and the next score below it: a threshold just under a kept question's score flipped
    # that question when a library update changed the features in their sixth decimal.
    kept = answerable_scores[allowed_misses]
    below = decision[decision < kept]
    threshold = float((kept + below.max()) / 2) if below.size else float(kept) - 1e-6
    abstained = float(np.mean(decision[~y] < threshold))
    answered = float(np.mean(decision[y] >= threshold))
    data = {
        "features": list(names),
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "weights": model.coef_[0].tolist(),
        "bias": float(model.intercept_[0]),
        "threshold": threshold,
        "provenance": {
            "calibrated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "questions": len(questions),
            "index_version": retriever.version.version_id,
            "answered_share": round(answered, 4),
            "abstained_share": round(abstained, 4),
        },
    }
    path.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    AbstentionModel.load(path)  # refuse to leave an unreadable file behind
    return (
        f"calibrated on {len(questions)} questions: answers {answered:.0%} of answerable, "
        f"abstains on {abstained:.0%} of unanswerable; written to {path}"
    )
