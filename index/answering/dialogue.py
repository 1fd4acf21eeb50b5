"""Follow-up questions: whether a question leans on the one before it, and what is searched then.

Workers chat: after "试用期最长多久？" they send "那试用期工资呢？", "公司不给怎么办" or "what about
Sunday?". Such a turn has no subject of its own; searched alone it matches whatever "那…呢"
matches. :func:`needs_context` tells such turns from questions that stand alone (a false "needs
context" would drag an unrelated earlier topic into a new question, so it errs towards
"alone"), and :func:`with_context` adds the earlier turn's *topic* — its content words, not its
question words ("最长多久" would pull the search back to the earlier answer) — to the follow-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.text import STOPWORDS, jieba_posseg, meaningful_chars, normalize


@dataclass(frozen=True)
class Context:
    """What a follow-up is read with: what was searched for the earlier turn, and the
    documents that answered it."""

    searched: str
    documents: tuple[str, ...] = ()


# A turn that opens or closes like these refers to what was said before.
_ZH_OPENERS = re.compile(
    r"^(?:那|那么|那要是|要是这样|如果这样|这样的话|这种情况|这种|这个|那个|上述|上面|刚才|还有|"
    r"另外|此外|同样|它|他们|她们|其|而且|并且|然后|再|可是|但是|不过)"
)
_ZH_CLOSERS = re.compile(r"(?:呢|的呢|吗呢)[？?。！!\s]*$")
_ZH_POINTERS = re.compile(
    # "的那个活动" describes a thing named in the same question: not a pointer back.
    r"(?<!的)(?:这个|那个|那种|这些|那些)|上述|刚才|同样的|该(?:公司|单位)|这期间|这段|那段|"
    r"这时候|那时候|那边|这边|里面说|那一条|这一条|那笔|这笔|[它他她](?!人)|他们|她们|其中|"
    r"也有|也能|也算"
)
_EN_OPENERS = re.compile(
    r"^(?:what about|how about|and |and,|but |so |then |what if|if so|if they|if he|if she|"
    r"if it|in that case|same |also )",
    re.IGNORECASE,
)
_EN_POINTERS = re.compile(
    r"\b(?:it|that|this|they|them|their|those|these|such|he|his|him|she|her|too|"
    r"as well)\b",
    re.IGNORECASE,
)
# Words that name a party or a thing of every labour question, not a topic of its own.
_GENERIC = frozenset(
    [
        "公司",
        "老板",
        "单位",
        "企业",
        "用人单位",
        "老总",
        "领导",
        "我",
        "我们",
        "人",
        "钱",
        "事",
        "事情",
        "情况",
        "时候",
        "问题",
        "办法",
        "规定",
        "法律",
        "国家",
        "员工",
        "职工",
        "工人",
        "劳动者",
        "自己",
        "别人",
        "东西",
        "地方",
        "多久",
        "多长时间",
        "时间",
        "标准",
        "一般",
        "哪里",
        "部门",
        "材料",
        "部分",
        "怎么办",
        "怎么样",
        "行不行",
        "可以",
        "能够",
        "应该",
        "需要",
        "回来",
        "出来",
        "知道",
        "觉得",
        "告诉",
        "发生",
        "算不算",
        "明年",
        "今年",
        "去年",
        "现在",
        "以后",
        "之前",
        "时候",
        "company",
        "boss",
        "employer",
        "employee",
        "worker",
        "job",
        "money",
        "thing",
        "time",
    ]
)
# English words that ask, not name a topic ("how long do I have?").
_EN_FUNCTION = frozenset(
    """long have has had get got gets do does did can could will would should may might must
    need needs happen happens still also just only really much many soon enough am im i'm""".split()  # noqa: SIM905
)
# Part-of-speech tags of the words that say what a question is about.
_TOPIC_TAGS = ("n", "vn", "i", "l", "j", "eng")
# Meaningful characters: a question this short naming no topic, or this short naming one
# ("可以约试用期吗" after a part-time question), leans on the turn before (chosen on the dev
# dialogues; a question read with the context keeps its own meaning too: see the answerer).
_SHORT_WITHOUT_TOPIC = 12
_SHORT_WITH_ONE_TOPIC = 10
_SHORT_EN_WORDS = 4
_SHORT_EN_WITHOUT_TOPIC = 8
_POINTING_EN_WORDS = 10  # a longer question with "it" or "they" usually says what they are
_TOPIC_WORDS = 6


# A link or an address: "https://example.com" is four short Latin "words", and read with the
# turn before it was answered from that turn's topic.
_LINK = re.compile(
    r"(?:https?://|www\.)\S+|\S+@\S+\.\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|cn|net|org)\S*", re.I
)


def needs_context(question: str) -> bool:
    """Whether ``question`` cannot stand alone: a follow-up to the turn before it. A message
    that is only links or addresses is none: it asks nothing about the turn before."""
    text = question.strip()
    if not text or not meaningful_chars(_LINK.sub("", text)):
        return False
    return _latin_needs_context(text) if _is_latin(text) else _chinese_needs_context(text)


def _latin_needs_context(text: str) -> bool:
    words = re.findall(r"[A-Za-z']+", text)
    if _EN_OPENERS.match(text) or len(words) <= _SHORT_EN_WORDS:
        return True
    if len(words) <= _POINTING_EN_WORDS and _EN_POINTERS.search(text):
        return True
    content = [w for w in words if w.lower() not in STOPWORDS | _EN_FUNCTION]
    return len(words) <= _SHORT_EN_WITHOUT_TOPIC and not content


def _chinese_needs_context(text: str) -> bool:
    if _ZH_OPENERS.match(text) or _ZH_CLOSERS.search(text) or _ZH_POINTERS.search(text):
        return True
    length = meaningful_chars(text)
    if length > _SHORT_WITHOUT_TOPIC:
        return False
    topics = len(topic_words(text))
    return topics == 0 or (topics == 1 and length <= _SHORT_WITH_ONE_TOPIC)


def topic_words(text: str) -> list[str]:
    """The content words that say what ``text`` is about (nouns, verbs, set phrases of two
    characters or more that are neither stopwords nor words every labour question uses), in
    order, deduplicated."""
    found: dict[str, None] = {}
    for pair in jieba_posseg().lcut(normalize(text)):
        word, tag = pair.word.strip(), pair.flag
        if (
            len(word) >= 2
            and tag.startswith(_TOPIC_TAGS)
            and word not in STOPWORDS
            and word not in _GENERIC
        ):
            found[word] = None
    return list(found)


def with_context(question: str, previous: str) -> str:
    """What is searched for a follow-up: the earlier turn's topic words, then the question."""
    topic = [w for w in topic_words(previous) if w not in normalize(question)][:_TOPIC_WORDS]
    return f"{' '.join(topic)} {question}" if topic else question


def _is_latin(text: str) -> bool:
    return not any("\u4e00" <= ch <= "\u9fff" for ch in text)
