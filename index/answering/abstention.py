"""Whether the documents answer a question: a logistic model over question-relative features,
calibrated by ``python -m index calibrate`` and stored as inspectable JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.answering.retrieval import HybridRetriever, Retrieval, weighted_coverage

ABSTENTION_MODEL = Path(__file__).with_name("abstention_model.json")


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

    def margin(self, values: dict[str, float]) -> float:
        """Positive: the documents answer; negative: abstain."""
        x = np.array([values[name] for name in self.features])
        z = (x - np.array(self.mean)) / np.array(self.scale)
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
        )


def abstention_features(retrieval: Retrieval, retriever: HybridRetriever) -> dict[str, float]:
    """The calibrated features: how much the best sentence and passage stand out for this
    question, and how much of its (IDF-weighted) wording the three passages nearest in meaning
    contain. (Measured: the fused top three let BM25 pull in passages that share only common
    words such as 工会, which blurs the feature.)"""
    near_words: set[str] = set()
    for row in retrieval.dense_top:
        near_words |= retriever.chunk_words[row]
    return {
        "sentence_peak": retrieval.sentence_peak,
        "dense_peak": retrieval.dense_peak,
        "near3_weighted_coverage": weighted_coverage(retrieval.words, near_words),
    }
