"""Small real implementations of the core's seams, for tests of the faces."""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Sequence

import numpy as np

from index import Answer, Context, Reason, Source, TaughtBank
from index.model.encoder import Vectors


class EchoAnswerer:
    """Answers every question with itself, from one version; can be made to wait or fail.

    ``hold`` makes ``answer_many`` block until released (to switch versions mid-answer);
    ``fail`` makes it raise.
    """

    def __init__(self, version: str, *, hold: bool = False, fail: bool = False):
        self.version = version
        self.documents = 1
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.fail = fail
        self.batches: list[list[str]] = []
        self.previous: list[list[Context | None]] = []  # the earlier turns of each batch

    def answer_many(
        self,
        questions: Sequence[str],
        k: int = 5,
        *,
        previous: Sequence[Context | None] = (),
        taught: TaughtBank | None = None,
    ) -> list[Answer]:
        self.batches.append(list(questions))
        self.previous.append(list(previous))
        self.started.set()
        self.release.wait(30)
        if self.fail:
            raise RuntimeError("the answering core failed")
        answers = [self._answer(q, k) for q in questions]
        if taught is not None and len(taught):  # taught banks in these tests: CharBigramEncoder
            vectors = CharBigramEncoder().encode_queries(list(questions))
            for i, vector in enumerate(vectors):
                match = taught.match(vector)
                if match is not None:
                    answers[i] = Answer(
                        questions[i], True, match.taught.answer, None, (), self.version,
                        taught=match.taught,
                    )  # fmt: skip
        return answers

    def sources(self, passage_ids: Sequence[str], scores: Sequence[float]) -> tuple[Source, ...]:
        return tuple(_source(pid, score) for pid, score in zip(passage_ids, scores, strict=True))

    def suggested_question(self, key: str) -> str | None:
        return None  # no question bank

    def _answer(self, question: str, k: int) -> Answer:
        if not question.strip():
            return Answer(question, False, "", None, (), self.version, reason=Reason.EMPTY)
        sources = tuple(_source(f"{self.version}:{question}:{i}", 1.0 - i / 10) for i in range(k))
        return Answer(
            question, True, f"答：{question}", "第一部分", sources, self.version, document="文件"
        )


def _source(passage_id: str, score: float) -> Source:
    return Source(
        passage_id, "doc.txt", "文件", "第一部分", f"原文 {passage_id}", "paragraph", score
    )


class CharBigramEncoder:
    """An :class:`index.Encoder` without a model: hashed character bigrams, L2-normalised.
    Texts that share wording land close together, which is all retrieval tests need."""

    model_name = "char-bigram-test"
    dim = 256
    max_tokens = 512

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts)

    def encode_passages(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts)

    def count_tokens(self, text: str) -> int:
        return len(text) + 2

    def _encode(self, texts: Sequence[str]) -> Vectors:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for a, b in itertools.pairwise(text):
                digest = hashlib.blake2b(f"{a}{b}".encode(), digest_size=4).digest()
                vectors[row, int.from_bytes(digest, "little") % self.dim] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-9)
