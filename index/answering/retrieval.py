"""Hybrid retrieval: dense (passage and best-unit similarity) fused with BM25 over jieba words.

The fusion was chosen by measurement on ``eval/`` (the report and the laws; see README):

    score = z(cos(q, passage)) + unit_weight * z(max cos(q, unit)) + lexical_weight * z(bm25)
            + bank_weight * bank(max cos(q, a bank question the passage answers))
            + bank_lexical_weight * max bm25(q, a bank question the passage answers) / best

(the bank knows nothing of a document an admin adds: beside one, the bank terms only reorder
the passages of the documents it knows, among the places those hold without them)

where z() puts each signal in standard deviations over the question's candidates, so no signal
speaks louder for its scale (raw cosines crowd into a narrow band; BM25 spans 0-1). A unit is a
sentence or, of a long sentence, a clause, so a fact in one clause can carry its passage. An
English question matches no word, its BM25 is flat and drops out. Questions asking for a
quantity (多少, 几, how many) prefer passages that contain a number.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from index.answering.citations import CITATION, chunk_answers
from index.ingest.chunking import Chunk
from index.model.encoder import Encoder, Vectors
from index.store.version_folder import IndexVersion, load_bm25s
from index.text import (
    MEASURE_WORDS,
    general_idf,
    has_number,
    has_phone_number,
    has_quantity,
    tokenize,
)

_QUANTITY_QUESTION = re.compile(
    rf"多少|几[{MEASURE_WORDS}年天位]?|多久|多长时间|how (many|much|long)"
    # "What is the minimum wage in …?": English asks for a figure by naming it, the amount
    # noun ending its phrase (not "what is the special wage account").
    r"|\bwhat(?:'s|\s+is|\s+are|\s+was|\s+were)\s+(?:the\s+|my\s+|our\s+)?(?:[a-z-]+\s+){0,3}?"
    r"(?:wages?|salary|salaries|pay|rates?|fees?|dues|prices?|costs?|amounts?)"
    r"(?=\s*(?:$|[?.,!]|(?:in|for|of|on|at|if|when|during|per|now|here|there)\b))",
    re.I,
)
# 几 that tells a story rather than asks: 好几次, 十几个人, 几十个, 这几天, 前几天 (but 提前几天
# asks), 近几年, 几乎. Workers' long questions are full of them.
_INDEFINITE_JI = re.compile(r"好几|[十百千万]几|几[十百千万]|[这那]几|(?<!提)前几|近几|几乎")


def asks_for_quantity(question: str) -> bool:
    """Whether the question asks how many, how much or how long."""
    return bool(_QUANTITY_QUESTION.search(_INDEFINITE_JI.sub("", question)))


# A question for a telephone number: 电话是多少, 热线号码是什么, 打哪个电话, "what's the
# hotline"; not one that only mentions calling (打12333电话投诉有用吗, 打电话给政府那边举报,
# 老板打电话说什么时候发工资) nor another number (身份证号码拿去干什么).
_CONTACT_QUESTION = re.compile(
    r"(?:电话|热线|手机号|联系方式)(?:号码|号)?(?:是|为)?(?:多少|什么|啥|哪个|哪一个)"
    r"|(?:什么|啥|哪些)联系方式|[打拨](?:哪个|哪一个|什么|啥)(?:电话|号码|号)"
    r"|\bwhat(?:'s|\s+is|\s+are)\s+(?:the\s+|their\s+|its\s+|your\s+)?(?:[a-z-]+\s+){0,3}?"
    r"(?:phone|telephone|hotline|helpline|contact)\b"
    r"|\b(?:what|which)\s+(?:phone\s+)?number\b",
    re.I,
)


def asks_for_contact(question: str) -> bool:
    """Whether the question asks for a telephone number."""
    return bool(_CONTACT_QUESTION.search(question))


# A law's formal articles: its purpose ("为了…，制定本法。") and its date of effect ("本法自…起
# 施行"). They share the words of every question about the law and answer none of a worker's:
# "工伤赔偿包括哪些" was answered with 工伤保险条例第一条, "法律援助需要什么条件" with
# 法律援助法第一条, "农民工工资多久必须发一次" ranked 保障农民工工资支付条例第六十四条 first.
_PURPOSE_ARTICLE = re.compile(r"^为.{0,300}制定本(?:法|条例|规定|办法)。$", re.S)
_EFFECT_ARTICLE = re.compile(r"^本(?:法|条例|规定|办法)自.{0,40}施行")
# A question about the law itself: why it was made, when it took effect.
_ABOUT_THE_LAW = re.compile(
    r"目的|宗旨|为什么(?:要)?(?:制定|出台|立)|立法|施行|生效|(?:开始|正式|什么时候|何时)实施"
    r"|实施(?:日期|时间)|什么时候(?:开始|起)|哪(?:一)?天起"
    r"|purpose|take effect|took effect|effective|into force|in force",
    re.I,
)


def is_formal_article(chunk: Chunk) -> bool:
    """Whether ``chunk`` is a law's purpose or date-of-effect article."""
    text = chunk.text.strip()
    return bool(chunk.article) and bool(_PURPOSE_ARTICLE.match(text) or _EFFECT_ARTICLE.match(text))


def asks_about_the_law(question: str) -> bool:
    """Whether the question asks what a law is for or when it took effect."""
    return bool(_ABOUT_THE_LAW.search(question))


# Who ends the contract. A law says who may: "…，劳动者可以解除劳动合同" (劳动合同法第三十八条),
# "…，用人单位可以解除劳动合同" (第三十九条); a worker asks either "被开除了" (the employer ends
# it) or "我想辞职" (the worker does). The model hardly tells them apart ("Can my boss fire me
# without notice?" ranked 第三十八条's "the worker may leave at once" first). In a sentence that
# says someone may (or may not) end the contract, the one who does is the party that acts:
# named right before what it may do, or must do first (劳动者可以解除, 用人单位提前三十日…
# 通知, 劳动者解除劳动合同), and not as an object (通知用人单位, 与劳动者, 对…的劳动者); an
# agreement (协商一致) is neither's.
_ENDS_CONTRACT = re.compile(r"(?:可以|不得|有权)[^。；，]{0,40}?(?:解除|裁减人员)|者解除劳动合同")
_ACTS = re.compile(
    r"(?<![知向与对将给付的])(被派遣劳动者|劳动者|用人单位|职工|用工单位|劳务派遣单位)"
    r"[^，。；：:]{0,12}?(?:可以|不得|有权|提前|解除)"
)
_WORKER_PARTIES = frozenset({"劳动者", "被派遣劳动者", "职工"})
_FIRED = re.compile(
    r"开除|辞退|解雇|炒(?:了)?(?:我|鱿鱼)|裁员|裁掉|被(?:公司|单位|老板|厂里)?(?:解除|辞)|不用来了"
    r"|\bfir(?:e|ed|es|ing)\b|dismiss|laid off|lay(?:s|ing)? (?:me |us |him |her |them )?off|\bsack"
    r"|let (?:me|us) go",
    re.I,
)
_QUITS = re.compile(r"辞职|离职|不干了|跳槽|\bquit|resign", re.I)


def contract_enders(text: str) -> frozenset[str]:
    """Who a law's passage says may (or may not) end the contract: "worker", "employer"."""
    enders: set[str] = set()
    if "解除" not in text and "裁减" not in text:  # most passages: no regex (a library loads fast)
        return frozenset()
    for sentence in re.split(r"[。；\n]", text):
        if "协商一致" in sentence:
            continue
        for verb in _ENDS_CONTRACT.finditer(sentence):
            # The party of the verb's own clause (…，用人单位不得因此解除…), else the one the
            # sentence has act first (用人单位提前三十日…通知…，可以解除).
            clause = sentence.rfind("，", 0, verb.start()) + 1
            acts = _ACTS.search(sentence[clause : verb.end()]) or _ACTS.search(sentence)
            if acts:
                enders.add("worker" if acts.group(1) in _WORKER_PARTIES else "employer")
    return frozenset(enders)


def asks_who_ends(question: str) -> str | None:
    """Who the question has ending the contract: "employer" (开除, fired), "worker" (辞职,
    quit), or None (neither, or both)."""
    fired, quits = bool(_FIRED.search(question)), bool(_QUITS.search(question))
    if fired == quits:
        return None
    return "employer" if fired else "worker"


SUPERSEDED = Path(__file__).with_name("superseded.toml")


@lru_cache(maxsize=1)
def superseded_articles() -> dict[str, tuple[str, ...]]:
    """Each article a later or more specific shipped law changes (《劳动法》第八十二条), with the
    articles that state the rule in force (《劳动争议调解仲裁法》第二十七条, 第四十三条)."""
    entries = tomllib.loads(SUPERSEDED.read_text("utf-8"))["superseded"]
    return {e["older"]: tuple(e["newer"]) for e in entries}


def in_force_rows(chunks: Sequence[Chunk]) -> dict[int, tuple[int, ...]]:
    """By chunk row, the rows of the articles in force that supersede it, for the loaded
    ``chunks`` (an article's every part; a pair whose newer article is not loaded is left out).
    The articles are named as citations (《劳动法》第八十二条) and found the way every question
    file's are (``chunk_answers``), among the chunks of that article number only."""
    by_number: dict[str, list[int]] = {}
    for row, chunk in enumerate(chunks):
        if chunk.article:
            by_number.setdefault(chunk.article, []).append(row)

    def rows_of(citation: str) -> list[int]:
        cited = CITATION.match(citation)
        number = cited.group(2) if cited else ""
        return [r for r in by_number.get(number, ()) if chunk_answers(chunks[r], [citation])]

    newer_of = {}
    for older, newer in superseded_articles().items():
        successors = tuple(r for article in newer for r in rows_of(article))
        for row in rows_of(older) if successors else ():
            newer_of[row] = successors
    return newer_of


@dataclass(frozen=True)
class RetrievalParams:
    lexical_weight: float = 0.2
    # Weight of the best unit's cosine (the passage's own cosine weighs 1).
    unit_weight: float = 1.0
    quantity_penalty: float = 0.3
    # Among the passages ranked first, an article a later law changes (superseded.toml) is
    # placed just below the best of the articles in force ranked under it. 0: off.
    in_force_window: int = 20
    # A law's purpose or date-of-effect article, for a question that does not ask about the law
    # itself, loses this many standard scores (README: no rank of eval/ moved at 0.5-9, and the
    # one held-out question that had one first lost it at 2).
    formal_penalty: float = 2.0
    # A question that has one party end the contract (被开除 / 辞职): a law's passage that says
    # only the other party may end it loses this many standard scores (README: no rank of
    # eval/ moved at 1-6). 0: off.
    ender_penalty: float = 4.0
    # The question bank: a passage whose bank question the question is like gains up to
    # bank_weight standard scores. Like means a question-to-question cosine over a floor this
    # many standard deviations above the best bank cosine the bundled off-domain questions
    # reach on the version (each model has its own scale: 0.58 with the shipped adapter, 0.90
    # with the base model, whose cosines crowd near 0.85). Re-fitted on 6 December with the
    # dev sets (3.0 and 3.0 before; README).
    bank_weight: float = 4.0
    bank_floor_sd: float = 2.0
    # The bank by words: a passage whose bank questions share the question's words (BM25 over
    # the bank questions, scaled to the best) gains up to this many standard scores (chosen on
    # the dev split, 6 December; README). Neither bank signal moves a passage of a document the
    # bank knows nothing of (an admin's) from its place (``_lift_known``).
    bank_lexical_weight: float = 2.0
    # Above this many passages, only the nearest this many by meaning and the best this many by
    # BM25 are scored in full.
    candidates: int = 100
    # A follow-up: passages of the documents the earlier turn was answered from gain this many
    # standard scores (workers' follow-ups mostly stay with the same law; eval/dialogues.jsonl).
    context_weight: float = 1.0


@dataclass(frozen=True)
class Passage:
    chunk: Chunk
    score: float
    dense: float
    sentence: float
    lexical: float


@dataclass(frozen=True)
class Retrieval:
    """Ranked passages for one question, plus what abstention and answer extraction need."""

    question: str
    query_vector: Vectors
    words: tuple[str, ...]
    passages: tuple[Passage, ...]
    dense_best: float  # the best passage cosine
    unit_best: float  # the best unit (sentence or clause) cosine
    quantity: bool
    contact: bool  # asks for a telephone number
    dense_top: tuple[int, ...]  # chunk rows of the three passages nearest in meaning
    follow_up: bool = False  # searched read with an earlier turn (a follow-up's topic)

    @property
    def wants(self) -> tuple[Callable[[str], bool], ...]:
        """What an answer's quote must state, by what the question asks for: an amount (多少,
        几, 多久, how many) and a telephone number (电话是多少), each a test of a text."""
        asked = ((self.quantity, has_quantity), (self.contact, has_phone_number))
        return tuple(states for wanted, states in asked if wanted)


@lru_cache(maxsize=65536)
def idf(word: str) -> float:
    return general_idf()(word)


def weighted_coverage(words: tuple[str, ...], vocabulary: Set[str]) -> float:
    """IDF-weighted share of ``words`` found in ``vocabulary``: missing rare words weigh most."""
    total = sum(idf(w) for w in words)
    return sum(idf(w) for w in words if w in vocabulary) / total if total else 0.0


def top_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest ``scores`` (in no order). Exact, without partitioning every
    score: the k-th largest of every 16th score is a floor that at least k scores reach, so only
    the few at or above it are partitioned (measured at a million scores: 10 ms -> ~2 ms)."""
    if len(scores) <= k:
        return np.arange(len(scores))
    step = 16
    if len(scores) >= step * k * 4:
        sample = scores[::step]
        floor = np.partition(sample, len(sample) - k)[len(sample) - k]
        above = np.flatnonzero(scores >= floor)
        return above[np.argpartition(scores[above], len(above) - k)[len(above) - k :]]
    return np.argpartition(scores, len(scores) - k)[len(scores) - k :]


@lru_cache(maxsize=4)
def _bank_lexical_index(questions: tuple[str, ...]) -> Any:
    """BM25 (bm25s) over the bank questions' words; None for an empty bank. Built when a
    version is first opened (0.26 s for the 2,697 shipped questions) and shared by every
    retriever of the same bank (a reload's checks open several); it is only read."""
    if not questions:
        return None
    index = load_bm25s().BM25()
    index.index([tokenize(q) for q in questions], show_progress=False)
    return index


def _raise_to(
    best: np.ndarray, candidates: np.ndarray, rows: np.ndarray, scores: np.ndarray
) -> None:
    """Raise ``best`` (one value per candidate) to each of ``scores`` given for a passage
    ``rows``, where that row is a candidate. ``candidates`` is sorted: each row is found among
    them without a corpus-sized array."""
    at = np.minimum(np.searchsorted(candidates, rows), len(candidates) - 1)
    hit = candidates[at] == rows
    np.maximum.at(best, at[hit], scores[hit])


def _standard(scores: np.ndarray) -> np.ndarray:
    """``scores`` in standard deviations from their mean (all zero when they do not vary)."""
    spread = float(scores.std())
    if spread < 1e-9:
        return np.zeros_like(scores)
    result: np.ndarray = (scores - scores.mean()) / spread
    return result


class HybridRetriever:
    """Ranks the passages of one loaded index version for a question."""

    def __init__(self, version: IndexVersion, encoder: Encoder, params: RetrievalParams):
        self.version = version
        self.encoder = encoder
        self.params = params
        self._vectors = version.dense.reconstruct_n(0, version.dense.ntotal)
        self._vocabulary = set(version.bm25.vocab_dict)
        self._has_number = np.array([has_number(c.text) for c in version.chunks])
        self._formal = np.array([is_formal_article(c) for c in version.chunks], dtype=bool)
        enders = [
            contract_enders(c.lead + c.text) if c.article else frozenset() for c in version.chunks
        ]
        self._ended_by = {
            party: np.array([e == {party} for e in enders], dtype=bool)
            for party in ("worker", "employer")
        }
        self._in_force = in_force_rows(version.chunks)
        # The documents those pairs belong to: the rule reorders their passages among the places
        # they hold, and an admin's passages keep theirs.
        pair_rows = [r for row, newer in self._in_force.items() for r in (row, *newer)]
        pair_documents = {version.chunks[r].doc_id for r in pair_rows}
        self._in_pairs = np.array([c.doc_id in pair_documents for c in version.chunks], bool)
        self.row_of = {c.chunk_id: i for i, c in enumerate(version.chunks)}
        # Row of each chunk's first unit in ``sentence_vectors`` (and one past the last).
        self.sentence_start = np.concatenate(
            [[0], np.cumsum([len(c.sentences) for c in version.chunks])]
        ).astype(np.int64)
        # The words of a chunk or unit, by row: a question needs those of a few passages only,
        # so they are cut when first asked for (cutting every passage at load took 2 s for the
        # shipped corpus, and grows with it) and the most recent kept.
        self.chunk_words: Callable[[int], frozenset[str]] = lru_cache(maxsize=4096)(
            self._chunk_words
        )
        self.sentence_words: Callable[[int], frozenset[str]] = lru_cache(maxsize=4096)(
            self._sentence_words
        )
        # The question bank as (passage row, bank question) pairs, for the bank signal.
        bank = version.bank
        self._bank_rows = np.array([r for rows in bank.rows for r in rows], dtype=np.int64)
        self._bank_owner = np.repeat(np.arange(len(bank)), [len(rows) for rows in bank.rows])
        self.bank_floor = self.bank_floor_at(params.bank_floor_sd)
        # Whether the bank knows each passage's document (has a question for one of its passages).
        bank_documents = frozenset(version.chunks[int(r)].doc_id for r in self._bank_rows)
        self._bank_knows = np.array([c.doc_id in bank_documents for c in version.chunks], bool)
        self._bank_lexical = (
            _bank_lexical_index(bank.questions) if params.bank_lexical_weight else None
        )

    def _chunk_words(self, row: int) -> frozenset[str]:
        return frozenset(tokenize(self.version.chunks[row].search_text))

    def _sentence_words(self, row: int) -> frozenset[str]:
        owner = int(self.version.sentence_owner[row])
        unit = self.version.chunks[owner].sentences[row - int(self.sentence_start[owner])]
        return frozenset(tokenize(unit))

    def retrieve(self, question: str, k: int) -> Retrieval:
        return self.retrieve_encoded(question, self.encoder.encode_queries([question])[0], k)

    def retrieve_encoded(
        self, question: str, query: Vectors, k: int, *, prefer: frozenset[str] = frozenset()
    ) -> Retrieval:
        """Rank with a query vector computed elsewhere (the bot batches concurrent questions).
        A follow-up ``prefer``s the documents the earlier turn was answered from."""
        version = self.version
        words = tuple(tokenize(question))
        known = [w for w in words if w in self._vocabulary]

        # BM25 over every passage, once: it both adds candidates and scores them
        bm25 = np.asarray(version.bm25.get_scores(known)) if known else None
        candidates = self._candidates(query, bm25)
        dense = self._vectors[candidates] @ query
        sentence = self._best_sentence(query, candidates)
        lexical = np.zeros(len(candidates), dtype=np.float32)
        if bm25 is not None:
            scores = bm25[candidates]
            if scores.max() > 0:
                lexical = scores / scores.max()
        # Each signal as standard scores over this question's candidates: cosines crowd into
        # 0.85-0.92 while BM25 spans 0-1, so raw sums let BM25's noise decide (measured).
        fused = (
            _standard(dense)
            + self.params.unit_weight * _standard(sentence)
            + self.params.lexical_weight * _standard(lexical)
        )
        if self.params.formal_penalty and not asks_about_the_law(question):
            # Before the bank's lift, which reorders the known documents' passages among the
            # places they hold: a formal article of an admin's law is down where it stands.
            fused = fused - self.params.formal_penalty * self._formal[candidates]
        lift = np.zeros(len(candidates), dtype=np.float32)
        if self.params.bank_weight:
            lift += self.params.bank_weight * self._bank_signal(query, candidates)
        if self._bank_lexical is not None:
            lift += self.params.bank_lexical_weight * self._bank_word_signal(words, candidates)
        fused = self._lift_known(fused, lift, candidates)
        if prefer and self.params.context_weight:
            same = np.fromiter(
                (version.chunks[i].doc_id in prefer for i in candidates), bool, len(candidates)
            )
            fused = fused + self.params.context_weight * same
        ender = asks_who_ends(question) if self.params.ender_penalty else None
        if ender is not None:
            other = "worker" if ender == "employer" else "employer"
            fused = fused - self.params.ender_penalty * self._ended_by[other][candidates]
        quantity = asks_for_quantity(question)
        if quantity:
            fused = fused - self.params.quantity_penalty * ~self._has_number[candidates]
        fused = self._rule_in_force(fused, candidates)
        order = np.argsort(-fused, kind="stable")[:k]
        passages = tuple(
            Passage(
                version.chunks[candidates[i]],
                float(fused[i]),
                float(dense[i]),
                float(sentence[i]),
                float(lexical[i]),
            )
            for i in order
        )
        return Retrieval(
            question=question,
            query_vector=query,
            words=words,
            passages=passages,
            dense_best=float(dense.max()),
            unit_best=float(sentence.max()),
            quantity=quantity,
            contact=asks_for_contact(question),
            dense_top=tuple(int(row) for row in candidates[np.argsort(-dense, kind="stable")[:3]]),
        )

    def _rule_in_force(self, fused: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``fused`` with each superseded article among the first ``in_force_window`` passages
        placed just below the best article in force ranked under it there ("How long do I have
        to file for arbitration?" ranked 劳动法第八十二条's sixty days above 劳动争议调解仲裁法
        第二十七条's year). The passages of those laws move among the places
        they hold, keeping the places' scores; every other passage keeps its place and score."""
        window = self.params.in_force_window
        if not self._in_force or not window:
            return fused
        places = np.argsort(-fused, kind="stable")[:window]
        places = places[self._in_pairs[candidates[places]]]
        sequence = [int(i) for i in places]
        rank = {int(candidates[i]): n for n, i in enumerate(sequence)}
        moved = False
        for i in list(sequence):
            newer = [r for r in self._in_force.get(int(candidates[i]), ()) if r in rank]
            below = [r for r in newer if rank[r] > rank[int(candidates[i])]]
            if not below:
                continue
            best = sequence[rank[min(below, key=rank.__getitem__)]]
            sequence.remove(best)
            sequence.insert(sequence.index(i), best)
            rank = {int(candidates[j]): n for n, j in enumerate(sequence)}
            moved = True
        if not moved:
            return fused
        result = fused.copy()
        result[sequence] = fused[places]
        return result

    def bank_floor_at(self, sd: float) -> float:
        """The cosine a question must reach to a bank question to be like it: ``sd`` standard
        deviations above the best bank cosine of the bundled off-domain questions (the bank
        signal counts from ``bank_floor_sd``; a near repeat, for the answerer, from more)."""
        off_domain = self.version.reference.get("vectors")
        if not len(self.version.bank) or off_domain is None or not len(off_domain):
            return 1.0  # no bank, or no reference to place a floor: nothing is like a bank question
        best = (np.asarray(off_domain) @ self.version.bank.vectors.T).max(axis=1)
        floor = float(best.mean() + sd * best.std())
        return min(floor, 0.99)

    def _bank_signal(self, query: Vectors, candidates: np.ndarray) -> np.ndarray:
        """How like the question is to a bank question each candidate answers: the best such
        similarity (question to question) above the floor, scaled to 0-1; zero
        below it and for passages the bank has no question for (a document an admin added),
        which a signal over every candidate pushed down (measured: README)."""
        floor = self.bank_floor
        if floor >= 1.0:  # no bank, or no reference to place a floor: silent
            return np.zeros(len(candidates), dtype=np.float32)
        best = np.full(len(candidates), floor, dtype=np.float32)
        similarity = self.version.bank.vectors @ query
        near = similarity[self._bank_owner] > floor  # per (bank question, row it answers)
        if near.any():
            _raise_to(best, candidates, self._bank_rows[near], similarity[self._bank_owner[near]])
        signal: np.ndarray = (best - floor) / (1.0 - floor)
        return signal

    def _lift_known(
        self, fused: np.ndarray, lift: np.ndarray, candidates: np.ndarray
    ) -> np.ndarray:
        """``fused`` with the bank's ``lift``, which reorders the passages of the documents the
        bank knows among the places they hold without it: a passage of a document it knows
        nothing of (an admin's) keeps its place and score, since the bank, having no question
        for it, would only push it down: lifted over every candidate, the bank by words dropped
        职业病防治法's dev R@3, loaded beside the shipped corpus, from 0.67 to 0.53, and the bank
        by meaning 就业促进法's dev R@1 from 0.83 to 0.67. Silencing the bank whenever such a
        passage was near the question (the ten nearest in meaning until 7 December, then the
        five ranked first) spared the laws an admin loads but cost the questions about the
        shipped ones: beside each of three laws nothing was trained on, their dev R@1 / R@3 of
        270 fell from 231 / 260 alone to 224-230 / 252-259; kept in place instead, 226-231 /
        257-260, the three laws' own questions ranked exactly as with the gate (README)."""
        known = self._bank_knows[candidates]
        if known.all():
            lifted: np.ndarray = fused + lift
            return lifted
        places = np.argsort(-fused, kind="stable")
        places = places[known[places]]  # the places the known documents' passages hold
        order = np.argsort(-(fused + lift), kind="stable")
        order = order[known[order]]  # those passages as the bank ranks them
        result = fused.copy()
        result[order] = fused[places]
        return result

    def _bank_word_signal(self, words: tuple[str, ...], candidates: np.ndarray) -> np.ndarray:
        """How well the question's words match a bank question each candidate answers: BM25
        over the bank questions (written in workers' words: 开除, 社保, 打官司), scaled to the
        best match, the best per passage; zero for passages the bank has no question for."""
        signal = np.zeros(len(candidates), dtype=np.float32)
        lexical = self._bank_lexical
        if lexical is None:
            return signal
        known = [w for w in words if w in lexical.vocab_dict]
        scores = np.asarray(lexical.get_scores(known), dtype=np.float32) if known else None
        if scores is not None and scores.max() > 0:
            _raise_to(signal, candidates, self._bank_rows, scores[self._bank_owner] / scores.max())
        return signal

    def _candidates(self, query: Vectors, lexical: np.ndarray | None) -> np.ndarray:
        total, wanted = len(self.version.chunks), self.params.candidates
        if total <= wanted:
            return np.arange(total)
        _, dense_ids = self.version.dense.search(query[None, :], wanted)
        ids = set(int(i) for i in dense_ids[0] if i >= 0)
        if lexical is not None:
            ids.update(int(i) for i in top_indices(lexical, wanted) if lexical[i] > 0)
        return np.array(sorted(ids), dtype=np.int64)

    def _best_sentence(self, query: Vectors, candidates: np.ndarray) -> np.ndarray:
        """The best unit cosine of each candidate (-1 for a chunk without units), reading only
        the candidates' units: each chunk's units are one run of rows."""
        starts = self.sentence_start[candidates]
        counts = self.sentence_start[candidates + 1] - starts
        best = np.full(len(candidates), -1.0, dtype=np.float32)
        if not counts.any():
            return best
        offsets = np.cumsum(counts) - counts  # where each candidate's units begin in ``rows``
        rows = np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()))
        sims = self.version.sentence_vectors[rows] @ query
        filled = counts > 0
        best[filled] = np.maximum.reduceat(sims, offsets[filled])
        return best
