"""The extractive answer: the one to three sentences of the top passages that answer best,
numbers and names verbatim, a long sentence trimmed to its best clause, a sentence that
announces a list ("按照下列标准支付…：") with its items. No language model is involved, so an
answer cannot state what the documents do not say."""

from __future__ import annotations

import re
from collections.abc import Callable

from index.answering.retrieval import HybridRetriever, Retrieval, weighted_coverage
from index.ingest.chunking import ITEM, Chunk
from index.text import CLAUSE_ENDS, has_number, split_clauses, tokenize

_ANSWER_SENTENCES = 3
_SENTENCE_MARGIN = 0.04
_LONG_QUOTE_CHARS = 120
# A quote that ends announcing a list (…按照下列标准支付…：) gets the list: whole when its items
# come to at most this many characters (劳动法第四十四条's three overtime rates), else the item
# that answers best (工伤保险条例第十四条's seven cases: the one asked about).
_WHOLE_LIST_CHARS = 150
# A list's catch-all item ("（六）法律、行政法规规定劳动者可以解除劳动合同的其他情形。")
# restates its announcement's words and says nothing of its own: when it answers best, what
# is asked is the announcement, and the quote is the announcement with its list, whole up to
# this many characters (劳动合同法第三十八条's six cases, 工伤保险条例第十四条's seven).
_ASKED_LIST_CHARS = 400
_CATCH_ALL = re.compile(r"法律[、，]?(?:行政)?法规[^。；，]*规定[^。；，]*的其他[^。；，]*[。；]?$")


class SentenceExtractor:
    """Picks the answering sentences from a retrieval over one loaded version."""

    def __init__(self, retriever: HybridRetriever):
        self.retriever = retriever

    def extract(self, retrieval: Retrieval) -> tuple[str, Chunk]:
        """(quote, the passage it comes from): the best unit of the top passage, scored by
        meaning, wording and answer type, with its neighbours when they score nearly as well;
        an item of a law keeps the sentence it completes, and a sentence that announces a list
        gets its items."""
        # From the passage ranked first: quoting the best unit of the first three let a unit that
        # shares the question's words (加班费) outvote the article the ranking put first
        # (measured on eval/: quotes holding the expected text 52/62 -> 54/62).
        chunk = retrieval.passages[0].chunk
        scores = self._unit_scores(chunk, retrieval, retrieval.words)
        top = max(range(len(scores)), key=scores.__getitem__)
        if is_catch_all(chunk.sentences[top]):
            cases = _asked_list(chunk, top)
            if cases is not None:
                return cases, chunk
            scores[top] -= 9.0  # never the unit a quote is built on
            top = max(range(len(scores)), key=scores.__getitem__)
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
        units = chunk.sentences
        first, last = _whole_sentences(units, first, last, law=bool(chunk.article))
        quote = _trim("".join(units[first : last + 1]), retrieval)
        announced = _lead_index(chunk, first)
        if announced is not None:
            listed = _whole_list(units, _item_spans(units, announced))
            if listed is not None and last <= listed[-1]:
                # An item of a short list: the list whole ("周末加班给多少钱" was answered with
                # the public-holiday rate of 劳动法第四十四条, the item nearest in meaning).
                quote = "".join(units[i] for i in listed)
            lead = units[announced]
        else:  # a long article's part carries its list's announcement as ``chunk.lead``
            lead = chunk.lead if chunk.article and ITEM.match(units[first]) else ""
        quote = f"{lead}{quote}" if lead and not quote.startswith(lead) else quote
        items = "".join(units[i] for i in self._list(chunk, retrieval, last))
        return quote + items, chunk

    def _first_unit(self, chunk: Chunk) -> int:
        """The row of ``chunk``'s first unit among the version's unit vectors and words."""
        return int(self.retriever.sentence_start[self.retriever.row_of[chunk.chunk_id]])

    def _unit_scores(
        self, chunk: Chunk, retrieval: Retrieval, words: tuple[str, ...]
    ) -> list[float]:
        """Each unit of ``chunk`` scored for the question: its cosine, the share of ``words``
        it holds (IDF-weighted), and whether it states what is asked for (an amount...)."""
        start = self._first_unit(chunk)
        vectors = self.retriever.version.sentence_vectors[start : start + len(chunk.sentences)]
        sims = vectors @ retrieval.query_vector
        return [
            float(sims[i])
            + 0.5 * weighted_coverage(words, self.retriever.sentence_words(start + i))
            + 0.03 * sum(states(unit) for states in retrieval.wants)
            for i, unit in enumerate(chunk.sentences)
        ]

    def _list(self, chunk: Chunk, retrieval: Retrieval, last: int) -> list[int]:
        """The items a quote ending at unit ``last`` announces ("有下列情形之一的，…："), when it
        does: all of them if they are short, else the one that answers best, by the question's
        words the announcement does not already hold (工伤 is in 第十四条's "应当认定为工伤：",
        so it must not pick the catch-all "(七)…应当认定为工伤的其他情形"). A quote of the
        announcement alone said that there are standards, not what they are (25 of 389
        answers to the questions of eval/, 加班费怎么算 among them)."""
        units = chunk.sentences
        if not chunk.article or not _announces(units[last]):
            return []
        spans = _item_spans(units, last)
        listed = _whole_list(units, spans)
        if listed is not None:
            return listed
        if not spans:
            return []
        start = self._first_unit(chunk)
        announced = self.retriever.sentence_words(start + last)
        asked = tuple(w for w in retrieval.words if w not in announced)
        scores = self._unit_scores(chunk, retrieval, asked)
        best = max(spans, key=lambda span: max(scores[span[0] : span[1] + 1]))
        if is_catch_all(units[best[0]]):  # no case of its own answers: the cases, or the next
            cases = _whole_list(units, spans, _ASKED_LIST_CHARS)
            if cases is not None:
                return cases
            best = max(
                (span for span in spans if not is_catch_all(units[span[0]])),
                key=lambda span: max(scores[span[0] : span[1] + 1]),
                default=best,
            )
        return list(range(best[0], best[1] + 1))


def _asked_list(chunk: Chunk, item: int) -> str | None:
    """The announcement of the list that unit ``item`` is an item of, with all its items, when
    both are in ``chunk`` and the items come to at most ``_ASKED_LIST_CHARS``."""
    units = chunk.sentences
    announced = _lead_index(chunk, item)
    if announced is None:
        return None
    cases = _whole_list(units, _item_spans(units, announced), _ASKED_LIST_CHARS)
    if cases is None:
        return None
    return units[announced] + "".join(units[i] for i in cases)


def is_catch_all(unit: str) -> bool:
    """Whether a unit is a list's catch-all item: "（七）法律、行政法规规定应当认定为工伤的
    其他情形。"."""
    return bool(ITEM.match(unit)) and _CATCH_ALL.search(unit.strip()) is not None


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


def _whole_sentences(
    units: tuple[str, ...], first: int, last: int, *, law: bool = False
) -> tuple[int, int]:
    """The units ``first``..``last`` widened to whole sentences: a long sentence is divided
    into units at its commas, and a unit quoted alone can say the opposite of the law. Of
    劳动合同法第四十七条, "向其支付经济补偿的标准按职工月平均工资三倍的数额支付" without
    "劳动者月工资高于…三倍的，" reads as a rule for everyone; of 工伤保险条例第三十七条,
    "标准为：七级伤残为13个月的本人工资，" without what follows left ten-grade disability out
    of "十级伤残能赔多少". In a ``law``, clauses joined by "；" are one rule too: of
    职工带薪年休假条例第三条's three tiers, "已满1年不满10年的，年休假5天；" alone answered
    "我工作满十年了年假几天" with the wrong tier. An item starts a sentence of its own. The
    report's sentences run on through ASCII ";" (not a sentence end here): a quote widens to
    the clause between them, and ``_trim`` keeps a long one to its best such clause."""
    joins = CLAUSE_ENDS + ("；" if law else "")
    while first > 0 and units[first - 1].rstrip()[-1:] in joins and not ITEM.match(units[first]):
        first -= 1
    while (
        last + 1 < len(units)
        and units[last].rstrip()[-1:] in joins
        and not ITEM.match(units[last + 1])
    ):
        last += 1
    return first, last


def _announces(unit: str) -> bool:
    """Whether a unit of a law announces a list ("…有下列情形之一的，…：")."""
    return unit.rstrip().endswith(("：", ":"))


def _item_spans(units: tuple[str, ...], lead: int) -> list[tuple[int, int]]:
    """(first unit, last unit) of each item of the list that unit ``lead`` announces: an item
    longer than a unit runs on through its commas (an item's continuation is no item)."""
    spans = []
    i = lead + 1
    while i < len(units) and ITEM.match(units[i]):
        end = _whole_sentences(units, i, i)[1]
        spans.append((i, end))
        i = end + 1
    return spans


def _whole_list(
    units: tuple[str, ...], spans: list[tuple[int, int]], limit: int = _WHOLE_LIST_CHARS
) -> list[int] | None:
    """The units of a list's items (their ``spans``, from ``_item_spans``), when they come to at
    most ``limit`` characters, short enough to quote whole (劳动法第四十四条's three overtime
    rates; a list asked for by its cases, ``_ASKED_LIST_CHARS``)."""
    listed = list(range(spans[0][0], spans[-1][1] + 1)) if spans else []
    if not listed or sum(len(units[i]) for i in listed) > limit:
        return None
    return listed


def _lead_index(chunk: Chunk, unit: int) -> int | None:
    """The unit announcing the list that ``unit`` is an item of, when it is one and the
    announcement is in this passage (else a long article's part carries it as ``chunk.lead``).
    The nearest earlier unit that announces: an item's continuation is no item either."""
    units = chunk.sentences
    if not chunk.article or not ITEM.match(units[unit]):
        return None
    return next(
        (j for j in range(unit - 1, -1, -1) if not ITEM.match(units[j]) and _announces(units[j])),
        None,
    )


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
