"""From a question to a grounded answer: validate, retrieve, decide whether the documents answer,
and quote the one to three sentences that do (numbers and names verbatim), with their section.

No language model is involved: the answer is extractive, so it cannot state what the documents
do not say.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.answering.retrieval import HybridRetriever, Retrieval, weighted_coverage
from index.ingest.chunking import Chunk
from index.text import has_number, jieba_analyse, meaningful_chars, split_clauses, tokenize

MAX_QUESTION_CHARS = 1000
ABSTENTION_MODEL = Path(__file__).with_name("abstention_model.json")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_ANSWER_SENTENCES = 3
_SENTENCE_MARGIN = 0.04
_LONG_QUOTE_CHARS = 120


# The reason given when the documents hold no answer (as opposed to an unaskable question).
NOT_IN_DOCUMENTS = "the documents do not answer this question"


@dataclass(frozen=True)
class Source:
    text: str
    section: str
    score: float
    chunk_id: str
    doc_id: str
    kind: str


@dataclass(frozen=True)
class Answer:
    question: str
    answered: bool
    answer: str
    section: str | None
    sources: tuple[Source, ...]
    reason: str | None = None
    suggestions: tuple[str, ...] = ()
    latency_ms: float = 0.0
    confidence: float = 0.0

    def to_json(self) -> dict[str, object]:
        """The command-line contract's object (``python -m bot ask --json``)."""
        return {
            "question": self.question,
            "answered": self.answered,
            "answer": self.answer,
            "sources": [
                {"text": s.text, "section": s.section, "score": round(s.score, 6)}
                for s in self.sources
            ],
            "latency_ms": round(self.latency_ms, 3),
            **({"reason": self.reason} if self.reason else {}),
        }


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


def clean_question(raw: str) -> str:
    """Drop invisible and control characters, fold whitespace; what remains is searched."""
    text = _INVISIBLE.sub("", raw)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(text.split())


class Answerer:
    """Answers questions from one loaded index version."""

    def __init__(self, retriever: HybridRetriever, abstention: AbstentionModel):
        self.retriever = retriever
        self.abstention = abstention
        self._sentence_start = np.concatenate(
            [[0], np.cumsum([len(c.sentences) for c in retriever.version.chunks])]
        )
        self.topics = _topics(retriever.version.chunks)

    @property
    def version_id(self) -> str:
        return self.retriever.version.version_id

    def answer(self, question: str, k: int = 5) -> Answer:
        started = time.perf_counter()
        cleaned, refusal = self.check(question)
        if refusal is not None:
            return self.refused(question, refusal, started)
        retrieval = self.retriever.retrieve(cleaned, k)
        return self.answer_retrieved(question, retrieval, started)

    def answer_retrieved(self, question: str, retrieval: Retrieval, started: float) -> Answer:
        """Decide and extract, given retrieval already done (possibly batched elsewhere)."""
        sources = tuple(
            Source(
                p.chunk.text,
                p.chunk.section,
                p.score,
                p.chunk.chunk_id,
                p.chunk.doc_id,
                p.chunk.kind,
            )
            for p in retrieval.passages
        )
        margin = self.abstention.margin(abstention_features(retrieval, self.retriever))
        if margin < 0 or not retrieval.passages:
            return Answer(
                question=question,
                answered=False,
                answer="",
                section=None,
                sources=sources,
                reason=NOT_IN_DOCUMENTS,
                suggestions=self.topics,
                latency_ms=(time.perf_counter() - started) * 1000,
                confidence=margin,
            )
        text, section = self._extract(retrieval)
        return Answer(
            question=question,
            answered=True,
            answer=text,
            section=section,
            sources=sources,
            latency_ms=(time.perf_counter() - started) * 1000,
            confidence=margin,
        )

    def check(self, question: str) -> tuple[str, str | None]:
        """(cleaned question, reason it cannot be answered or None)."""
        if len(question) > MAX_QUESTION_CHARS:
            return "", (
                f"the question is too long ({len(question)} characters; the limit is "
                f"{MAX_QUESTION_CHARS}); please ask one short question"
            )
        cleaned = clean_question(question)
        if not cleaned:
            return "", "the question is empty"
        if meaningful_chars(cleaned) == 0:
            return "", "the question has no words to search for (only symbols or emoji)"
        return cleaned, None

    def refused(self, question: str, reason: str, started: float) -> Answer:
        return Answer(
            question=question,
            answered=False,
            answer="",
            section=None,
            sources=(),
            reason=reason,
            suggestions=self.topics,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def _extract(self, retrieval: Retrieval) -> tuple[str, str]:
        """The best sentences of the top passages, scored by meaning, wording and answer type."""
        candidates: list[tuple[float, int, int, str, Chunk]] = []
        for rank, passage in enumerate(retrieval.passages[:3]):
            row = self.retriever.row_of[passage.chunk.chunk_id]
            start = int(self._sentence_start[row])
            sims = (
                self.retriever.version.sentence_vectors[
                    start : start + len(passage.chunk.sentences)
                ]
                @ retrieval.query_vector
            )
            for i, sentence in enumerate(passage.chunk.sentences):
                words = self.retriever.sentence_words[start + i]
                score = float(sims[i]) + 0.5 * weighted_coverage(retrieval.words, words)
                if retrieval.quantity and has_number(sentence):
                    score += 0.03
                score -= 0.01 * rank  # ties go to the better passage
                candidates.append((score, row, i, sentence, passage.chunk))
        candidates.sort(key=lambda c: -c[0])
        best = candidates[0]
        chosen = [c for c in candidates if c[4] is best[4] and best[0] - c[0] <= _SENTENCE_MARGIN]
        chosen = sorted(chosen[:_ANSWER_SENTENCES], key=lambda c: c[2])
        return _trim("".join(c[3] for c in chosen), retrieval), best[4].section


def _trim(text: str, retrieval: Retrieval) -> str:
    """A long quote keeps only its clause that best matches the question's words."""
    clauses = split_clauses(text)
    if len(text) <= _LONG_QUOTE_CHARS or len(clauses) < 2:
        return text

    def score(clause: str) -> float:
        number = retrieval.quantity and has_number(clause)
        return weighted_coverage(retrieval.words, set(tokenize(clause))) + 0.1 * number

    best = max(clauses, key=score)
    return best.rstrip(";").strip()


def _topics(chunks: list[Chunk], per_section: int = 4) -> tuple[str, ...]:
    """Each section's title with its distinctive keywords (not the corpus-wide common ones)."""
    analyse = jieba_analyse()
    by_section: dict[str, str] = {}
    for chunk in chunks:
        by_section[chunk.section] = by_section.get(chunk.section, "") + chunk.text
    nouns = ("n", "nz", "vn", "nt", "l")
    common = set(analyse.extract_tags("".join(by_section.values()), topK=8, allowPOS=nouns))
    topics = []
    for section, text in by_section.items():
        words = [
            w
            for w in analyse.extract_tags(text, topK=20, allowPOS=nouns)
            if w not in common and len(w) >= 2
        ][:per_section]
        topics.append(f"{section}（{'、'.join(words)}）" if words else section)
    return tuple(topics)
