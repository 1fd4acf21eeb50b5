"""The extractive answer: the one to three sentences of the top passages that answer best,
numbers and names verbatim, a long sentence trimmed to its best clause. No language model is
involved, so an answer cannot state what the documents do not say."""

from __future__ import annotations

from collections.abc import Callable

from index.answering.retrieval import HybridRetriever, Retrieval, weighted_coverage
from index.ingest.chunking import ITEM, Chunk
from index.text import has_number, split_clauses, tokenize

_ANSWER_SENTENCES = 3
_SENTENCE_MARGIN = 0.04
_LONG_QUOTE_CHARS = 120


class SentenceExtractor:
    """Picks the answering sentences from a retrieval over one loaded version."""

    def __init__(self, retriever: HybridRetriever):
        self.retriever = retriever

    def extract(self, retrieval: Retrieval) -> tuple[str, Chunk]:
        """(quote, the passage it comes from): the best unit of the top passage, scored by
        meaning, wording and answer type, with its neighbours when they score nearly as well;
        an item of a law keeps the sentence it completes."""
        best: tuple[float, int, Chunk, list[float]] | None = None
        vectors = self.retriever.version.sentence_vectors
        # From the passage ranked first: quoting the best unit of the first three let a unit that
        # shares the question's words (加班费) outvote the article the ranking put first
        # (measured on eval/: quotes holding the expected text 52/62 -> 54/62).
        for passage in retrieval.passages[:1]:
            chunk = passage.chunk
            row = self.retriever.row_of[chunk.chunk_id]
            start = int(self.retriever.sentence_start[row])
            sims = vectors[start : start + len(chunk.sentences)] @ retrieval.query_vector
            scores = []
            for i, unit in enumerate(chunk.sentences):
                words = self.retriever.sentence_words(start + i)
                score = float(sims[i]) + 0.5 * weighted_coverage(retrieval.words, words)
                score += 0.03 * sum(states(unit) for states in retrieval.wants)
                scores.append(score)
            top = max(range(len(scores)), key=scores.__getitem__)
            if best is None or scores[top] > best[0]:
                best = (scores[top], top, chunk, scores)
        assert best is not None, "extract needs at least one passage"
        _, top, chunk, scores = best
        first = last = top
        while last - first + 1 < _ANSWER_SENTENCES:  # widen to near-equal neighbours
            left = scores[first - 1] if first > 0 else -9.0
            right = scores[last + 1] if last + 1 < len(scores) else -9.0
            if max(left, right) < scores[top] - _SENTENCE_MARGIN:
                break
            if left >= right:
                first -= 1
            else:
                last += 1
        for states in retrieval.wants:  # the amount or number asked for may sit in the next unit
            first, last = _widen_to(states, chunk.sentences, scores, first, last)
        quote = _trim("".join(chunk.sentences[first : last + 1]), retrieval)
        lead = _lead_of(chunk, first)
        return (f"{lead}{quote}" if lead and not quote.startswith(lead) else quote), chunk


def _widen_to(
    states: Callable[[str], bool],
    units: tuple[str, ...],
    scores: list[float],
    first: int,
    last: int,
) -> tuple[int, int]:
    """Extend the quote by the better-scoring neighbour that ``states`` what the question asks
    for (an amount for 多少/几/多久, a telephone number), when the quote itself does not."""
    if any(states(u) for u in units[first : last + 1]):
        return first, last
    neighbours = [i for i in (first - 1, last + 1) if 0 <= i < len(units) and states(units[i])]
    if not neighbours or last - first + 1 >= _ANSWER_SENTENCES:
        return first, last
    best = max(neighbours, key=scores.__getitem__)
    return min(first, best), max(last, best)


def _lead_of(chunk: Chunk, unit: int) -> str:
    """The sentence an item of a law completes ("…有下列情形之一的，…："), if ``unit`` is one."""
    if not chunk.article or not ITEM.match(chunk.sentences[unit]):
        return ""
    for earlier in reversed(chunk.sentences[:unit]):
        if not ITEM.match(earlier):
            return earlier
    return chunk.lead


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
