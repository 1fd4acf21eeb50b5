"""Retrieval and abstention quality on a question set, and the abstention model's calibration.

A question set is JSON lines: ``{"id", "kind", "question", "answers": [substring, ...]}``; a
passage answers a question when it contains one of the substrings. ``kind`` "unanswerable"
(with no answers) marks questions the documents cannot answer.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from index.answering.abstention import ABSTENTION_MODEL, AbstentionModel, abstention_features
from index.answering.answerer import Answerer, QuestionAnswerer, Source, searched_text
from index.answering.citations import CITATION, answers_passage, first_answering
from index.answering.dialogue import Context
from index.answering.retrieval import HybridRetriever, RetrievalParams
from index.model.encoder import Encoder
from index.store.version_folder import IndexVersion

UNANSWERABLE = "unanswerable"  # the report's questions it cannot answer
NEAR = "law_near"  # near the laws' domain, but the laws do not answer them
REFUSED_KINDS = (UNANSWERABLE, NEAR)
KINDS_ORDER = ("fact", "colloquial", "english", "law", "law_english", UNANSWERABLE, NEAR)
REPORT = "report"
CALIBRATION_MIN_ANSWERED = 0.93
SPLITS = ("dev", "heldout")


@dataclass(frozen=True)
class Question:
    qid: str
    kind: str
    question: str
    answers: tuple[str, ...]  # substrings of the passage, or citations 《劳动合同法》第十九条
    split: str = "dev"
    # A question the report cannot answer but a law can: answerable when that law is loaded.
    laws_answers: tuple[str, ...] = ()

    def resolved(self, titles: Sequence[str]) -> Question:
        """The question as the loaded documents (their ``titles``) make it: answerable by a
        law only when that law is loaded, to be refused otherwise."""

        def loaded(answer: str) -> bool:
            cited = CITATION.match(answer)
            return cited is None or any(t.endswith(cited.group(1)) for t in titles)

        if self.laws_answers and all(loaded(a) for a in self.laws_answers):
            kind = "law_english" if self.kind == "english" or self.question.isascii() else "law"
            return replace(self, kind=kind, answers=self.laws_answers)
        if self.kind in ("law", "law_english") and not all(loaded(a) for a in self.answers):
            return replace(self, kind=NEAR, answers=())
        return self

    @property
    def answerable(self) -> bool:
        return self.kind not in REFUSED_KINDS

    @property
    def document(self) -> str:
        """The document the question is about: a law's short title, or the report."""
        for answer in self.answers:
            cited = CITATION.match(answer)
            if cited:
                return cited.group(1)
        return REPORT


@dataclass(frozen=True)
class Outcome:
    question: Question
    rank: int | None  # 1-based rank of the first source holding an answer, None if absent
    answered: bool
    answer_has_substring: bool


def load_questions(*paths: Path) -> list[Question]:
    questions = []
    for path in paths:
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                data = json.loads(line)
                questions.append(
                    Question(
                        data["id"],
                        data["kind"],
                        data["question"],
                        tuple(data.get("answers", [])),
                        data.get("split", "dev"),
                        tuple(data.get("laws_answers", [])),
                    )
                )
    return questions


def holds(source: Source, answer: str) -> bool:
    """Whether ``source`` answers: it is the cited article, or it contains the substring."""
    return answers_passage(source.document, source.section, source.text, answer)


def evaluate(
    answerer: QuestionAnswerer,
    questions: list[Question],
    k: int = 5,
    *,
    titles: Sequence[str] = (),
) -> list[Outcome]:
    """Each question (resolved against the loaded documents' ``titles``) answered and ranked."""
    questions = [q.resolved(titles) for q in questions]
    outcomes = []
    answers = answerer.answer_many([q.question for q in questions], k)
    for q, answer in zip(questions, answers, strict=True):
        rank = next(
            (i + 1 for i, s in enumerate(answer.sources) if any(holds(s, a) for a in q.answers)),
            None,
        )
        has_substring = any(a in answer.answer for a in q.answers if not CITATION.match(a))
        outcomes.append(Outcome(q, rank, answer.answered, has_substring))
    return outcomes


def report(outcomes: list[Outcome]) -> str:
    """For each split (and all): R@1, R@3, R@5 and MRR by kind and by document; abstention on
    the questions the documents do not answer, coverage on the rest."""
    sections = []
    for split in (*SPLITS, "all"):
        chosen = [o for o in outcomes if split in ("all", o.question.split)]
        if chosen:
            sections.append(f"== {split} ({len(chosen)} questions)\n" + _report_split(chosen))
    return "\n\n".join(sections)


def _report_split(outcomes: list[Outcome]) -> str:
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    by_document: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_kind[o.question.kind].append(o)
        if o.question.answerable:
            by_document[o.question.document].append(o)
    lines = [f"{'kind':<14} {'n':>3}  {'R@1':>5} {'R@3':>5} {'R@5':>5} {'MRR':>5}  answered"]
    for kind in sorted(by_kind, key=lambda k: KINDS_ORDER.index(k) if k in KINDS_ORDER else 99):
        if kind not in REFUSED_KINDS:
            lines.append(_row(kind, by_kind[kind]))
    report_zh = by_kind.get("fact", []) + by_kind.get("colloquial", [])
    laws = by_kind.get("law", []) + by_kind.get("law_english", [])
    for name, group in (("report zh", report_zh), ("laws", laws)):
        if group:
            lines.append(_row(name, group))
    lines.append("")
    lines.append(
        f"{'document':<14} {'n':>3}  {'R@1':>5} {'R@3':>5} {'R@5':>5} {'MRR':>5}  answered"
    )
    lines += [_row(doc, group) for doc, group in sorted(by_document.items())]
    lines.append("")
    report_answerable = [
        o for o in outcomes if o.question.answerable and o.question.document == REPORT
    ]
    law_answerable = [
        o for o in outcomes if o.question.answerable and o.question.document != REPORT
    ]
    for name, refused_kind, answerable in (
        ("report", UNANSWERABLE, report_answerable),
        ("laws", NEAR, law_answerable),
    ):
        refused = by_kind.get(refused_kind, [])
        abstained = sum(not o.answered for o in refused)
        answered = sum(o.answered for o in answerable)
        if refused or answerable:
            lines.append(
                f"{name:<7} abstention {abstained}/{len(refused)} "
                f"({_share(abstained, len(refused))}) of questions it does not answer; "
                f"coverage {answered}/{len(answerable)} "
                f"({_share(answered, len(answerable))}) of those it answers"
            )
    answered_all = [o for o in outcomes if o.question.answerable and o.answered]
    quoted = sum(o.answer_has_substring for o in answered_all)
    with_substring = sum(
        any(not CITATION.match(a) for a in o.question.answers) for o in answered_all
    )
    lines.append(f"answer text quotes the expected substring: {quoted}/{with_substring}")
    return "\n".join(lines)


def _row(name: str, group: list[Outcome]) -> str:
    def recall(k: int) -> float:
        return float(np.mean([o.rank is not None and o.rank <= k for o in group]))

    mrr = float(np.mean([1 / o.rank if o.rank else 0.0 for o in group]))
    answered = sum(o.answered for o in group)
    return (
        f"{name[:14]:<14} {len(group):>3}  {recall(1):5.2f} {recall(3):5.2f} {recall(5):5.2f} "
        f"{mrr:5.2f}  {answered}/{len(group)}"
    )


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "n/a"


def calibrate(
    configurations: Sequence[tuple[Answerer, Sequence[str]]],
    questions: list[Question],
    path: Path = ABSTENTION_MODEL,
    *,
    dialogues: Sequence[Sequence[Question]] = (),
) -> str:
    """Fit the abstention model on the dev split of ``questions`` and of ``dialogues`` (each a
    conversation's turns, asked in order), asked of every configuration (an answerer over one
    corpus, and the titles of its documents), and write it to ``path``.

    Each question is resolved against each configuration's documents, so a law question is an
    example to answer where the law is loaded and one to refuse where it is not. A dialogue's
    turn is searched as the bot searches it: read with the last answered turn when it leans on
    it ("建了几个？"), so the fit sees follow-ups as workers send them. Logistic regression
    (balanced classes) over the standardised features. The threshold is the highest that still
    answers CALIBRATION_MIN_ANSWERED of the answerable questions that stand alone (the question
    sets and each dialogue's first turn): the follow-ups teach the weights what a short turn
    read with its context looks like, but do not move the share promised. The held-out split
    is left for ``python -m index eval`` to report out of sample.
    """
    from sklearn.linear_model import LogisticRegression

    dev = [q for q in questions if q.split == "dev"]
    rows: list[dict[str, float]] = []
    labels: list[bool] = []
    alone: list[bool] = []  # the example stands alone (not a follow-up turn)
    for answerer, titles in configurations:
        resolved = [q.resolved(titles) for q in dev]
        searched = answerer.retrievals([q.question for q in resolved])
        for question, retrieval in zip(resolved, searched, strict=True):
            if retrieval is not None:
                rows.append(abstention_features(retrieval, answerer.retriever))
                labels.append(question.answerable)
                alone.append(True)
        for turns in (d for d in dialogues if d and d[0].split == "dev"):
            # Each turn read as the bot reads it after the turns before, as if each answerable
            # one had been answered (the fit does not lean on the model it replaces).
            context: Context | None = None
            for n, turn in enumerate(t.resolved(titles) for t in turns):
                (retrieval,) = answerer.retrievals([turn.question], previous=[context])
                if retrieval is None:
                    continue
                rows.append(abstention_features(retrieval, answerer.retriever))
                labels.append(turn.answerable)
                alone.append(n == 0)
                if turn.answerable and retrieval.passages:
                    context = Context(retrieval.question, (retrieval.passages[0].chunk.doc_id,))
    names = tuple(rows[0])
    x = np.array([[f[n] for n in names] for f in rows])
    y = np.array(labels)
    mean, scale = np.nanmean(x, axis=0), np.nanstd(x, axis=0) + 1e-9
    z = np.nan_to_num((x - mean) / scale)  # a feature not measured (NaN) weighs nothing
    model = LogisticRegression(class_weight="balanced").fit(z, y)
    decision = model.decision_function(z)
    answerable_scores = np.sort(decision[y & np.array(alone)])
    allowed_misses = int(np.floor((1 - CALIBRATION_MIN_ANSWERED) * len(answerable_scores)))
    # The threshold that keeps the required share, placed half-way between the lowest score
    # kept and the next score below it: a threshold just under a kept question's score flipped
    # that question when a library update changed the features in their sixth decimal.
    kept = answerable_scores[allowed_misses]
    below = decision[decision < kept]
    threshold = float((kept + below.max()) / 2) if below.size else float(kept) - 1e-6
    abstained = float(np.mean(decision[~y] < threshold))
    answered = float(np.mean(decision[y] >= threshold))
    # The highest reference the fit has seen, per script: a larger corpus is read on it.
    references = [a.retriever.version.reference for a, _ in configurations]
    ceiling = {
        script: {
            kind: max(float(r[script][kind][0]) for r in references) for kind in ("passage", "unit")
        }
        for script in references[0]
        if script != "vectors"
    }
    data = {
        "features": list(names),
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "weights": model.coef_[0].tolist(),
        "bias": float(model.intercept_[0]),
        "threshold": threshold,
        "reference_ceiling": ceiling,
        "provenance": {
            "calibrated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": configurations[0][0].retriever.encoder.model_name,
            "split": "dev",
            "examples": len(rows),
            "follow_up_turns": alone.count(False),
            "configurations": [
                {"index_version": a.version, "documents": len(t)} for a, t in configurations
            ],
            "answered_share": round(answered, 4),
            "abstained_share": round(abstained, 4),
        },
    }
    path.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    AbstentionModel.load(path)  # refuse to leave an unreadable file behind
    return (
        f"calibrated on {len(rows)} dev examples ({alone.count(False)} of them follow-up turns; "
        f"{len(configurations)} corpora): answers "
        f"{answered:.0%} of answerable, abstains on {abstained:.0%} of the rest (in sample); "
        f"written to {path}"
    )


def fusion_grid(
    version: IndexVersion,
    encoder: Encoder,
    questions: list[Question],
    titles: Sequence[str],
    grid: dict[str, Sequence[float]],
    base: RetrievalParams,
) -> str:
    """R@1, R@3 and MRR of the dev split's answerable questions (laws, the report, both) for
    every combination of the fusion weights in ``grid`` (``python -m index fusion``): how the
    fusion is re-fitted when the model changes. The held-out split is never looked at."""
    import itertools

    dev = [q for q in (q.resolved(titles) for q in questions if q.split == "dev") if q.answerable]
    vectors = encoder.encode_queries([searched_text(q.question) for q in dev])
    names = list(grid)
    lines = [" ".join(f"{n:>15}" for n in names) + "   laws R@1 R@3  MRR   report R@1 R@3"]
    for values in itertools.product(*(grid[n] for n in names)):
        weights: dict[str, Any] = dict(zip(names, values, strict=True))
        params = replace(base, **weights)
        retriever = HybridRetriever(version, encoder, params)
        ranks: dict[bool, list[int | None]] = {True: [], False: []}
        for question, vector in zip(dev, vectors, strict=True):
            passages = retriever.retrieve_encoded(searched_text(question.question), vector, 5)
            rank = first_answering((p.chunk for p in passages.passages), question.answers)
            ranks[question.document != REPORT].append(rank)

        def recall(group: list[int | None], k: int) -> float:
            return sum(r is not None and r <= k for r in group) / max(len(group), 1)

        laws, report_ = ranks[True], ranks[False]
        mrr = sum(1 / r for r in laws if r) / max(len(laws), 1)
        lines.append(
            " ".join(f"{v:>15}" for v in values)
            + f"   {recall(laws, 1):8.2f} {recall(laws, 3):.2f} {mrr:.2f}"
            + f"   {recall(report_, 1):10.2f} {recall(report_, 3):.2f}"
        )
    return "\n".join(lines)
