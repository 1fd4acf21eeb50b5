"""Mine (query -> law article) pairs from judicial interpretations and cases in the law library.

A pair's answers are articles of the laws the bot ships (the ``.md`` files of the corpus folder),
written ``《SHORT》第X条``; its query is the citing text with the citations replaced by 有关规定.
Only the standard library is used.

    python -m index.training.mining --library PATH --corpus PATH --out PATH
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypedDict

FOLDERS = ("司法解释", "案例")
"""The library folders mined (recursively), in this order."""

QUERY_MAX_CHARS = 300
QUERY_MIN_CHARS = 15
REPLACEMENT = "有关规定"

ALIASES = {"调解仲裁法": "劳动争议调解仲裁法"}
"""Abbreviations used by interpretations -> the shipped law's SHORT name."""

RENUMBERED = frozenset({"工会法", "工伤保险条例"})
"""Laws whose shipped version renumbered the articles (工会法 2021, 工伤保险条例 2010): a source
dated before the shipped version cites the old numbers, so its citations of these are not used.
(劳动法, 劳动合同法 and 社会保险法 were amended since without renumbering.)"""

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "corpus"

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_NUM = r"(?:\d+|[零〇一二两三四五六七八九十百千]+)"
_ARTICLE = rf"第(?P<num>{_NUM})条"
_SUFFIX = rf"第{_NUM}款|第[（(]{_NUM}[)）]项|第{_NUM}项"
_SEP = r"、|以及|和|及|或者|或|与|至|到"  # not "，": it ends a citation as often as not
_QUOTE = r"[“\"][^”\"\n]{1,40}[”\"]"
_DATE = re.compile(r"\((\d{4}-\d{2}-\d{2})\)")
_ARTICLE_LINE = re.compile(r"^第([零〇一二两三四五六七八九十百千]+)条[\s\u3000]+(.*)$")


def cn_to_int(numeral: str) -> int:
    """``四十七`` -> 47, ``一百零五`` -> 105, ``47`` -> 47."""
    if numeral.isdigit():
        return int(numeral)
    total, digit = 0, 0
    for char in numeral:
        if char in _CN_DIGITS:
            digit = _CN_DIGITS[char]
        else:
            total += (digit or 1) * _CN_UNITS[char]
            digit = 0
    return total + digit


def int_to_cn(number: int) -> str:
    """47 -> ``四十七``, 10 -> ``十``, 105 -> ``一百零五``, 110 -> ``一百一十``."""
    if number == 0:
        return "零"
    digits = "零一二三四五六七八九"
    parts: list[str] = []
    zero = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit, number = divmod(number, value)
        if digit:
            if zero:
                parts.append("零")
            parts.append(digits[digit] + unit)
            zero = False
        elif parts:
            zero = True
    text = "".join(parts)
    return text[1:] if text.startswith("一十") else text


def article_name(numeral: str) -> str:
    """A numeral as the law writes its article: ``47`` or ``四十七`` -> ``第四十七条``."""
    return f"第{int_to_cn(cn_to_int(numeral))}条"


def shipped_laws(corpus: Path) -> dict[str, set[str]]:
    """SHORT name (file name before ``(``) -> its article numbers as written (``第八十二条``)."""
    laws: dict[str, set[str]] = {}
    for path in sorted(corpus.glob("*.md")):
        articles = {
            f"第{m.group(1)}条"
            for line in path.read_text("utf-8").splitlines()
            if (m := _ARTICLE_LINE.match(line.strip()))
        }
        laws[path.stem.split("(")[0]] = articles
    return laws


def shipped_versions(corpus: Path) -> dict[str, str]:
    """SHORT name -> the shipped version's date (``2021-12-24``), from the file name."""
    return {
        path.stem.split("(")[0]: m.group(1)
        for path in sorted(corpus.glob("*.md"))
        if (m := _DATE.search(path.name))
    }


class Pair(TypedDict):
    """One mined pair; ``source`` is the file (relative to the library) and where in it."""

    query: str
    answers: list[str]
    source: str


@dataclass(frozen=True)
class _Citation:
    law: str
    articles: list[str]
    spans: list[tuple[int, int]]
    """The text to replace when stripping: the law name and the articles, without quoted terms."""


@cache
def _citation_pattern(names: frozenset[str]) -> re.Pattern[str]:
    """Law name (longest first, so 劳动合同法实施条例 is never read as 劳动合同法) + one article."""
    alternatives = sorted(
        names | {a for a, law in ALIASES.items() if law in names}, key=len, reverse=True
    )
    name = "|".join(re.escape(n) for n in alternatives)
    # An alias may end a longer law's name (农村土地承包经营纠纷调解仲裁法): not preceded by 纠纷.
    return re.compile(
        rf"(?<!纠纷)[《〈]?(?:中华人民共和国)?(?P<law>{name})[》〉]?"
        rf"(?:[（(][^（）()\n]{{1,20}}[)）])?{_ARTICLE}(?:{_SUFFIX})*"
    )


_MORE_SUFFIX = re.compile(rf"(?:{_SEP})(?:{_SUFFIX})")
_MORE_ARTICLE = re.compile(rf"(?P<quote>{_QUOTE})?(?P<sep>{_SEP}){_ARTICLE}(?:{_SUFFIX})*")


def _citations(text: str, names: Collection[str]) -> Iterator[_Citation]:
    pattern = _citation_pattern(frozenset(names))
    for match in pattern.finditer(text):
        law = ALIASES.get(match.group("law"), match.group("law"))
        articles = [article_name(match.group("num"))]
        spans = [(match.start(), match.end())]
        pos = match.end()
        while True:
            if more := _MORE_SUFFIX.match(text, pos):  # 第二十五条第（二）项、第（三）项
                spans[-1] = (spans[-1][0], more.end())
            elif more := _MORE_ARTICLE.match(text, pos):  # 第三十九条、第四十条
                current = cn_to_int(more.group("num"))
                if more.group("sep") in {"至", "到"}:  # 第三十九条至第四十一条
                    previous = cn_to_int(articles[-1][1:-1])
                    articles += [f"第{int_to_cn(n)}条" for n in range(previous + 1, current)]
                articles.append(f"第{int_to_cn(current)}条")
                if more.group("quote"):
                    spans.append((more.start("sep") + len(more.group("sep")), more.end()))
                else:
                    spans[-1] = (spans[-1][0], more.end())
            else:
                break
            pos = more.end()
        # "规定" after the citation goes with it: 依照有关规定, not 依照有关规定规定.
        if tail := re.match(r"之规定|的规定|规定", text[pos:]):
            spans[-1] = (spans[-1][0], pos + tail.end())
        yield _Citation(law, articles, spans)


def find_citations(text: str, laws: Mapping[str, Collection[str]]) -> list[str]:
    """Every shipped article ``text`` cites, as ``《SHORT》第X条``: first appearance, no repeats.

    Articles the shipped law does not have and laws not in ``laws`` are ignored.
    """
    found: dict[str, None] = {}
    for citation in _citations(text, laws.keys()):
        for article in citation.articles:
            if article in laws[citation.law]:
                found.setdefault(f"《{citation.law}》{article}")
    return list(found)


@cache
def _default_names() -> frozenset[str]:
    return frozenset(shipped_laws(DEFAULT_CORPUS))


def strip_citations(text: str, laws: Mapping[str, Collection[str]] | None = None) -> str:
    """``text`` with each citation of a shipped law (name + articles) replaced by 有关规定.

    ``laws`` defaults to the shipped corpus; quoted terms inside a citation chain are kept.
    """
    names = frozenset(laws) if laws is not None else _default_names()
    spans = [span for citation in _citations(text, names) for span in citation.spans]
    for start, end in reversed(spans):
        text = text[:start] + REPLACEMENT + text[end:]
    return text


def _body(text: str) -> list[str]:
    """The lines after ``<!-- INFO END -->`` (all of them when there is none), stripped."""
    head, marker, tail = text.partition("<!-- INFO END -->")
    return [line.strip() for line in (tail if marker else head).splitlines()]


def _interpretation_articles(text: str) -> Iterator[tuple[str, list[str]]]:
    """(``第X条``, its paragraphs without the number) for each article of an interpretation."""
    number, paragraphs = "", list[str]()
    for line in [*_body(text), "#"]:
        if (match := _ARTICLE_LINE.match(line)) or line.startswith("#"):
            if number and paragraphs:
                yield number, paragraphs
            number, paragraphs = "", []
            if match:
                first = match.group(2).strip()
                number, paragraphs = f"第{match.group(1)}条", [first] if first else []
        elif number and line:
            paragraphs.append(line)


def _article_query(
    paragraphs: list[str], laws: dict[str, set[str]], trusted: dict[str, set[str]]
) -> tuple[str, list[str]]:
    """An interpretation article's query (citations stripped) and the articles it cites.

    An article longer than ``QUERY_MAX_CHARS`` keeps only its citing paragraphs and, when they
    leave room, its lead paragraph: cutting it would keep text that is not about the citations.
    """
    stripped = [strip_citations(paragraph, laws) for paragraph in paragraphs]
    keep = list(range(len(paragraphs)))
    if len("\n".join(stripped)) > QUERY_MAX_CHARS:
        keep, size = [], 0
        citing = [i for i, paragraph in enumerate(paragraphs) if find_citations(paragraph, trusted)]
        for i in [*citing, 0]:
            if i not in keep and (not keep or size + len(stripped[i]) < QUERY_MAX_CHARS):
                keep.append(i)
                size += len(stripped[i]) + 1
        keep.sort()
    query = "\n".join(stripped[i] for i in keep)
    return query, find_citations("\n".join(paragraphs[i] for i in keep), trusted)


def _case_parts(text: str) -> tuple[str, str]:
    """A case's title and its 基本案情 section's text."""
    title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), "")
    facts: list[str] = []
    inside = False
    for line in _body(text):
        if line.startswith("#"):
            inside = line.lstrip("#").strip() == "基本案情"
        elif inside and line:
            facts.append(line)
    return title, "\n".join(facts)


def _laws_for(
    source: Path, laws: dict[str, set[str]], versions: Mapping[str, str]
) -> dict[str, set[str]]:
    """The laws whose numbering a source can be trusted to cite (see ``RENUMBERED``)."""
    match = _DATE.search(source.name)
    if not match:
        return laws
    return {
        law: articles
        for law, articles in laws.items()
        if not (law in RENUMBERED and law in versions and match.group(1) < versions[law])
    }


def mine(library: Path, corpus: Path) -> list[Pair]:
    """(query, answers, source) pairs from the library's 司法解释/ and 案例/ folders."""
    laws = shipped_laws(corpus)
    versions = shipped_versions(corpus)
    pairs: list[Pair] = []
    seen: set[str] = set()

    def add(query: str, answers: list[str], source: str) -> None:
        query = query[:QUERY_MAX_CHARS].strip()
        if query and answers and query not in seen:
            seen.add(query)
            pairs.append({"query": query, "answers": answers, "source": source})

    for folder in FOLDERS:
        for path in sorted((library / folder).rglob("*.md")):
            text = path.read_text("utf-8")
            name = path.relative_to(library).as_posix()
            trusted = _laws_for(path, laws, versions)
            if folder == "司法解释":
                for number, paragraphs in _interpretation_articles(text):
                    query, answers = _article_query(paragraphs, laws, trusted)
                    if len(query) >= QUERY_MIN_CHARS:
                        add(query, answers, f"{name} {number}")
            else:
                answers = find_citations(text, trusted)
                title, facts = _case_parts(text)
                add(strip_citations(title, laws), answers, f"{name} 标题")
                add(strip_citations(facts, laws), answers, f"{name} 基本案情")
    return pairs


def main(argv: list[str] | None = None) -> int:
    """Write the mined pairs as JSON lines and print counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--library", type=Path, required=True, help="the law library folder")
    parser.add_argument("--corpus", type=Path, required=True, help="the shipped laws (.md)")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines to write")
    args = parser.parse_args(argv)
    for folder in (args.library, args.corpus):
        if not folder.is_dir():
            parser.error(f"not a folder: {folder}")

    pairs = mine(args.library, args.corpus)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for pair in pairs:
            out.write(json.dumps(pair, ensure_ascii=False) + "\n")

    by_folder = Counter(pair["source"].split("/", 1)[0] for pair in pairs)
    articles = {a for pair in pairs for a in pair["answers"]}
    by_law = Counter(a.split("》")[0].lstrip("《") for a in articles)
    print(f"pairs: {len(pairs)} -> {args.out}")
    for folder in FOLDERS:
        print(f"  {folder}: {by_folder[folder]}")
    print(f"distinct articles covered: {len(articles)}")
    for law, count in by_law.most_common():
        print(f"  {law}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
