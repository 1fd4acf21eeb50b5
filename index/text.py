"""Chinese-aware text utilities: sentence splitting and the word tokens BM25 indexes."""

from __future__ import annotations

import logging
import re
import unicodedata
import warnings
from functools import cache
from typing import Any

import numpy as np

# The one definition of the punctuation the core splits and joins text by.
SENTENCE_ENDS = "。！？；!?"  # a sentence ends at one of these (or a run of them)
ELLIPSIS = "…"
CLOSING_MARKS = "”’」』）)]】"  # closing quotes and brackets stay with the sentence they close
CLAUSE_ENDS = "，,、：:"  # where an over-long sentence may be divided
# Measure words after a Chinese numeral (七支, 十项): a quantity.
MEASURE_WORDS = "个项家名支场次件所人届批条"

# The structure of a law: 第四十七条 (第二十条之一), 第一章/第二节/第三编, items （一） or (十二).
_LEGAL_NUMERAL = "零〇一二三四五六七八九十百千"
ARTICLE_START = re.compile(
    rf"^(第[{_LEGAL_NUMERAL}]+条(?:之[{_LEGAL_NUMERAL}]+)?)(?:[\s\u3000]+(.*))?$"
)
DIVISION_START = re.compile(rf"^第[{_LEGAL_NUMERAL}]+([编分章节])(?:[\s\u3000]|$)")
ITEM_START = re.compile(r"^[（(][一二三四五六七八九十]+[）)]")

# A sentence ends at its end marks (runs of them, or an ellipsis), plus any closing marks.
_SENTENCE = re.compile(
    rf"[^{SENTENCE_ENDS}{ELLIPSIS}]*(?:[{SENTENCE_ENDS}]+|{ELLIPSIS}+|$)"
    rf"[{re.escape(CLOSING_MARKS)}]*"
)
# Inside one long sentence the report separates clauses with ASCII ";". Measured: treating it
# as a sentence end blurs the sentence-level abstention features (83% -> 72% abstained), so it
# only trims long quotes (index.answering.answerer).
_CLAUSE = re.compile(r"(?<=;)")
_TERMINAL = SENTENCE_ENDS + ELLIPSIS + CLOSING_MARKS
# Words too common (or too functional) to tell passages apart. Question words are here so that a
# question's *content* words carry the lexical score.
STOPWORDS = frozenset(
    # A word list reads best as words; split() keeps it editable.
    """的 了 和 与 及 是 在 有 为 对 把 被 从 到 将 也 都 就 而 并 等 中 上 下 个 这 那 其 之
    以 于 我 你 他 她 它 我们 你们 他们 咱 咱们 吗 呢 吧 啊 呀 么 嘛 哪 哪些 哪里 什么
    怎么 怎样 怎么样 多少 几 谁 是否 有没有 能不能 可以 能 会 要 想 请问 一下 还 又 啥 咋
    给 跟 让 被 一个 一些 the a an of to in on for and or is are was were be been how what
    which who whom where when why do does did can could will would please many much there
    their this that these those with by at as it its i me my we our you your""".split()  # noqa: SIM905
)
# A quantity: digits, or a Chinese numeral followed by a measure word (七支, 十项).
_NUMBER = re.compile(rf"[0-9０-９]|[一二两三四五六七八九十百千万]+[{MEASURE_WORDS}]")
_PUNCT_OR_SPACE = re.compile(r"^[\W_]+$", re.UNICODE)


def normalize(text: str) -> str:
    """NFKC (full-width to half-width, compatibility forms) and lower case, for matching only."""
    return unicodedata.normalize("NFKC", text).lower()


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, each keeping its end punctuation and closing quotes."""
    sentences = [m.group(0).strip() for m in _SENTENCE.finditer(text)]
    return [s for s in sentences if s]


def split_clauses(sentence: str) -> list[str]:
    """The ``;``-separated clauses of one sentence (the sentence itself when there are none)."""
    return [c for c in _CLAUSE.split(sentence) if c.strip()]


def is_terminated(text: str) -> bool:
    """True when ``text`` ends like a finished sentence (Chinese or Western punctuation)."""
    stripped = text.rstrip()
    return bool(stripped) and stripped[-1] in _TERMINAL


def join_fragments(head: str, tail: str) -> str:
    """Join a paragraph broken across lines: no space in Chinese, one space between Latin words."""
    if head and tail and head[-1].isascii() and head[-1].isalnum() and tail[0].isascii():
        return f"{head} {tail}"
    return head + tail


@cache
def _jieba() -> object:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@cache
def jieba_analyse() -> Any:
    """jieba's keyword/IDF module. Its import reads idf.txt with ``open(...).read()`` and never
    closes the file; the ResourceWarning that raises is jieba's, so it is silenced here only."""
    _jieba()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        import jieba.analyse

        return jieba.analyse


class GeneralIdf:
    """General-language IDF weights shipped with jieba (``jieba/analyse/idf.txt``), looked up
    by word (the median for a word it lacks, as jieba's keyword extractor does). Kept as two
    sorted arrays keyed by the words' hashes: 4 MB where a dict of its 270,000 words took 58."""

    def __init__(self, words: list[str], weights: list[float]):
        hashes = np.fromiter((hash(w) for w in words), dtype=np.int64, count=len(words))
        order = np.argsort(hashes, kind="stable")
        self._keys = hashes[order]
        self._weights = np.asarray(weights, dtype=np.float64)[order]
        self.median = float(np.sort(self._weights)[len(words) // 2]) if words else 0.0

    def __call__(self, word: str) -> float:
        key = hash(word)
        at = int(np.searchsorted(self._keys, key))
        if at < len(self._keys) and self._keys[at] == key:
            return float(self._weights[at])
        return self.median


@cache
def general_idf() -> GeneralIdf:
    """jieba's IDF table, read as its keyword extractor reads it but without importing that
    (which loads its part-of-speech tagger too: 1 s at start for nothing)."""
    import importlib.resources

    content = (importlib.resources.files("jieba") / "analyse" / "idf.txt").read_text("utf-8")
    words, weights = [], []
    for line in content.splitlines():
        word, _, weight = line.strip().partition(" ")
        if weight:
            words.append(word)
            weights.append(float(weight))
    return GeneralIdf(words, weights)


@cache
def jieba_posseg() -> Any:
    """jieba's part-of-speech tagger (nouns tell what a question is about)."""
    _jieba()
    import jieba.posseg

    return jieba.posseg


def tokenize(text: str) -> list[str]:
    """Search tokens: jieba's fine-grained cut (words and their sub-words), minus stopwords."""
    jieba = _jieba()
    words = jieba.lcut_for_search(normalize(text))  # type: ignore[attr-defined]
    return [w for w in words if w.strip() and w not in STOPWORDS and not _PUNCT_OR_SPACE.match(w)]


def has_number(text: str) -> bool:
    return bool(_NUMBER.search(text))


# An amount as laws and reports write it: digits, 百分之八十, or a numeral with a unit (三十日,
# 六个月, 二倍) — not an article or item number (第四十七条, 第二项).
_QUANTITY = re.compile(
    r"[0-9０-９]|百分之|(?<![第零一二两三四五六七八九十百千万])[一二两三四五六七八九十百千万半]+"
    rf"(?:[{MEASURE_WORDS}日天年月周倍元]|小时|周岁)"
)


# Nothing to pay is an amount too: 劳动争议仲裁不收费 answers 仲裁要交多少钱.
_FREE = re.compile(r"不收费|免费|不收取|不得收取|无偿")


def has_quantity(text: str) -> bool:
    """Whether ``text`` states an amount, duration or share (what 多少/几/多久 ask for)."""
    return bool(_QUANTITY.search(text) or _FREE.search(text))


# A telephone number: a full one (0471-6961234, 13812345678, 6961234) or a service line of five
# digits (12351, 12333); not an amount (20000元, 12000名), a year or a decimal.
_PHONE = re.compile(
    r"(?<![0-9.,])(?:0\d{2,3}[-－—]?\d{7,8}|1\d{10}|\d{7,8}|1\d{4})"
    rf"(?![0-9.,%％]|\s*(?:[{MEASURE_WORDS}元万亿年月日天号周岁倍户余多]|小时|平方|公里|吨|米))"
)


def has_phone_number(text: str) -> bool:
    """Whether ``text`` states a telephone number (what 电话是多少 / "what's the hotline" ask)."""
    return bool(_PHONE.search(text))


def question_script(text: str) -> str:
    """ "cjk" when at least a fifth of the letters are ideographs, else "latin"."""
    letters = [ch for ch in text if unicodedata.category(ch)[0] == "L"]
    ideographs = sum("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in letters)
    return "cjk" if letters and ideographs * 5 >= len(letters) else "latin"


def meaningful_chars(text: str) -> int:
    """Letters, digits and ideographs: what is left of a question once symbols are ignored."""
    return sum(1 for ch in text if unicodedata.category(ch)[0] in "LN")
