"""Reloads and rollbacks: validated, atomic, safe against faults, followed by every instance."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot_process import BotProcess, deployment, run_bot
from tests.chat import free_port, post_update, wait_listening
from tests.sample_files import docx_bytes
from tests.support import require_service, start_reload
from tests.telegram_stub import BotApiStub, Call, callback_update, message_update

pytestmark = pytest.mark.slow

NEW_DOC = docx_bytes(
    "星光驿站服务指南",
    ["自治区总工会新建了星光驿站，为户外劳动者提供饮水和休息服务。"],
    [["站点", "服务电话"], ["星光驿站呼和浩特站", "0471-6543210"]],
)
NEW_FACT_QUESTION = "星光驿站的服务电话是多少？"
NEW_FACT = "0471-6543210"


def bot_command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_bot(*args, env=env)


def site_env(data_dir: Path, corpus_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "PATHS__CORPUS_DIR": str(corpus_dir),
        "HF_HUB_OFFLINE": "1",
        **extra,
    }


def current(data_dir: Path) -> str:
    return (data_dir / "index" / "CURRENT").read_text().strip()


def versions(data_dir: Path) -> list[str]:
    index = data_dir / "index"
    return sorted(p.name for p in index.iterdir() if p.is_dir() and not p.name.startswith("."))


def answer_text(env: dict[str, str], question: str) -> str:
    done = bot_command("ask", "--json", question, env=env)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["answer"])


# --- from a shell ------------------------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path, converted_model: Path) -> tuple[Path, Path]:
    return deployment(tmp_path, converted_model)


@pytest.fixture
def served(site: tuple[Path, Path]) -> tuple[Path, Path, dict[str, str], str]:
    """A site serving a version built by `python -m bot reload`: data, corpus, env, version."""
    data_dir, corpus_dir = site
    env = site_env(data_dir, corpus_dir)
    done = bot_command("reload", env=env)
    assert done.returncode == 0, done.stderr
    return data_dir, corpus_dir, env, current(data_dir)


def test_shell_reload_validates_switches_and_records_then_rollback_returns(
    site: tuple[Path, Path],
) -> None:
    data_dir, corpus_dir = site
    env = site_env(data_dir, corpus_dir)
    first = bot_command("reload", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"serving {current(data_dir)} (1 documents, 32 passages")
    assert "checks: 5/5 sample passages found" in first.stdout
    old = current(data_dir)

    (corpus_dir / "星光驿站.docx").write_bytes(NEW_DOC)
    status = bot_command("status", env=env)
    assert "new or changed, not yet served: 星光驿站.docx" in status.stdout
    assert NEW_FACT not in answer_text(env, NEW_FACT_QUESTION)  # a start does not rebuild

    second = bot_command("reload", env=env)
    assert second.returncode == 0, second.stderr
    new = current(data_dir)
    assert f"(2 documents, 34 passages; was {old})" in second.stdout
    assert NEW_FACT in answer_text(env, NEW_FACT_QUESTION)

    back = bot_command("rollback", env=env)
    assert back.returncode == 0, back.stderr
    assert current(data_dir) == old
    assert NEW_FACT not in answer_text(env, NEW_FACT_QUESTION)  # a restart keeps the rollback
    with sqlite3.connect(data_dir / "bot.sqlite3") as db:
        switches = db.execute("select version_id, action from serving_versions order by id")
        switches = switches.fetchall()
    assert switches == [(old, "reload"), (new, "reload"), (old, "rollback")]
    nothing = bot_command("rollback", env=env)
    assert nothing.returncode == 2
    assert nothing.stderr.startswith("error: there is no earlier version to return to")


def test_a_reload_of_an_empty_corpus_or_a_damaged_file_keeps_the_old_version(
    served: tuple[Path, Path, dict[str, str], str],
) -> None:
    data_dir, corpus_dir, env, serving = served
    (corpus_dir / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj <<")
    damaged = bot_command("reload", env=env)
    assert damaged.returncode == 2
    assert damaged.stderr.splitlines()[-1].startswith("error: broken.pdf is a damaged PDF")
    (corpus_dir / "broken.pdf").unlink()
    (corpus_dir / "nmg-trade-unions-2025.txt").rename(data_dir / "kept.txt")
    empty = bot_command("reload", "--json", env=env)
    assert empty.returncode == 2
    assert json.loads(empty.stdout.splitlines()[-1]) == {
        "event": "error",
        "message": f"the corpus folder {corpus_dir} has no documents (.txt, .md, .docx, .pdf, "
        ".html, .htm)",
    }
    assert current(data_dir) == serving
    assert versions(data_dir) == [serving]
    assert not list((data_dir / "index").glob(".building-*"))


def test_a_version_that_fails_its_checks_is_removed_and_never_served(
    served: tuple[Path, Path, dict[str, str], str],
) -> None:
    data_dir, _, env, serving = served
    check = json.dumps(["怎么做红烧肉？"])
    refused = bot_command("reload", env={**env, "INDEX__CHECK_QUESTIONS": check})
    assert refused.returncode == 2
    assert "does not answer the check question '怎么做红烧肉？'" in refused.stderr
    assert current(data_dir) == serving
    assert versions(data_dir) == [serving]


def test_a_reload_killed_with_sigkill_halfway_leaves_the_last_good_version_serving(
    served: tuple[Path, Path, dict[str, str], str],
) -> None:
    data_dir, corpus_dir, env, good = served
    (corpus_dir / "星光驿站.docx").write_bytes(NEW_DOC)
    build = start_reload(env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert build.stdout is not None
    for line in build.stdout:  # its progress, as a running bot reads it
        event = json.loads(line)
        progress = event["event"] == "progress" and event["stage"] == "passages"
        if progress and event["done"] * 2 >= event["total"]:
            break  # embedding the passages, half-way
    else:
        raise AssertionError("the build ended before it was half-way")
    staging = list((data_dir / "index").glob(".building-*"))
    assert staging, "no staging folder while building"
    build.send_signal(signal.SIGKILL)
    assert build.wait(30) == -signal.SIGKILL
    build.stdout.close()
    assert staging[0].exists()  # what the killed build left behind
    assert current(data_dir) == good
    assert versions(data_dir) == [good]

    # The next start cleans up and serves the last good version.
    assert NEW_FACT not in answer_text(env, NEW_FACT_QUESTION)
    assert not list((data_dir / "index").glob(".building-*"))
    assert current(data_dir) == good
    assert bot_command("reload", env=env).returncode == 0  # and the lock was released


# --- two instances -----------------------------------------------------------------------------

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
SECRET = "two-instances-secret"
ADMIN = 880_001


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh PostgreSQL database for the two processes to share (and Redis for their state)."""
    import asyncpg

    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("Redis", "127.0.0.1", 6379)

    name = f"reload_{uuid.uuid4().hex[:10]}"

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(f"{POSTGRES}/test")
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    asyncio.run(run(f'DROP DATABASE "{name}" WITH (FORCE)'))


def fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    import asyncpg

    async def run() -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(url.replace("+asyncpg", ""))
        try:
            return [tuple(r) for r in await connection.fetch(sql)]
        finally:
            await connection.close()

    return asyncio.run(run())


def test_a_reload_through_one_instance_is_served_by_the_other_within_10_s(
    tmp_path: Path, converted_model: Path, database: str
) -> None:
    data_dir, corpus_dir = deployment(tmp_path, converted_model)
    stub = BotApiStub()
    stub.start()
    ports = [free_port(), free_port()]
    common = {
        "DATABASE_URL": database,
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "ADMINS": str(ADMIN),
        "PATHS__CORPUS_DIR": str(corpus_dir),
        "TELEGRAM__MODE": "webhook",
        "TELEGRAM__WEBHOOK_SECRET": SECRET,
        "ADMIN__VERSION_POLL_S": "2",
    }
    try:
        with (
            BotProcess(
                stub,
                data_dir,
                tmp_path / "a.log",
                TELEGRAM__WEBHOOK_PORT=str(ports[0]),
                **common,
            ) as first,
            BotProcess(
                stub,
                data_dir,
                tmp_path / "b.log",
                TELEGRAM__WEBHOOK_PORT=str(ports[1]),
                **common,
            ) as second,
        ):
            first.wait_started()
            second.wait_started(menus_before=2)  # the same bot: its menus come twice
            for port in ports:
                wait_listening(port)
            urls = [f"http://127.0.0.1:{port}/telegram/webhook" for port in ports]
            first_user = random.randrange(10**6, 10**9)  # no state left in Redis by earlier runs
            user = iter(range(first_user, first_user + 1000))
            assert NEW_FACT not in ask_instance(stub, urls[1], next(user))

            (corpus_dir / "星光驿站.docx").write_bytes(NEW_DOC)
            since = time.monotonic()
            assert post_update(urls[0], update(message_update(ADMIN, "/reload")), SECRET) == 200
            done = stub.wait_for(
                lambda c: (
                    c.method == "editMessageText"
                    and c.at >= since
                    and c.params["text"].startswith("✅")
                ),
                timeout=120,
            )
            assert done, first.log()
            switched_at = done[0].at
            served_after = None
            while time.monotonic() - switched_at < 15:
                if NEW_FACT in ask_instance(stub, urls[1], next(user)):
                    served_after = time.monotonic() - switched_at
                    break
                time.sleep(0.2)
            assert served_after is not None, second.log()
            assert served_after <= 10.0
            print(
                f"\nthe other instance served the new version {served_after:.2f} s after the switch"
            )

            new = current(data_dir)
            recorded = fetch(
                database, "select version_id, action from serving_versions order by id"
            )
            assert recorded[-1] == (new, "reload")
            asked = (
                "select index_version from questions where text = "
                f"'{NEW_FACT_QUESTION}' order by asked_at"
            )
            # The recorder writes after the reply is out: wait for the last question's row.
            assert wait_until(lambda: fetch(database, asked)[-1] == (new,))

            # Conversation state lives in Redis: a 👎 on one instance, the comment on the other.
            voter = next(user)
            reply = ask_call(stub, urls[0], voter)
            down = reply.params["reply_markup"]["inline_keyboard"][0][2]["callback_data"]
            since = time.monotonic()
            post_update(urls[0], update(callback_update(voter, down)), SECRET)
            (prompt,) = stub.wait_for(
                lambda c: (
                    c.method == "sendMessage"
                    and c.at >= since
                    and int(c.params["chat_id"]) == voter
                )
            )
            comment = message_update(
                voter,
                "电话打不通",
                reply_to_message={
                    "message_id": prompt.result["message_id"],
                    "date": 0,
                    "chat": {"id": voter, "type": "private"},
                    "from": prompt.result["from"],
                    "text": prompt.params["text"],
                },
            )
            post_update(urls[1], update(comment), SECRET)
            saved = stub.wait_for(
                lambda c: (
                    c.method == "sendMessage"
                    and int(c.params["chat_id"]) == voter
                    and c.params["text"] == "已记下您的意见，谢谢！"
                )
            )
            assert saved, second.log()
            feedback = f"select vote, comment from feedback where user_id = {voter}"
            assert wait_until(lambda: fetch(database, feedback) == [(-1, "电话打不通")])
            taught_id = teach_through_telegram(stub, urls, user, database)
            follow_up_through_telegram(stub, urls, user)

            # A rollback from a shell reaches both instances through the database.
            shell = site_env(data_dir, corpus_dir, DATABASE_URL=database)
            back = bot_command("rollback", env=shell)
            assert back.returncode == 0, back.stderr
            recorded_at = time.monotonic()
            for url in urls:
                while NEW_FACT in ask_instance(stub, url, next(user)):
                    assert time.monotonic() - recorded_at <= 10.0, "rollback not followed"
                    time.sleep(0.2)
            # The taught answer outlives the rollback, on both instances.
            for url in urls:
                assert TAUGHT_ANSWER in ask_instance(stub, url, next(user), TAUGHT_PARAPHRASE)
            withdraw_through_telegram(stub, urls, user, taught_id, database)
            assert first.stop() == 0
            assert second.stop() == 0
    finally:
        stub.stop()


_update_ids = iter(range(1, 1_000_000))


def update(content: dict[str, Any]) -> dict[str, Any]:
    """What Telegram posts to a webhook: the update's content and its id."""
    return {"update_id": next(_update_ids), **content}


def ask_call(stub: BotApiStub, url: str, user_id: int, question: str = NEW_FACT_QUESTION) -> Call:
    """Ask through one instance's webhook; the reply to that (new) user comes from it."""
    since = time.monotonic()
    assert post_update(url, update(message_update(user_id, question)), SECRET) == 200
    (reply,) = stub.wait_sent(user_id, since)
    return reply


def ask_instance(
    stub: BotApiStub, url: str, user_id: int, question: str = NEW_FACT_QUESTION
) -> str:
    return str(ask_call(stub, url, user_id, question).params["text"])


# --- answers the admins teach, follow-up questions ---------------------------------------------

UNANSWERED = "工会会员卡丢了怎么补办？"
TAUGHT_PARAPHRASE = "会员卡弄丢了去哪里补？"  # other words, the same need
NEAR_DOMAIN = "社保卡丢了怎么补办？"  # close words, another need: not the union's answer
TAUGHT_ANSWER = "带身份证到所在单位工会登记，旗县工会十个工作日内补发新卡。"
REFUSED = "抱歉，现有文件里没有找到这个问题的答案"


def admin_says(stub: BotApiStub, url: str, text: str) -> Call:
    since = time.monotonic()
    assert post_update(url, update(message_update(ADMIN, text)), SECRET) == 200
    (reply,) = stub.wait_sent(ADMIN, since)
    return reply


def press(stub: BotApiStub, url: str, user_id: int, data: str) -> list[Call]:
    """Press a button; what the bot answered (the callback answer, and any message)."""
    since = time.monotonic()
    assert post_update(url, update(callback_update(user_id, data)), SECRET) == 200
    return stub.wait_for(
        lambda c: c.at >= since and c.method == "answerCallbackQuery", timeout=20
    ) + [c for c in stub.calls if c.at >= since and c.method == "sendMessage"]


def buttons(call: Call) -> dict[str, str]:
    """The reply's inline buttons: text -> callback data."""
    rows = call.params.get("reply_markup", {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


def teach_through_telegram(
    stub: BotApiStub, urls: list[str], user: Iterator[int], database: str
) -> int:
    """A refused question, seen in /unanswered, taught on one instance (its conversation going
    through the other), answered in other words on the second within seconds."""
    assert REFUSED in ask_instance(stub, urls[0], next(user), UNANSWERED)
    listing = admin_says(stub, urls[0], "/unanswered")
    lines = listing.params["text"].splitlines()
    (line,) = [line for line in lines if UNANSWERED in line]
    number = line.split(".", 1)[0]
    teach = buttons(listing)[f"✍️ {number}"]
    # A forged question id changes nothing.
    forged = press(stub, urls[1], ADMIN, "tq:AAAAAAAAAAAAAAAA")
    assert forged[0].params.get("show_alert")
    assert "失效" in forged[0].params["text"]
    # A worker cannot teach.
    worker = next(user)
    refused = press(stub, urls[1], worker, teach)
    assert "只有管理员" in refused[0].params["text"]
    since = time.monotonic()
    press(stub, urls[1], ADMIN, teach)
    (prompt,) = stub.wait_sent(ADMIN, since)
    assert UNANSWERED in prompt.params["text"]
    # Too long: refused, nothing stored, the conversation goes on.
    too_long = admin_says(stub, urls[0], "长" * 2001)
    assert "最多 2000 字" in too_long.params["text"]
    saved = admin_says(stub, urls[0], f"<b>{TAUGHT_ANSWER}</b>\n问：工会会员卡遗失了怎么办")
    assert saved.params["text"].startswith("✅ 已记住")
    taught_at = time.monotonic()
    while True:  # the other instance serves it within seconds (no reload)
        reply = ask_call(stub, urls[1], next(user), TAUGHT_PARAPHRASE)
        if TAUGHT_ANSWER in reply.params["text"]:
            break
        assert time.monotonic() - taught_at <= 10.0, "the taught answer did not reach instance 2"
        time.sleep(0.2)
    served_after = time.monotonic() - taught_at
    print(f"\nthe other instance gave the taught answer {served_after:.2f} s after it was saved")
    text = reply.params["text"]
    assert "<b>" in text
    assert "&lt;b&gt;" in text
    assert "出处：工会答复（" in text
    assert "👎" in buttons(reply)  # a worker can say it did not help
    near = ask_instance(stub, urls[1], next(user), NEAR_DOMAIN)
    assert TAUGHT_ANSWER not in near
    ((taught_id, taught_by, stored_questions),) = fetch(
        database, "select id, taught_by, questions from taught_answers"
    )
    questions = json.loads(stored_questions)
    assert taught_by == ADMIN
    assert UNANSWERED in questions
    assert "工会会员卡遗失了怎么办" in questions
    answered = fetch(
        database,
        f"select taught_answer_id from questions where text = '{TAUGHT_PARAPHRASE}'",
    )
    assert (taught_id,) in answered
    audited = fetch(database, "select action from admin_events where allowed and user_id = "
                    f"{ADMIN} and action = 'teach'")  # fmt: skip
    assert audited == [("teach",)]
    return int(taught_id)


def withdraw_through_telegram(
    stub: BotApiStub, urls: list[str], user: Iterator[int], taught_id: int, database: str
) -> None:
    """/taught lists it; a stale button changes nothing; withdrawing stops it everywhere."""
    listing = admin_says(stub, urls[1], "/taught")
    assert TAUGHT_ANSWER[:20] in listing.params["text"]
    withdraw = buttons(listing)[f"🗑 #{taught_id}"]
    stale = withdraw.rsplit(":", 1)[0] + ":99"
    (answered, *_) = press(stub, urls[0], ADMIN, stale)
    assert "另一位管理员" in answered.params["text"]
    assert fetch(database, "select withdrawn_at from taught_answers") == [(None,)]
    press(stub, urls[0], ADMIN, withdraw)
    withdrawn_at = time.monotonic()
    for url in urls:
        while TAUGHT_ANSWER in ask_instance(stub, url, next(user), TAUGHT_PARAPHRASE):
            assert time.monotonic() - withdrawn_at <= 10.0, "withdrawal not followed"
            time.sleep(0.2)


def follow_up_through_telegram(stub: BotApiStub, urls: list[str], user: Iterator[int]) -> None:
    """A follow-up on the other instance is read with the question before it (kept in Redis);
    "new question" reads it on its own."""
    worker = next(user)
    first = ask_instance(stub, urls[0], worker, "边境口岸有货车司机之家吗？")
    assert "货车司机之家" in first
    follow = ask_call(stub, urls[1], worker, "建了几个？")
    assert "（接着您前面的问题「边境口岸有货车司机之家吗？」理解）" in follow.params["text"]
    assert "40个货车司机之家" in follow.params["text"]
    since = time.monotonic()
    press(stub, urls[0], worker, buttons(follow)["🆕 这是新问题"])
    alone = stub.wait_for(
        lambda c: (
            c.at >= since
            and c.method == "sendMessage"
            and int(c.params["chat_id"]) == worker
            and "接着您前面的问题" not in c.params["text"]
            and ("答：" in c.params["text"] or REFUSED in c.params["text"])
        )
    )
    assert alone
    # A question that stands alone is not read with the one before it.
    other = ask_instance(stub, urls[1], worker, "内蒙古总工会今年组织了哪些职工技能竞赛？")
    assert "接着您前面的问题" not in other


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` (a row, a file) until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
