"""The extractive answer: the one to three sentences of the top passages that answer best,
numbers and names verbatim, a long sentence trimmed to its best clause. No language model is
involved, so an answer cannot state what the documents do not say."""

from __future__ import annotations

import numpy as np

from index.answering.retrieval import HybridRetriever, Retrieval, weighted_coverage
from index.ingest.chunking import Chunk
from index.text import has_number, split_clauses, tokenize

_ANSWER_SENTENCES = 3
_SENTENCE_MARGIN = 0.04
_LONG_QUOTE_CHARS = 120


class SentenceExtractor:
    """Picks the answering sentences from a retrieval over one loaded version."""

    def __init__(self, retriever: HybridRetriever):
        self.retriever = retriever
        chunks = retriever.version.chunks
        self._sentence_start = np.concatenate([[0], np.cumsum([len(c.sentences) for c in chunks])])

    def extract(self, retrieval: Retrieval) -> tuple[str, str]:
        """(quote, its section): the best sentences of the top passages, scored by meaning,
        wording and answer type."""
        candidates: list[tuple[float, int, str, Chunk]] = []
        vectors = self.retriever.version.sentence_vectors
        for rank, passage in enumerate(retrieval.passages[:3]):
            row = self.retriever.row_of[passage.chunk.chunk_id]
            start = int(self._sentence_start[row])
            count = len(passage.chunk.sentences)
            sims = vectors[start : start + count] @ retrieval.query_vector
            for i, sentence in enumerate(passage.chunk.sentences):
                words = self.retriever.sentence_words[start + i]
                score = float(sims[i]) + 0.5 * weighted_coverage(retrieval.words, words)
                if retrieval.quantity and has_number(sentence):
                    score += 0.03
                score -= 0.01 * rank  # ties go to the better passage
                candidates.append((score, i, sentence, passage.chunk))
        candidates.sort(key=lambda c: -c[0])
        best = candidates[0]
        chosen = [c for c in candidates if c[3] is best[3] and best[0] - c[0] <= _SENTENCE_MARGIN]
        chosen = sorted(chosen[:_ANSWER_SENTENCES], key=lambda c: c[1])
        return _trim("".join(c[2] for c in chosen), retrieval), best[3].section


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
