"""Follow-ups and taught answers: the core's pieces on small real inputs, the taught answers'
storage on SQLite and PostgreSQL, and the service every instance serves them from.
(End to end through the Bot API stand-in, on two instances: tests/test_reload.py.)"""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import replace
from datetime import date, timedelta

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage

from bot.answers import AnswerService
from bot.console import chat
from bot.db.repository import QuestionRecord, Repository, StaleEditError, utcnow
from bot.taught import TaughtAnswers
from bot.telegram.dialogue import DialogueMemory
from bot.telegram.handlers.admin_taught import parse_answer
from bot.usage_report import taught_csv
from index import Context, Reason, TaughtAnswer, TaughtBank, group_by_meaning, needs_context
from index.answering.dialogue import with_context
from tests.fakes import CharBigramEncoder, EchoAnswerer
from tests.support import REPO
from tests.test_storage import engine, repository  # noqa: F401  (the fixtures)

ENCODER = CharBigramEncoder()


@pytest.mark.parametrize(
    "question",
    ["那试用期工资呢？", "公司不给怎么办", "要罚吗", "他们能这样吗", "what about Sunday?",
     "and if they refuse?", "how long do I have?", "这种情况能赔多少"],
)  # fmt: skip
def test_a_turn_that_leans_on_the_one_before_needs_context(question: str) -> None:
    assert needs_context(question)


@pytest.mark.parametrize(
    "question",
    ["公司没给我缴社会保险，我能辞职并要求经济补偿吗？", "工伤认定申请要在出事后多久内提出？",
     "劳模工匠帮企业省水的那个活动，去年搞了几场？", "Can my boss fire me without notice?",
     "Is there a time limit for applying for labour arbitration?",
     # A link or an address alone asks nothing of the turn before (it was answered from that
     # turn's topic, as four short Latin words).
     "https://example.com", "www.baidu.com", "help@example.org"],
)  # fmt: skip
def test_a_question_that_stands_alone_does_not(question: str) -> None:
    assert not needs_context(question)


def test_a_follow_up_is_searched_with_the_earlier_turns_topic_not_its_question_words() -> None:
    searched = with_context("那工资呢？", "试用期最长可以约定多久？")
    assert searched.endswith("那工资呢？")
    assert "试用期" in searched
    assert "多久" not in searched  # the earlier question's ask would pull its answer back
    assert with_context("试用期工资呢？", "试用期多久") == "试用期工资呢？"  # nothing to add


def taught(answer_id: int, *questions: str, answer: str = "答案") -> TaughtAnswer:
    return TaughtAnswer(answer_id, questions, answer, date(2026, 11, 29))


def test_a_taught_answer_is_matched_question_to_question_above_the_threshold() -> None:
    bank = TaughtBank.build(
        [taught(1, "工会会费每个月交多少钱"), taught(2, "工会办公室在哪里", "工会在几楼")],
        ENCODER,
        threshold=0.5,
    )
    (near,) = ENCODER.encode_queries(["工会会费每个月交多少"])
    match = bank.match(near)
    assert match is not None
    assert match.taught.answer_id == 1
    assert match.question == "工会会费每个月交多少钱"
    assert match.similarity > 0.8
    (floor,) = ENCODER.encode_queries(["工会在几楼办公"])
    found = bank.match(floor)
    assert found is not None
    assert found.taught.answer_id == 2
    assert found.question == "工会在几楼"
    (far,) = ENCODER.encode_queries(["住房公积金怎么提取"])
    assert bank.match(far) is None
    assert TaughtBank.empty().match(near) is None


def test_unanswered_questions_are_grouped_by_meaning_most_asked_first() -> None:
    texts = ["会费交多少", "住房公积金", "会费交多少钱", "会费交多少呢"]
    groups = group_by_meaning(ENCODER.encode_queries(texts), [1, 5, 2, 1], threshold=0.6)
    assert [[texts[i] for i in g] for g in groups] == [
        ["住房公积金"],
        ["会费交多少钱", "会费交多少", "会费交多少呢"],
    ]
    assert group_by_meaning(ENCODER.encode_queries([]), []) == []


def test_an_admins_message_is_the_answer_and_its_q_lines_more_wordings() -> None:
    answer, variants = parse_answer(
        "每月按工资的0.5%交。\n问：会费多少钱\nQ: union dues?\n问：会费多少钱"
    )
    assert answer == "每月按工资的0.5%交。"
    assert variants == ["会费多少钱", "union dues?"]
    assert parse_answer("问：只有问法") == ("", ["只有问法"])


async def test_the_answer_service_passes_the_earlier_turn_and_the_taught_answers() -> None:
    core = EchoAnswerer("v1")
    bank = TaughtBank.build([taught(7, "会员卡丢了怎么办", answer="去工会补办")], ENCODER, 0.9)
    service = AnswerService(lambda: core, taught=lambda: bank)
    service.start()
    try:
        answer = await service.answer("会员卡丢了怎么办", 3)
        assert answer.taught is not None
        assert answer.answer == "去工会补办"
        other = await service.answer("那工资呢", 3, previous=None)
        assert other.taught is None
        assert core.previous[-1] == [None]
    finally:
        await service.stop()


def question_record(question_id: str, taught_id: int | None = None) -> QuestionRecord:
    return QuestionRecord(
        question_id=question_id, user_id=5, language="zh", chat_id=5, text="会员卡丢了",
        answered=taught_id is not None,
        reason=None if taught_id else Reason.NOT_IN_DOCUMENTS.value,
        passage_ids=[], scores=[], latency_ms=3.0, index_version="v1", answer_text="",
        section=None, asked_at=utcnow(), taught_answer_id=taught_id,
    )  # fmt: skip


async def test_taught_answers_are_stored_edited_once_withdrawn_and_voted_on(
    repository: Repository,  # noqa: F811
) -> None:
    first = await repository.teach(["会员卡丢了怎么办", "会员卡丢了怎么办"], "去工会补办", 42)
    assert (first.id, first.revision, first.taught_by) == (first.id, 1, 42)
    edited = await repository.edit_taught(
        first.id, 1, 43, answer="带身份证去工会补办", more_questions=["卡丢了"]
    )
    assert edited.revision == 2
    assert edited.updated_by == 43
    assert edited.questions == ["会员卡丢了怎么办", "卡丢了"]  # each wording once
    # Another admin's edit made from what they read before: nothing changes.
    with pytest.raises(StaleEditError) as stale:
        await repository.edit_taught(first.id, 1, 44, answer="别的答案")
    assert stale.value.current is not None
    assert stale.value.current.answer == "带身份证去工会补办"
    with pytest.raises(StaleEditError):
        await repository.edit_taught(999, 1, 44, answer="没有这条")
    await repository.record_question(question_record("q-taught-00000001", first.id))
    await repository.record_vote("q-taught-00000001", 9, -1)
    await repository.record_comment("q-taught-00000001", 9, "地址写错了")
    votes = await repository.taught_votes()
    assert (votes[first.id].up, votes[first.id].down) == (0, 1)
    assert votes[first.id].comments == ("地址写错了",)
    before = await repository.taught_signature()
    await repository.edit_taught(first.id, 2, 42, withdraw=True)
    assert await repository.taught_signature() != before
    assert await repository.taught_answers() == []
    (kept,) = await repository.taught_answers(withdrawn=True)
    assert kept.withdrawn_at is not None
    with pytest.raises(StaleEditError):  # a withdrawn answer is not edited
        await repository.edit_taught(first.id, 3, 42, answer="复活")
    csv = taught_csv([kept], votes).decode("utf-8-sig")
    assert "带身份证去工会补办" in csv
    assert "地址写错了" in csv


async def test_two_admins_editing_at_once_leave_one_consistent_version(
    repository: Repository,  # noqa: F811
) -> None:
    row = await repository.teach(["工会在哪"], "三楼", 1)
    results = await asyncio.gather(
        repository.edit_taught(row.id, 1, 2, answer="四楼"),
        repository.edit_taught(row.id, 1, 3, answer="五楼"),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, StaleEditError)]
    assert len(won) == 1
    assert len(lost) == 1
    (stored,) = await repository.taught_answers()
    assert stored.revision == 2
    assert stored.answer == won[0].answer


async def test_every_instance_serves_what_any_instance_taught_and_what_a_group_still_needs(
    repository: Repository,  # noqa: F811
) -> None:
    one, other = TaughtAnswers(repository, ENCODER), TaughtAnswers(repository, ENCODER)
    for i, text in enumerate(["会员卡丢了怎么补办", "会员卡丢了怎么补办呢", "工会几点下班"]):
        record = question_record(f"q-unanswered-{i:04d}")
        await repository.record_question(replace(record, text=text, question_id=f"unans{i:011d}"))
    groups = await one.unanswered_groups(utcnow() - timedelta(days=1))
    assert [g.count for g in groups] == [2, 1]
    assert groups[0].wordings[0].startswith("会员卡丢了怎么补办")
    await repository.teach(["会员卡丢了怎么补办"], "去工会补办", 1)
    await other.refresh()  # what a restart or the follower does
    (vector,) = ENCODER.encode_queries(["会员卡丢了怎么补办"])
    match = other.bank.match(vector)
    assert match is not None
    assert match.taught.answer == "去工会补办"
    await one.refresh()
    left = await one.unanswered_groups(utcnow() - timedelta(days=1))
    assert [g.wordings for g in left] == [("工会几点下班",)]


def test_the_dialogue_and_taught_sets_are_well_formed() -> None:
    dialogues = [
        json.loads(line)
        for line in (REPO / "eval" / "dialogues.jsonl").read_text("utf-8").splitlines()
    ]
    assert len(dialogues) >= 60
    for dialogue in dialogues:
        first, *rest = dialogue["turns"]
        assert not first.get("follow_up")
        assert rest
        assert all(t["follow_up"] for t in rest)
        assert all(t["answers"] for t in dialogue["turns"])
    lines = (REPO / "eval" / "taught.jsonl").read_text("utf-8").splitlines()
    cases = [json.loads(line) for line in lines]
    assert {c["split"] for c in cases} == {"dev", "heldout"}
    assert all(c["same"] and c["other"] for c in cases)


def test_the_console_chat_reads_a_turn_with_the_one_before_until_new() -> None:
    core = EchoAnswerer("v1")
    out = io.StringIO()
    chat(core, k=3, stdin=io.StringIO("试用期最长多久\n那工资呢\n/new\n加班费\n/help\n"), out=out)
    assert core.previous == [
        [None],
        [Context("试用期最长多久", ("doc.txt",))],  # what the first answer's context was
        [None],  # /new forgot it
    ]  # /help is no question: the console says which commands it has
    assert out.getvalue().count("/new 开始新话题") == 2, out.getvalue()  # at the start, for /help


async def test_a_chats_last_question_is_kept_for_minutes_and_forgotten_on_request() -> None:
    storage = MemoryStorage()
    key = StorageKey(bot_id=1, chat_id=5, user_id=5)
    state = FSMContext(storage=storage, key=key)
    await state.set_data({"question_id": "comment prompt"})  # another feature's state
    memory = DialogueMemory(minutes=10)
    await memory.remember(state, "试用期最长多久", Context("试用期最长多久", ("law",)))
    turn = await memory.recall(state)
    assert turn is not None
    assert turn.context == Context("试用期最长多久", ("law",))
    assert await state.get_data() == {"question_id": "comment prompt"}  # untouched
    assert await DialogueMemory(minutes=-1).recall(state) is None  # all it keeps is too old
    await memory.forget(state)
    assert await memory.recall(state) is None
