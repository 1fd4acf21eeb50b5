"""The answering core on the real report: quality thresholds and every kind of odd input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from index import Reason
from index.answering.evaluation import evaluate, load_questions
from tests.support import QUESTIONS

pytestmark = pytest.mark.slow


def test_question_set_meets_the_quality_targets(core) -> None:  # type: ignore[no-untyped-def]
    outcomes = evaluate(core.answerer, load_questions(QUESTIONS), k=5)

    def recall(kinds: set[str], k: int) -> float:
        group = [o for o in outcomes if o.question.kind in kinds]
        return sum(o.rank is not None and o.rank <= k for o in group) / len(group)

    answerable = [o for o in outcomes if o.question.kind != "unanswerable"]
    unanswerable = [o for o in outcomes if o.question.kind == "unanswerable"]
    assert len(answerable) >= 45
    assert len(unanswerable) >= 15
    assert recall({"fact", "colloquial"}, 3) >= 0.95
    assert recall({"english"}, 3) >= 0.75
    assert recall({"fact", "colloquial", "english"}, 1) >= 0.85
    assert sum(not o.answered for o in unanswerable) / len(unanswerable) >= 0.80
    assert sum(o.answered for o in answerable) / len(answerable) >= 0.95


def test_answer_quotes_the_report_verbatim_with_its_section(core) -> None:  # type: ignore[no-untyped-def]
    answer = core.answerer.answer("在中俄蒙边境口岸打造了多少个货车司机之家？")
    assert answer.answered
    assert "打造40个货车司机之家" in answer.answer
    assert answer.section == "以实干担当在奋力书写中国式现代化 内蒙古新篇章征程中贡献工会力量"
    report = Path(__file__).resolve().parents[1] / "corpus" / "nmg-trade-unions-2025.txt"
    assert answer.answer in "".join(report.read_text("utf-8").split("\n"))
    assert len(answer.sources) == 5
    assert answer.sources[0].score >= answer.sources[-1].score


def test_unanswerable_question_says_so_and_suggests_topics(core) -> None:  # type: ignore[no-untyped-def]
    answer = core.answerer.answer("工会会费每个月交多少？")
    assert not answer.answered
    assert answer.reason == Reason.NOT_IN_DOCUMENTS
    assert len(answer.sources) == 5  # still listed, for transparency
    assert len(answer.suggestions) == 3
    assert answer.suggestions[0].startswith("铸魂聚力绘就高质量发展“工”字答卷")


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ("", Reason.EMPTY),
        ("   \t\n  ", Reason.EMPTY),
        ("\u200b\u200d\ufeff", Reason.EMPTY),
        ("😀👍🙏", Reason.UNSEARCHABLE),
        ("？？！！……。。", Reason.UNSEARCHABLE),
        ("工" * 1001, Reason.TOO_LONG),
        ("工" * 20_000, Reason.TOO_LONG),
    ],
)
def test_input_that_cannot_be_asked_gets_a_reason(core, question: str, reason: Reason) -> None:  # type: ignore[no-untyped-def]
    answer = core.answerer.answer(question)
    assert not answer.answered
    assert answer.reason is reason
    assert answer.sources == ()
    assert answer.answer == ""
    assert answer.suggestions


@pytest.mark.parametrize(
    "question",
    [
        "货车\u200b司机\u200d之家\x07有几个？",  # zero-width and control characters inside
        "How many 货车司机之家 were built? 🚚",  # mixed scripts and emoji
        "\u202e货车司机之家有多少个",  # a right-to-left override
        "<b>货车司机之家</b> & 多少个",  # markup-looking text
    ],
)
def test_odd_but_real_questions_are_answered_cleanly(core, question: str) -> None:  # type: ignore[no-untyped-def]
    answer = core.answerer.answer(question)
    assert answer.answered, answer
    assert re.search(r"40个货车司机之家", answer.answer)
