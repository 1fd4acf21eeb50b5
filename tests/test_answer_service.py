"""The bot's batching front of the core, and the question handler around it, in one process:
the real Dispatcher and aiogram Bot talking HTTP to the Bot API stand-in, SQLite storage, and a
small answerer in place of the model (tests/fakes.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Update

from bot.answers import AnswerService
from bot.app import Database, Services, open_database
from bot.db.engine import migrate
from bot.db.recorder import Recorder
from bot.db.set_aside import SetAsideFile
from bot.ops import Metrics
from bot.reloads import Reloader
from bot.serving import ServingIndex
from bot.settings import Settings
from bot.taught import TaughtAnswers
from bot.telegram.dispatcher import build_dispatcher
from tests.bot_process import TOKEN
from tests.fakes import CharBigramEncoder, EchoAnswerer
from tests.telegram_stub import BotApiStub, message_update


async def test_different_concurrent_questions_each_get_their_own_answer() -> None:
    answerer = EchoAnswerer("v1")
    service = AnswerService(lambda: answerer)
    service.start()
    questions = [f"问题{i}：工会能提供法律援助吗？" for i in range(40)] + ["", "第二个"]
    answers = await asyncio.gather(*(service.answer(q, 3) for q in questions))
    await service.stop()
    assert [a.question for a in answers] == questions
    assert [a.answer for a in answers[:40]] == [f"答：{q}" for q in questions[:40]]
    assert answers[40].reason == "empty"
    assert all(len(a.sources) == 3 for a in answers if a.answered)
    assert len(answerer.batches) < len(questions)  # batched, not one by one


async def test_a_failing_core_fails_its_batch_only_and_the_service_goes_on() -> None:
    current = EchoAnswerer("v1", fail=True)
    service = AnswerService(lambda: current)
    service.start()
    results = await asyncio.gather(
        service.answer("一", 3), service.answer("二", 3), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    current = EchoAnswerer("v1")
    assert (await service.answer("三", 3)).answer == "答：三"
    await service.stop()


async def test_a_switch_mid_answer_leaves_the_answer_with_the_version_that_gave_it() -> None:
    old, new = EchoAnswerer("v-old", hold=True), EchoAnswerer("v-new")
    current = old
    service = AnswerService(lambda: current)
    service.start()
    pending = asyncio.ensure_future(service.answer("工会能帮我打官司吗", 3))
    await asyncio.to_thread(old.started.wait, 10)
    current = new  # a reload switches while the old version is answering
    old.release.set()
    assert (await pending).version == "v-old"
    assert (await service.answer("再问一次", 3)).version == "v-new"
    await service.stop()


# --- the question handler, through the dispatcher ---------------------------------------------


class Harness:
    def __init__(self, services: Services, bot: Bot, stub: BotApiStub, data_dir: Path):
        self.services = services
        self.dispatcher = build_dispatcher(services)
        self.bot = bot
        self.stub = stub
        self.data_dir = data_dir
        self._ids = iter(range(1, 10_000))

    async def send(self, user_id: int, text: str) -> None:
        update = {"update_id": next(self._ids), **message_update(user_id, text)}
        await self.dispatcher.feed_update(self.bot, Update.model_validate(update))

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.data_dir / "bot.sqlite3") as db:
            return db.execute(sql).fetchall()


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    stub = BotApiStub()
    stub.start()
    settings = Settings(paths={"data_dir": tmp_path, "corpus_dir": tmp_path / "corpus"})
    async with open_database(settings) as database:
        await migrate(database.engine)
        services = _services(settings, database, EchoAnswerer("v-old", hold=True))
        services.recorder.start()
        services.answers.start()
        session = AiohttpSession(api=TelegramAPIServer.from_base(stub.base_url))
        bot = Bot(token=TOKEN, session=session)
        try:
            yield Harness(services, bot, stub, tmp_path)
        finally:
            await services.answers.stop()
            await services.recorder.stop(timeout=5)
            await bot.session.close()
            stub.stop()


def _services(settings: Settings, database: Database, answerer: EchoAnswerer) -> Services:
    recorder = Recorder(database.repository, SetAsideFile(settings.paths.data_dir / "aside"))
    opened = {"v-new": EchoAnswerer("v-new")}
    serving = ServingIndex(
        answerer,
        open_answerer=opened.__getitem__,
        switch_current=lambda _version: None,
        recorder=recorder,
    )
    metrics = Metrics()
    taught = TaughtAnswers(database.repository, CharBigramEncoder())
    answers = AnswerService(
        lambda: serving.answerer, taught=lambda: taught.bank, on_answer=metrics.answered
    )
    reloader = Reloader(settings, serving, metrics)
    return Services(settings, database, recorder, serving, answers, reloader, metrics, taught)


async def test_a_question_is_recorded_under_the_version_that_answered_it_when_a_swap_happens(
    harness: Harness,
) -> None:
    old = harness.services.serving.answerer
    assert isinstance(old, EchoAnswerer)
    asked = asyncio.ensure_future(harness.send(501, "工会能帮我打官司吗"))
    await asyncio.to_thread(old.started.wait, 10)
    await harness.services.serving.switch_to("v-new", action="reload", actor="test")
    old.release.set()  # the old version finishes its answer after the swap
    await asyncio.wait_for(asyncio.shield(asked), 30)
    await harness.send(502, "再问一次")
    assert await harness.services.recorder.flush(10)
    assert harness.rows("select user_id, index_version from questions order by user_id") == [
        (501, "v-old"),
        (502, "v-new"),
    ]
    assert harness.rows("select version_id, action from serving_versions") == [("v-new", "reload")]


async def test_when_answering_fails_the_worker_is_told_and_the_next_question_is_answered(
    harness: Harness,
) -> None:
    broken = harness.services.serving.answerer
    assert isinstance(broken, EchoAnswerer)
    broken.fail = True
    broken.release.set()
    await harness.send(601, "工会能帮我打官司吗")
    (reply,) = harness.stub.sent_to(601)
    assert reply.params["text"] == "抱歉，处理时出了点问题，请稍后再试。"
    broken.fail = False
    await harness.send(601, "再问一次")
    assert harness.stub.sent_to(601)[-1].params["text"].startswith("<b>答：</b>")
    assert await harness.services.recorder.flush(10)
    assert harness.rows("select text from questions") == [("再问一次",)]
