"""Mining (query -> law article) pairs: citations found and stripped on hand-written text, and
pairs mined from the real law library."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.training.mining import (
    article_name,
    cn_to_int,
    find_citations,
    int_to_cn,
    mine,
    shipped_laws,
    strip_citations,
)

CORPUS = Path(__file__).parents[1] / "corpus"
LIBRARY = Path(__file__).parents[2] / "shared/corpus/law-library"


def _articles(*numbers: int) -> set[str]:
    return {f"第{int_to_cn(n)}条" for n in numbers}


LAWS = {
    "劳动合同法": _articles(*range(1, 99)),
    "劳动合同法实施条例": _articles(*range(1, 39)),
    "劳动法": _articles(*range(1, 108)),
    "劳动争议调解仲裁法": _articles(*range(1, 55)),
    "工伤保险条例": _articles(*range(1, 68)),
}


def test_numerals_round_trip() -> None:
    for number in range(1, 1200):
        assert cn_to_int(int_to_cn(number)) == number
    assert int_to_cn(10) == "十"
    assert int_to_cn(105) == "一百零五"
    assert int_to_cn(110) == "一百一十"
    assert article_name("47") == "第四十七条"
    assert article_name("４７") == "第四十七条"


def test_shipped_laws_reads_the_corpus() -> None:
    laws = shipped_laws(CORPUS)
    assert len(laws) == 11
    assert {"劳动合同法", "劳动合同法实施条例", "职工带薪年休假条例"} <= laws.keys()
    assert "第八十二条" in laws["劳动合同法"]
    assert "第九十九条" not in laws["劳动合同法"]
    assert len(laws["劳动法"]) == 107


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("依照劳动合同法第八十二条规定支付二倍工资", ["《劳动合同法》第八十二条"]),
        ("《中华人民共和国劳动合同法》第八十二条规定", ["《劳动合同法》第八十二条"]),
        ("中华人民共和国劳动合同法第八十二条", ["《劳动合同法》第八十二条"]),
        (
            "符合《劳动合同法》第三十九条、第四十条规定",
            ["《劳动合同法》第三十九条", "《劳动合同法》第四十条"],
        ),
        (
            "劳动合同法第三十九条和第四十条",
            ["《劳动合同法》第三十九条", "《劳动合同法》第四十条"],
        ),
        (
            "劳动合同法第二十八条、第四十六条、第四十七条的规定",
            ["《劳动合同法》第二十八条", "《劳动合同法》第四十六条", "《劳动合同法》第四十七条"],
        ),
        ("《劳动法》第四十四条第一款", ["《劳动法》第四十四条"]),
        (
            "劳动合同法第三十八条第一款第（三）项或者第四十六条",
            ["《劳动合同法》第三十八条", "《劳动合同法》第四十六条"],
        ),
        (
            "《劳动法》第二十五条第（二）项、第（三）项或者第（四）项规定的情形",
            ["《劳动法》第二十五条"],
        ),
        ("劳动法第四十四条", ["《劳动法》第四十四条"]),
        ("根据《劳动合同法》第47条", ["《劳动合同法》第四十七条"]),
        ("劳动合同法第100条", []),  # no such article
        ("劳动合同法第九十九条", []),  # no such article
        ("劳动合同法实施条例第十条", ["《劳动合同法实施条例》第十条"]),
        ("《中华人民共和国劳动合同法实施条例》第十条", ["《劳动合同法实施条例》第十条"]),
        ("民法典第一千一百九十一条、刑法第二百七十六条之一", []),  # not shipped
        ("《中华人民共和国劳动合同法》的规定", []),  # a law, no article
        ("调解仲裁法第四十七条第一项", ["《劳动争议调解仲裁法》第四十七条"]),
        ("农村土地承包经营纠纷调解仲裁法第十八条", []),  # not 劳动争议调解仲裁法
        (
            "《工伤保险条例》第十四条第（六）项“本人主要责任”、第十六条第（二）项“醉酒或者吸毒”",
            ["《工伤保险条例》第十四条", "《工伤保险条例》第十六条"],
        ),
        (
            "劳动合同法第三十条第二款和调解仲裁法第十六条",
            ["《劳动合同法》第三十条", "《劳动争议调解仲裁法》第十六条"],
        ),
        (
            "劳动合同法第三十九条至第四十一条",
            ["《劳动合同法》第三十九条", "《劳动合同法》第四十条", "《劳动合同法》第四十一条"],
        ),
        (
            "劳动法第四十四条。又依劳动合同法第三十一条，劳动法第四十四条",
            ["《劳动法》第四十四条", "《劳动合同法》第三十一条"],
        ),
        (
            "《劳动法》第四十四条、《劳动合同法》第三十一条",
            ["《劳动法》第四十四条", "《劳动合同法》第三十一条"],
        ),
        ("劳动合同法第八十二条，第二条另有规定", ["《劳动合同法》第八十二条"]),  # "，" ends it
    ],
)
def test_find_citations(text: str, expected: list[str]) -> None:
    assert find_citations(text, LAWS) == expected


def test_unshipped_law_is_ignored() -> None:
    laws = {"劳动法": LAWS["劳动法"]}
    assert find_citations("劳动合同法第八十二条与劳动法第四十四条", laws) == [
        "《劳动法》第四十四条"
    ]
    assert find_citations("调解仲裁法第十六条", laws) == []  # alias of a law not shipped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("依照劳动合同法第八十二条规定支付", "依照有关规定支付"),
        ("根据《中华人民共和国劳动法》第四条之规定，制定", "根据有关规定，制定"),
        ("符合劳动合同法第三十九条、第四十条规定，但", "符合有关规定，但"),
        ("按照劳动合同法第二十八条、第四十六条的规定向劳动者支付", "按照有关规定向劳动者支付"),
        ("劳动合同法第三十八条第一款第（三）项", "有关规定"),
        ("劳动合同法实施条例第十条", "有关规定"),
        ("依据劳动合同法第三十条第二款和调解仲裁法第十六条规定申请", "依据有关规定和有关规定申请"),
        (
            "存在《工伤保险条例》第十四条第（六）项“本人主要责任”、第十六条第（二）项“醉酒”等情形",
            "存在有关规定“本人主要责任”、有关规定“醉酒”等情形",
        ),
        ("劳动合同法第九十九条", "有关规定"),  # stripped even though no such article
        ("民法典第一千一百九十一条", "民法典第一千一百九十一条"),  # not shipped: kept
        ("根据《劳动合同法》的规定", "根据《劳动合同法》的规定"),  # no article: kept
    ],
)
def test_strip_citations(text: str, expected: str) -> None:
    assert strip_citations(text, LAWS) == expected


def test_strip_citations_defaults_to_the_shipped_corpus() -> None:
    assert strip_citations("依照《劳动法》第47条规定，工会法第十条") == "依照有关规定，有关规定"


def test_mine_the_real_library() -> None:
    if not LIBRARY.is_dir():
        pytest.skip(f"the law library is not at {LIBRARY}")
    laws = shipped_laws(CORPUS)
    pairs = mine(LIBRARY, CORPUS)
    folders = {pair["source"].split("/", 1)[0] for pair in pairs}
    assert folders == {"司法解释", "案例"}
    queries = [pair["query"] for pair in pairs]
    assert len(queries) == len(set(queries))
    for pair in pairs:
        assert 0 < len(pair["query"]) <= 300
        assert "有关规定" in pair["query"] or pair["source"].startswith("案例/")
        assert pair["answers"]
        assert len(pair["answers"]) == len(set(pair["answers"]))
        for answer in pair["answers"]:
            law, article = answer.removeprefix("《").split("》")
            assert article in laws[law], (answer, pair["source"])
    assert mine(LIBRARY, CORPUS) == pairs  # deterministic
