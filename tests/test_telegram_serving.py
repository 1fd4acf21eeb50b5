"""Serving under real conditions: webhook secrets, an unreachable Bot API, a database that is
down, and a SIGTERM while a question is in flight. Each runs its own `python -m bot run`."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.bot_process import TOKEN, BotProcess, wait_handled
from tests.chat import free_port, post_update
from tests.telegram_stub import BotApiStub, callback_update, message_update

pytestmark = pytest.mark.slow


@pytest.fixture
def stub(own_stub: BotApiStub) -> BotApiStub:
    """A stand-in of the scenario's own (each test starts its own bot)."""
    return own_stub


def test_webhook_mode_accepts_the_right_secret_and_refuses_a_wrong_one(
    stub: BotApiStub, core, data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    env = {
        "TELEGRAM__MODE": "webhook",
        "TELEGRAM__WEBHOOK_PORT": str(port),
        "TELEGRAM__WEBHOOK_SECRET": "s3cret-Path_1-long-enough",
    }
    with BotProcess(stub, data_dir, tmp_path / "bot.log", **env) as bot:
        bot.wait_started()
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        first = random.randint(10**6, 10**9)  # update ids as Telegram's: never seen before
        deadline = time.monotonic() + 30
        while True:  # the site starts listening right after the commands are set
            try:
                status = post_update(
                    url, {"update_id": first, **message_update(71, "/help")}, "wrong"
                )
                break
            except (ConnectionError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert status == 401
        ok = post_update(
            url,
            {"update_id": first + 1, **message_update(72, "征集了多少项职工创新成果？")},
            "s3cret-Path_1-long-enough",
        )
        assert ok == 200
        wait_handled(first + 1)
        (reply,) = stub.wait_for(lambda c: c.method == "sendMessage" and c.result is not None)[:1]
        assert reply.params["chat_id"] == "72"
        assert "923项" in reply.params["text"]
        assert f"Update id={first} " not in bot.log()  # the one with the wrong secret never got in
        assert stub.sent_to(71) == []
        assert bot.stop() == 0


def test_network_errors_are_logged_without_the_token(core, data_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    unreachable = BotApiStub()  # never started: nothing listens on the port below
    unreachable.base_url = f"http://127.0.0.1:{free_port()}"
    with BotProcess(unreachable, data_dir, tmp_path / "bot.log") as bot:
        deadline = time.monotonic() + 90
        while (
            bot.log().count("DeleteWebhook failed (TelegramNetworkError") < 2
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)  # the first attempt and at least one retry
        bot.process.send_signal(signal.SIGTERM)
        bot.process.wait(30)
        log = bot.log()
    assert log.count("DeleteWebhook failed (TelegramNetworkError") >= 2, log
    assert TOKEN not in log
    assert TOKEN.split(":", 1)[1] not in log


def test_a_database_that_is_down_delays_storage_but_loses_nothing(
    stub: BotApiStub, core, data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    database = tmp_path / "db" / "bot.sqlite3"
    database.mkdir(parents=True)  # a directory where the file should be: SQLite cannot open it
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    with BotProcess(stub, data_dir, tmp_path / "bot.log", **env) as bot:
        bot.wait_started()
        stub.push(message_update(81, "蹲点工作化解了多少件劳动纠纷？"))
        (reply,) = stub.wait_for(lambda c: c.method == "sendMessage" and c.result is not None)[:1]
        assert "化解劳动纠纷49件" in reply.params["text"]  # the worker still gets the answer
        deadline = time.monotonic() + 30
        while "storing" not in bot.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "storing schema migration failed" in bot.log()
        database.rmdir()  # the database comes back
        deadline = time.monotonic() + 30
        stored: list[tuple[str]] = []
        while time.monotonic() < deadline and not stored:
            time.sleep(0.5)
            if database.is_file():
                try:
                    with sqlite3.connect(database) as db:
                        stored = db.execute(
                            "select text from questions where user_id = 81"
                        ).fetchall()
                except sqlite3.OperationalError:
                    pass
        assert stored == [("蹲点工作化解了多少件劳动纠纷？",)]
        assert bot.stop() == 0


def test_sigterm_finishes_the_question_in_flight_and_stores_it(
    stub: BotApiStub, core, data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    database = tmp_path / "graceful.sqlite3"
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    with BotProcess(stub, data_dir, tmp_path / "bot.log", **env) as bot:
        bot.wait_started()
        stub.push(message_update(91, "关爱行动服务了多少边境职工？"))
        stub.wait_for(lambda c: c.method == "sendChatAction")  # being answered now
        bot.process.send_signal(signal.SIGTERM)
        assert bot.process.wait(60) == 0
        replies = stub.sent_to(91)
        assert replies
        assert "服务边境职工4万余人" in replies[0].params["text"]
        with sqlite3.connect(database) as db:
            assert db.execute("select count(*) from questions where user_id = 91").fetchone() == (
                1,
            )


def test_sources_after_a_restart_are_the_stored_passages_in_their_order(
    stub: BotApiStub, core, data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    user_id = 91
    since = time.monotonic()
    with BotProcess(stub, data_dir, tmp_path / "first.log") as bot:
        bot.wait_started()
        wait_handled(stub.push(message_update(user_id, "蹲点工作组提供了多少次法律援助？")))
        (reply,) = stub.sent_to(user_id, since)
        button = reply.params["reply_markup"]["inline_keyboard"][0][0]
        assert button["text"] == "查看原文"
        before = _press(stub, user_id, button["callback_data"])  # from the answer in memory
        assert bot.stop() == 0
    menus = [c for c in stub.calls if c.method == "setMyCommands" and not c.params.get("scope")]
    with BotProcess(stub, data_dir, tmp_path / "second.log") as bot:
        bot.wait_started(menus_before=len(menus))
        after = _press(stub, user_id, button["callback_data"])  # from the stored passage ids
        assert bot.stop() == 0
    assert after == before
    with sqlite3.connect(data_dir / "bot.sqlite3") as db:
        ((ids, scores),) = db.execute(
            "select passage_ids, scores from questions where user_id = ?", (user_id,)
        ).fetchall()
    texts = _passage_texts(data_dir)
    shown = "\n".join(after)
    positions = [shown.index(texts[passage_id][:40]) for passage_id in json.loads(ids)]
    assert positions == sorted(positions)  # every stored passage, in the stored order
    assert json.loads(scores) == sorted(json.loads(scores), reverse=True)


def _press(stub: BotApiStub, user_id: int, data: str) -> list[str]:
    since = time.monotonic()
    wait_handled(stub.push(callback_update(user_id, data)))
    return [c.params["text"] for c in stub.sent_to(user_id, since)]


def _passage_texts(data_dir: Path) -> dict[str, str]:
    index = data_dir / "index"
    folder = index / (index / "CURRENT").read_text().strip()
    chunks = [json.loads(line) for line in (folder / "chunks.jsonl").read_text().splitlines()]
    return {c["chunk_id"]: c["text"] for c in chunks}
