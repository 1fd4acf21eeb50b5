"""Whether the documents answer a question: a logistic model over question-relative features,
calibrated by ``python -m index calibrate`` and stored as inspectable JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.answering.retrieval import HybridRetriever, Retrieval, idf
from index.text import jieba_posseg, normalize, question_script

ABSTENTION_MODEL = Path(__file__).with_name("abstention_model.json")
# Fitted for the base model (`[embedding] adapter = "none"`): each model spreads its scores its
# own way, and the trained adapter's fit refused nearly every English question asked of the
# base model (README).
BASE_MODEL_ABSTENTION = Path(__file__).with_name("abstention_model.base.json")


def abstention_path(adapter: str) -> Path:
    """The abstention model fitted for the configured ``[embedding] adapter``."""
    return BASE_MODEL_ABSTENTION if adapter == "none" else ABSTENTION_MODEL


_IDF_SCALE = 12.0  # about the largest IDF in jieba's table


@dataclass(frozen=True)
class AbstentionModel:
    """Logistic model over question-relative features (``python -m index calibrate``)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    provenance: dict[str, object] = field(default_factory=dict)
    # The highest off-domain reference (per script, the mean best passage and unit cosines)
    # among the corpora it was fitted on: a version whose reference is higher is read on this
    # one (``abstention_features``). Empty in a file written before 7 December: no ceiling.
    reference_ceiling: dict[str, dict[str, float]] = field(default_factory=dict)

    def margin(self, values: dict[str, float]) -> float:
        """Positive: the documents answer; negative: abstain."""
        x = np.array([values[name] for name in self.features])
        z = np.nan_to_num((x - np.array(self.mean)) / np.array(self.scale))  # NaN: not measured
        return float(z @ np.array(self.weights) + self.bias - self.threshold)

    @classmethod
    def load(cls, path: Path = ABSTENTION_MODEL) -> AbstentionModel:
        data = json.loads(path.read_text("utf-8"))
        return cls(
            features=tuple(data["features"]),
            mean=tuple(data["mean"]),
            scale=tuple(data["scale"]),
            weights=tuple(data["weights"]),
            bias=float(data["bias"]),
            threshold=float(data["threshold"]),
            provenance=dict(data.get("provenance", {})),
            reference_ceiling={
                script: {kind: float(mean) for kind, mean in means.items()}
                for script, means in data.get("reference_ceiling", {}).items()
            },
        )

    def features_of(self, retrieval: Retrieval, retriever: HybridRetriever) -> dict[str, float]:
        """``abstention_features`` read against this model's reference ceiling."""
        return abstention_features(retrieval, retriever, self.reference_ceiling)


def abstention_features(
    retrieval: Retrieval,
    retriever: HybridRetriever,
    ceiling: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, float]:
    """Features that mean the same on any corpus: how far the best passage and the best unit
    stand above what the bundled off-domain questions reach on *this* version (in their
    standard deviations, per script; see ``reference.json``); how close the question is to one
    of those questions; and the rarest noun of the question that the nearest passages (the
    three nearest in meaning and the three ranked first) lack.

    The reference's means are read no higher than ``ceiling`` (per script, the highest the
    model was fitted on). A larger corpus lets questions nothing answers reach further (the
    best of more passages), and read against that raised bar a worker's question, whose
    answer is the same passage as before, looked less answerable: with 26 more social-law
    documents of the library loaded beside the shipped corpus (2,626 passages, the reference's
    mean 0.355 -> 0.425), 74% of the answerable dev law questions were answered instead of
    91% (README). A smaller corpus still lowers the bar.

    (The IDF-weighted share of the question's wording those passages hold was a feature until
    6 December: fitted with workers' fresh questions, whose own words the laws rarely use, its
    weight turned against its meaning; README.)"""
    script = question_script(retrieval.question)
    reference = retriever.version.reference[script]
    passage_mean, passage_std = reference["passage"]
    unit_mean, unit_std = reference["unit"]
    highest = (ceiling or {}).get(script)
    if highest:
        passage_mean = min(passage_mean, highest["passage"])
        unit_mean = min(unit_mean, highest["unit"])
    near_words: set[str] = set()
    for row in retrieval.dense_top:
        near_words |= retriever.chunk_words(row)
    for passage in retrieval.passages[:3]:
        near_words |= retriever.chunk_words(retriever.row_of[passage.chunk.chunk_id])
    return {
        "passage_z": (retrieval.dense_best - passage_mean) / passage_std,
        "unit_z": (retrieval.unit_best - unit_mean) / unit_std,
        "missing_noun": missing_noun(retrieval.question, near_words),
        # How close the question is to a bundled off-domain one ("what's the weather like"):
        # question to question in the model's space, so it means the same on any corpus.
        # Not measured for a follow-up (NaN: it weighs nothing): read with a turn the
        # documents answered, it is in their domain by the conversation, and "建了几个？" is as
        # like "太阳系有几颗行星？" as any short question.
        "off_domain_similarity": (
            float((retriever.version.reference["vectors"] @ retrieval.query_vector).max())
            if not retrieval.follow_up
            else float("nan")
        ),
    }


def missing_noun(question: str, near_words: set[str]) -> float:
    """How rare (jieba's general IDF, scaled to about 0-1) the rarest noun of the question is
    that none of the nearest passages contains: 北京市 in "北京市的最低工资是多少" when the
    passages only say who sets it. Zero when every noun is there."""
    missing = [
        idf(word)
        for word, tag in jieba_posseg().cut(question)
        if tag.startswith("n") and len(word) >= 2 and normalize(word) not in near_words
    ]
    return max(missing) / _IDF_SCALE if missing else 0.0
