"""The fault suite: `python -m bot run` against a Bot API stand-in that misbehaves as Telegram and
networks do, with its database and Redis taken away, killed with SIGKILL, fed updates it cannot
read. Every scenario counts what was asked, answered, stored, answered or stored twice, and lost
(asked, but neither answered nor stored), and prints the row (`pytest tests/test_faults.py -s`
shows the table quoted in the README). The target in every row: nothing lost, nothing doubled,
nothing wedged, everything stored once the services return.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.bot_process import TOKEN, BotProcess, run_bot
from tests.chat import free_port, post_update, wait_listening
from tests.support import require_service
from tests.tcp_proxy import TcpProxy
from tests.telegram_stub import BotApiStub, callback_update, message_update, user

pytestmark = pytest.mark.slow

QUESTIONS = [
    "蹲点工作化解了多少件劳动纠纷？",
    "关爱行动服务了多少边境职工？",
    "征集了多少项职工创新成果？",
    "在中俄蒙边境口岸打造了多少个货车司机之家？",
    "蹲点工作组提供了多少次法律援助？",
]
_users = iter(range(300_000, 400_000))

# The outages the issue names (PostgreSQL 30 s, Redis 20 s, sendMessage failing 10 s or hanging
# 70 s) under `make bench` (FAULTS_FULL=1, `python -m bench faults`); shorter in `make test`,
# which must stay quick. The mechanics are the same.
FULL = os.environ.get("FAULTS_FULL") == "1"
POSTGRES_DOWN_S = 30 if FULL else 8
REDIS_DOWN_S = 20 if FULL else 5
SEND_FAILING_S = 10 if FULL else 4
# A hang longer than the request timeout, for longer than one hang: every reply needs retries.
HANG_S, HANG_FOR_S, REQUEST_TIMEOUT_S, SEND_RETRY_S = (70, 71, 30, 240) if FULL else (6, 7, 2, 30)


@dataclass(frozen=True)
class Tally:
    asked: int
    answered: int
    stored: int
    answered_twice: int
    stored_twice: int
    lost: int

    def row(self, scenario: str) -> str:
        return (
            f"| {scenario} | {self.asked} | {self.answered} | {self.stored} | "
            f"{self.answered_twice} | {self.stored_twice} | {self.lost} |"
        )


def tally(stub: BotApiStub, stored: dict[int, int], users: list[int]) -> Tally:
    """``stored``: rows in `questions` per user. Each user asked one question."""
    replies = {u: len(stub.sent_to(u)) for u in users}
    return Tally(
        asked=len(users),
        answered=sum(1 for u in users if replies[u] >= 1),
        stored=sum(1 for u in users if stored.get(u, 0) >= 1),
        answered_twice=sum(1 for u in users if replies[u] >= 2),
        stored_twice=sum(1 for u in users if stored.get(u, 0) >= 2),
        lost=sum(1 for u in users if replies[u] == 0 and stored.get(u, 0) == 0),
    )


def sqlite_rows(database: Path) -> dict[int, int]:
    try:
        with sqlite3.connect(database) as db:
            found = db.execute("select user_id, count(*) from questions group by user_id")
            return {int(u): int(n) for u, n in found.fetchall()}
    except sqlite3.OperationalError:
        return {}


def ask_many(stub: BotApiStub, count: int) -> list[int]:
    """``count`` users each push one question; returns their ids."""
    users = [next(_users) for _ in range(count)]
    for i, user_id in enumerate(users):
        stub.push(message_update(user_id, QUESTIONS[i % len(QUESTIONS)]))
    return users


def wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def settle(stub: BotApiStub, database: Path, users: list[int], timeout: float = 60) -> Tally:
    """Wait until every user is answered and stored (or ``timeout``), then a moment more for a
    second copy to show; return the tally."""
    wait_until(
        lambda: (
            tally(stub, sqlite_rows(database), users).answered == len(users)
            and tally(stub, sqlite_rows(database), users).stored == len(users)
        ),
        timeout,
    )
    time.sleep(1.0)
    return tally(stub, sqlite_rows(database), users)


def report(scenario: str, result: Tally) -> None:
    print(f"\nFAULT {result.row(scenario)}")


PERFECT = {"lost": 0, "answered_twice": 0, "stored_twice": 0}


def assert_perfect(result: Tally) -> None:
    assert result.answered == result.asked, result
    assert result.stored == result.asked, result
    assert {k: getattr(result, k) for k in PERFECT} == PERFECT, result


def forwarded_from_hidden_user(user_id: int) -> dict[str, Any]:
    """A legacy forward Telegram still sends: ``forward_origin`` of type hidden_user without
    ``sender_user_name``, which aiogram's types require (aiogram issue #1840)."""
    update = message_update(user_id, "转发的消息")
    update["message"]["forward_origin"] = {"type": "hidden_user", "date": int(time.time())}
    return update


def set_aside_lines(data_dir: Path, update_id: int) -> int:
    """Lines of ``var/set-aside/updates.jsonl`` that keep update ``update_id``."""
    lines = (data_dir / "set-aside" / "updates.jsonl").read_text().splitlines()
    return sum(json.loads(line)["row"]["update"].get("update_id") == update_id for line in lines)


@pytest.fixture
def stub(own_stub: BotApiStub) -> BotApiStub:
    """A stand-in of the scenario's own (each test starts its own bot)."""
    return own_stub


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "bot.sqlite3"


def bot_env(database: Path, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": f"sqlite+aiosqlite:///{database}", **extra}


# --- updates that cannot be read ------------------------------------------------------------


def test_a_poison_update_in_a_batch_is_set_aside_and_wedges_nothing(
    stub: BotApiStub, core, data_dir: Path, database: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    users = ask_many(stub, 5)
    poisoner = next(_users)
    poison_id = stub.push(forwarded_from_hidden_user(poisoner))
    users += ask_many(stub, 5)  # all eleven in the first batch the bot fetches
    with BotProcess.started(stub, data_dir, tmp_path / "bot.log", **bot_env(database)) as bot:
        result = settle(stub, database, users)
        told = stub.wait_sent(poisoner, 0)
        assert bot.stop() == 0
        log = bot.log()
    report("poison update in a batch (polling)", result)
    assert_perfect(result)
    assert "无法读取" in told[0].params["text"]  # the sender is told, politely
    assert poison_id not in stub.pending_updates  # the offset moved past it
    assert f"update {poison_id} cannot be read" in log
    assert "转发的消息" not in log  # logged by shape, not content
    # Set aside once, though it was fetched again while the others were being answered.
    assert set_aside_lines(data_dir, poison_id) == 1
    assert log.count(f"update {poison_id} cannot be read") == 1


def test_webhook_refuses_bodies_that_are_not_updates_without_a_500(
    stub: BotApiStub, core, data_dir: Path, database: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    port, secret = free_port(), "a-webhook-secret-of-length"
    env = bot_env(
        database,
        TELEGRAM__MODE="webhook",
        TELEGRAM__WEBHOOK_PORT=str(port),
        TELEGRAM__WEBHOOK_SECRET=secret,
    )
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    with BotProcess.started(stub, data_dir, tmp_path / "bot.log", **env) as bot:
        wait_listening(port)
        poisoner, users = next(_users), [next(_users) for _ in range(5)]
        first = random.randint(10**6, 10**9)  # update ids never seen before
        statuses = [
            post_update(url, {"update_id": first, **forwarded_from_hidden_user(poisoner)}, secret)
        ]
        statuses += [_post_raw(url, body, secret) for body in (b"", b"{not json", b"\xff\xfe")]
        nested = b"[" * 50_000 + b"]" * 50_000  # json.loads raises RecursionError on it
        statuses.append(_post_raw(url, nested, secret))
        statuses.append(
            post_update(url, {"update_id": first + 1, "message": "not an object"}, secret)
        )
        for i, user_id in enumerate(users):
            update = {"update_id": first + 10 + i, **message_update(user_id, QUESTIONS[i])}
            statuses.append(post_update(url, update, secret))
            statuses.append(post_update(url, update, secret))  # Telegram retried the call
        result = settle(stub, database, users)
        told = stub.wait_sent(poisoner, 0)
        # The webhook server also serves health and metrics (bot/ops.py).
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as health:
            assert json.loads(health.read())["ready"] is True
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:
            assert 'unionqa_questions_total{outcome="answered"} 5.0' in page.read().decode()
        assert bot.stop() == 0
        log = bot.log()
    report("poison update and retried deliveries (webhook)", result)
    assert statuses[:6] == [200, 400, 400, 400, 400, 200]
    assert set(statuses[6:]) == {200}
    assert_perfect(result)
    assert "无法读取" in told[0].params["text"]
    # No response of the webhook server was a 500 (aiohttp's access log: "POST … HTTP/1.1" 500
    # …). Matching " 500 " anywhere also matched aiogram's "Duration 500 ms" (CI, 7 December).
    assert not re.search(r'HTTP/[\d.]+" 5\d\d ', log), log
    assert re.search(r'"POST /telegram/webhook HTTP/[\d.]+" 200 ', log), log  # the log is read
    assert "Traceback" not in log


def _post_raw(url: str, body: bytes, secret: str) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, data=body, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


# --- crashes and redelivery -----------------------------------------------------------------


def test_kill_9_with_50_in_flight_loses_nothing_and_stores_each_once(
    stub: BotApiStub, core, data_dir: Path, database: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    users = ask_many(stub, 50)
    env = bot_env(database)
    with BotProcess.started(stub, data_dir, tmp_path / "first.log", **env) as bot:
        # Killed once the batch is fetched and the first answers are going out.
        stub.wait_for(lambda c: c.method == "sendMessage" and int(c.params["chat_id"]) in users)
        bot.process.send_signal(signal.SIGKILL)
        bot.process.wait(30)
    before = tally(stub, sqlite_rows(database), users)
    assert before.answered < len(users)  # the kill did catch questions in flight
    with BotProcess.started(stub, data_dir, tmp_path / "second.log", **env) as bot:
        result = settle(stub, database, users)
        assert bot.stop() == 0
    report(
        f"kill -9 with 50 in flight ({before.answered} answered before the kill), restart",
        result,
    )
    assert result.lost == 0
    assert result.answered == result.asked
    assert result.stored == result.asked
    assert result.stored_twice == 0
    # A reply sent in the instant between its delivery and the record that it was handled
    # goes out again after the restart; the suite reports how often (the README quotes it).
    assert result.answered_twice <= 3, result


def test_updates_delivered_again_are_answered_and_stored_once(
    stub: BotApiStub, core, data_dir: Path, database: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    env = bot_env(database)
    with BotProcess.started(stub, data_dir, tmp_path / "first.log", **env) as bot:
        users = ask_many(stub, 50)
        settle(stub, database, users)
        assert bot.stop() == 0
    redelivered = stub.redeliver_confirmed()  # Telegram lost the confirmation: all come again
    assert redelivered >= 50
    with BotProcess.started(stub, data_dir, tmp_path / "second.log", **env) as bot:
        assert wait_until(lambda: not stub.pending_updates, 60)
        result = settle(stub, database, users)
        assert bot.stop() == 0
        assert bot.log().count("was handled already") >= 50
    report("50 handled, all delivered again after a restart", result)
    assert_perfect(result)


def _menus(stub: BotApiStub, token: str) -> int:
    return len(
        [
            c
            for c in stub.calls
            if c.method == "setMyCommands" and c.token == token and not c.params.get("scope")
        ]
    )


# --- Bot API faults on the reply ------------------------------------------------------------


def test_send_message_failing_500_answers_everyone_after(
    stub: BotApiStub, core, data_dir: Path, database: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    with BotProcess.started(stub, data_dir, tmp_path / "bot.log", **bot_env(database)) as bot:
        stub.fail_for("sendMessage", SEND_FAILING_S)
        users = ask_many(stub, 50)
        result = settle(stub, database, users, timeout=90)
        assert bot.stop() == 0
    report(f"sendMessage 500 for {SEND_FAILING_S} s", result)
    assert_perfect(result)


def test_send_message_hanging_is_retried_and_a_reply_that_never_goes_is_recorded(
    stub: BotApiStub, core, data_dir: Path, database: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # Each call hangs longer than the request timeout: it times out and is retried.
    env = bot_env(
        database,
        TELEGRAM__REQUEST_TIMEOUT_S=str(REQUEST_TIMEOUT_S),
        TELEGRAM__SEND_RETRY_S=str(SEND_RETRY_S),
    )
    with BotProcess.started(stub, data_dir, tmp_path / "bot.log", **env) as bot:
        stub.hang_for("sendMessage", HANG_FOR_S, hang_s=HANG_S)
        users = ask_many(stub, 25)
        result = settle(stub, database, users, timeout=HANG_S * 3 + 60)
        report(
            f"sendMessage hanging {HANG_S} s per call (request timeout {REQUEST_TIMEOUT_S} s)",
            result,
        )
        assert_perfect(result)
        # Now a reply that cannot go at all within its budget: stored, and marked so.
        assert bot.stop() == 0
    env = bot_env(database, TELEGRAM__REQUEST_TIMEOUT_S="2", TELEGRAM__SEND_RETRY_S="3")
    with BotProcess.started(stub, data_dir, tmp_path / "second.log", **env) as bot:
        stub.fail_for("sendMessage", 20)
        (unlucky,) = ask_many(stub, 1)
        assert wait_until(lambda: _reply_failed(database, unlucky) is True, 30), bot.log()
        assert QUESTIONS[0] not in bot.log()  # the question's text is never logged
        assert bot.stop() == 0


def _reply_failed(database: Path, user_id: int) -> bool | None:
    try:
        with sqlite3.connect(database) as db:
            found = db.execute(
                "select reply_failed from questions where user_id = ?", (user_id,)
            ).fetchone()
    except sqlite3.OperationalError:
        return None
    return None if found is None else bool(found[0])


# --- services taken away --------------------------------------------------------------------


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"faults_{uuid.uuid4().hex[:8]}"

    async def run(sql: str) -> None:
        connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield name
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_rows(name: str) -> dict[int, int]:
    async def count() -> dict[int, int]:
        connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
        try:
            found = await connection.fetch(
                "select user_id, count(*) from questions group by user_id"
            )
        except asyncpg.UndefinedTableError:
            return {}
        finally:
            await connection.close()
        return {int(r[0]): int(r[1]) for r in found}

    return asyncio.run(count())


def test_postgresql_down_answers_everyone_and_stores_all_after(
    stub: BotApiStub, core, data_dir: Path, postgres_database: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """150 workers ask while PostgreSQL is cut: more than one batch of getUpdates (100), all
    answered during the outage (the writes wait in the outbox on disk), stored once after it,
    and getUpdates paced meanwhile."""
    proxy = TcpProxy("127.0.0.1", 5432)
    port = proxy.start()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{postgres_database}"
    try:
        with BotProcess.started(stub, data_dir, tmp_path / "bot.log", DATABASE_URL=url) as bot:
            assert wait_until(lambda: "handled_updates" in _tables(postgres_database), 30)
            proxy.down()
            down_at = time.monotonic()
            users = ask_many(stub, 75)
            poison_id = stub.push(forwarded_from_hidden_user(next(_users)))  # one during it
            users += ask_many(stub, 75)
            assert wait_until(lambda: all(stub.sent_to(u) for u in users), 60), bot.log()[-3000:]
            answered_after = time.monotonic() - down_at
            ready = json.loads(urllib.request.urlopen(f"{bot.ops_url}/healthz", timeout=10).read())
            time.sleep(max(0.0, POSTGRES_DOWN_S - answered_after))
            polls = [c for c in stub.calls if c.method == "getUpdates" and c.at >= down_at]
            outage_s = time.monotonic() - down_at
            assert postgres_rows(postgres_database).keys().isdisjoint(users)
            proxy.up()
            result = settle_postgres(stub, postgres_database, users, bot)
            assert bot.stop() == 0
            log = bot.log()
    finally:
        proxy.stop()
    report(f"PostgreSQL down {POSTGRES_DOWN_S} s, 150 ask", result)
    print(f"answered within {answered_after:.1f} s of the cut; "
          f"{len(polls) / outage_s:.2f} getUpdates a second during the outage")  # fmt: skip
    assert_perfect(result)  # and all 150 were answered before the database came back
    assert len(polls) / outage_s <= 2.5
    assert "keeping them in" in log
    assert set_aside_lines(data_dir, poison_id) == 1  # fetched many times during the outage
    assert ready["database"] == "away; writes kept on disk"  # still ready: it serves
    assert "the outbox is written to the database" in log


def test_a_stop_or_a_kill_during_a_postgresql_outage_answers_nothing_twice(
    stub: BotApiStub, core, data_dir: Path, postgres_database: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM with 10 questions answered while PostgreSQL is cut, restart: none answered
    again. The same with kill -9 once the replies are out: none again either (at most the
    replies in flight at the kill could be). Everything stored once the database returns."""
    proxy = TcpProxy("127.0.0.1", 5432)
    port = proxy.start()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{postgres_database}"
    users: list[int] = []
    try:
        with BotProcess.started(stub, data_dir, tmp_path / "a.log", DATABASE_URL=url) as bot:
            assert wait_until(lambda: "handled_updates" in _tables(postgres_database), 30)
            proxy.down()
            users += ask_many(stub, 10)
            assert wait_until(lambda: all(stub.sent_to(u) for u in users), 60), bot.log()[-3000:]
            assert bot.stop() == 0  # SIGTERM, the database still away
        stub.redeliver_confirmed()  # even if Telegram sends them all again
        with BotProcess.started(stub, data_dir, tmp_path / "b.log", DATABASE_URL=url) as bot:
            assert wait_until(lambda: not stub.pending_updates, 60)
            time.sleep(2)
            after_stop = tally(stub, {}, users)
            users += ask_many(stub, 10)
            assert wait_until(lambda: all(stub.sent_to(u) for u in users), 60), bot.log()[-3000:]
            time.sleep(1)  # the replies are out; their records on disk
            bot.process.send_signal(signal.SIGKILL)
            bot.process.wait(30)
        stub.redeliver_confirmed()
        with BotProcess.started(stub, data_dir, tmp_path / "c.log", DATABASE_URL=url) as bot:
            assert wait_until(lambda: not stub.pending_updates, 60)
            time.sleep(2)
            after_kill = tally(stub, {}, users)
            proxy.up()
            result = settle_postgres(stub, postgres_database, users, bot)
            assert bot.stop() == 0
    finally:
        proxy.stop()
    report("PostgreSQL down: SIGTERM after 10 answered, then kill -9 after 10 more", result)
    assert after_stop.answered_twice == 0, after_stop
    assert after_kill.answered_twice == 0, after_kill
    assert_perfect(result)


def settle_postgres(stub: BotApiStub, name: str, users: list[int], bot: BotProcess) -> Tally:
    """Once PostgreSQL is back: wait until every user's question is stored there, then a moment
    more for a second copy to show; the tally."""
    assert wait_until(lambda: tally(stub, postgres_rows(name), users).stored == len(users), 60), (
        bot.log()[-3000:]
    )
    time.sleep(1)
    return tally(stub, postgres_rows(name), users)


def _tables(name: str) -> set[str]:
    async def tables() -> set[str]:
        connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
        try:
            rows = await connection.fetch(
                "select tablename from pg_tables where schemaname = 'public'"
            )
        finally:
            await connection.close()
        return {r[0] for r in rows}

    return asyncio.run(tables())


def test_redis_down_answers_everyone_and_only_the_comment_prompt_waits(
    stub: BotApiStub, core, data_dir: Path, database: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    require_service("Redis", "127.0.0.1", 6379)
    proxy = TcpProxy("127.0.0.1", 6379)
    port = proxy.start()
    env = bot_env(database, REDIS_URL=f"redis://127.0.0.1:{port}/0")
    try:
        with BotProcess.started(stub, data_dir, tmp_path / "bot.log", **env) as bot:
            proxy.down()
            started = time.monotonic()
            users = ask_many(stub, 40)
            result = settle(stub, database, users)
            voter = users[0]
            question_id = _question_id(database, voter)
            vote = stub.push(callback_update(voter, f"v:{question_id}:0"))
            assert wait_until(
                lambda: any(
                    c.method == "answerCallbackQuery" and "留言功能暂时不可用" in str(c.params)
                    for c in stub.calls
                ),
                20,
            ), bot.log()[-2000:]
            time.sleep(max(0.0, REDIS_DOWN_S - (time.monotonic() - started)))
            proxy.up()
            later = ask_many(stub, 5)
            after = settle(stub, database, later)
            assert bot.stop() == 0
            assert vote not in stub.pending_updates
    finally:
        proxy.stop()
    report(f"Redis down {REDIS_DOWN_S} s", result)
    assert_perfect(result)
    assert_perfect(after)


def _question_id(database: Path, user_id: int) -> str:
    with sqlite3.connect(database) as db:
        (found,) = db.execute("select id from questions where user_id = ?", (user_id,)).fetchone()
    return str(found)


# --- start-up, webhook secrets ----------------------------------------------------------------


def test_bot_api_5xx_at_start_is_waited_out_and_a_wrong_token_stops_with_a_clear_line(
    stub: BotApiStub, core, data_dir: Path, database: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        stub.fail_next("deleteWebhook", code=502, retry_after=None)
    for _ in range(2):
        stub.fail_next("setMyCommands", code=500, retry_after=None)
    with BotProcess.started(stub, data_dir, tmp_path / "bot.log", **bot_env(database)) as bot:
        (users,) = [ask_many(stub, 1)]
        assert settle(stub, database, users).answered == 1
        assert bot.stop() == 0
        log = bot.log()
        assert "DeleteWebhook failed (TelegramServerError" in log
        assert "SetMyCommands failed (TelegramServerError" in log
    stub.fail_next("deleteWebhook", code=401, retry_after=None)
    with BotProcess(stub, data_dir, tmp_path / "refused.log", **bot_env(database)) as bot:
        assert bot.process.wait(120) == 2
        log = bot.log()
        assert "refused the token (401 Unauthorized): check BOT_TOKEN" in log
        assert "Unclosed" not in log  # the HTTP session was closed on the way out


def test_sigterm_while_the_start_waits_for_the_bot_api_stops_cleanly(
    stub: BotApiStub, core, data_dir: Path, database: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    stub.fail_for("deleteWebhook", 600, code=502)
    with BotProcess(stub, data_dir, tmp_path / "bot.log", **bot_env(database)) as bot:
        assert wait_until(lambda: "DeleteWebhook failed" in bot.log(), 120)
        assert bot.stop() == 0
        log = bot.log()
    assert "stopped while starting" in log
    assert "stopped; " in log  # the shutdown ran: what was queued is stored
    assert "Traceback" not in log


def test_webhook_mode_without_a_secret_refuses_to_start(data_dir: Path) -> None:
    done = run_bot(
        "run",
        env={
            "BOT_TOKEN": TOKEN,
            "DATA_DIR": str(data_dir),
            "TELEGRAM__MODE": "webhook",
            "TELEGRAM__API_BASE": "http://127.0.0.1:9",
        },
    )
    assert done.returncode == 2
    assert "webhook mode needs a secret" in done.stderr


# --- what is stored, and every reply fitting ------------------------------------------------


def test_personal_data_is_redacted_in_storage_and_forget_me_covers_a_question_in_flight(
    stub: BotApiStub, core, data_dir: Path, database: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    with BotProcess.started(stub, data_dir, tmp_path / "bot.log", **bot_env(database)) as bot:
        (worker,) = [next(_users)]
        text = "我手机13812345678，身份证110105194912310021，工会能提供法律援助吗？"
        stub.push(message_update(worker, text))
        assert wait_until(lambda: bool(stub.sent_to(worker)), 30)
        assert wait_until(lambda: sqlite_rows(database).get(worker) == 1, 30)
        with sqlite3.connect(database) as db:
            (stored,) = db.execute(
                "select text from questions where user_id = ?", (worker,)
            ).fetchone()
        assert stored == "我手机[phone]，身份证[ID number]，工会能提供法律援助吗？"
        assert "13812345678" not in bot.log()
        # A question and /forget_me right behind it: the question is not stored afterwards.
        leaver = next(_users)
        stub.push(message_update(leaver, QUESTIONS[0]))
        stub.push(message_update(leaver, "/forget_me", message_id=2))
        assert wait_until(lambda: len(stub.sent_to(leaver)) >= 2, 30)
        time.sleep(1.5)
        assert bot.stop() == 0
    assert sqlite_rows(database).get(leaver, 0) == 0


def test_every_reply_fits_telegram_even_an_admin_command_echoing_5000_characters(
    stub: BotApiStub, core, data_dir: Path, database: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    admin = next(_users)
    env = bot_env(database, ADMINS=str(admin))
    with BotProcess.started(stub, data_dir, tmp_path / "bot.log", **env) as bot:
        stub.push(message_update(admin, "/remove " + "工" * 5000))
        assert wait_until(lambda: bool(stub.sent_to(admin)), 30)
        time.sleep(1)
        assert bot.stop() == 0
    sent = [
        c for c in stub.calls if c.method == "sendMessage" and int(c.params["chat_id"]) == admin
    ]
    assert sent
    assert all(len(c.params["text"]) <= 4096 for c in sent)
    assert all(c.result is not None for c in sent)  # every part accepted


def test_the_sender_of_an_unreadable_update_in_a_group_is_told_in_their_language(
    stub: BotApiStub, core, data_dir: Path, database: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sender = next(_users)
    update = forwarded_from_hidden_user(sender)
    update["message"]["from"] = user(sender, "en")
    stub.push(update)
    with BotProcess.started(stub, data_dir, tmp_path / "bot.log", **bot_env(database)) as bot:
        (told,) = stub.wait_sent(sender, 0)[:1]
        assert bot.stop() == 0
    assert "could not read that message" in told.params["text"]
