"""The repository and the recorder on SQLite and on the PostgreSQL server (127.0.0.1:5432,
database `test`), each on a fresh schema made by the Alembic migrations; the migrations agree
with the models, and `alembic upgrade head` works from the command line."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, func, select, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.db.engine import make_engine, make_sessionmaker, migrate
from bot.db.models import AdminEvent, Base, Feedback, HandledUpdate
from bot.db.outbox import Outbox
from bot.db.recorder import KEPT_LOCALLY, SET_ASIDE, Recorder
from bot.db.repository import QuestionRecord, Repository, utcnow
from bot.db.set_aside import SetAsideFile
from index import Reason
from tests.support import REPO, require_service

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def record(
    question_id: str,
    user_id: int,
    *,
    days_ago: int = 0,
    text: str = "工会能帮我打官司吗",
    reason: str | None = None,
) -> QuestionRecord:
    return QuestionRecord(
        question_id=question_id,
        user_id=user_id,
        language="zh-hans",
        chat_id=user_id,
        text=text,
        answered=reason is None,
        reason=reason,
        passage_ids=["a1", "b2"],
        scores=[1.5, 1.2],
        latency_ms=21.5,
        index_version="v1",
        answer_text="提供法律援助16次",
        section="以实际行动",
        asked_at=utcnow() - timedelta(days=days_ago),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A fresh, empty database (a SQLite file, or a new PostgreSQL schema)."""
    if request.param == "sqlite":
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
        yield engine
        await engine.dispose()
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(POSTGRES)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_async_engine(
        POSTGRES, connect_args={"server_settings": {"search_path": schema}}, hide_parameters=True
    )
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
async def repository(engine: AsyncEngine) -> Repository:
    await migrate(engine)
    return Repository(make_sessionmaker(engine))


@pytest.fixture
def set_aside(tmp_path: Path) -> SetAsideFile:
    return SetAsideFile(tmp_path / "set-aside" / "writes.jsonl")


async def test_questions_answers_votes_and_comments_are_stored(repository: Repository) -> None:
    await repository.record_question(record("q1", 7))
    await repository.record_question(record("q1", 7))  # a retried write is not duplicated
    assert await repository.record_vote("q1", 7, 1) is True
    assert await repository.record_vote("q1", 7, -1) is True  # changes the vote
    assert await repository.record_comment("q1", 7, "没说清楚") is True
    assert await repository.record_vote("missing", 7, 1) is False
    assert await repository.counts() == {"users": 1, "questions": 1, "answers": 1, "feedback": 1}
    stored = await repository.question("q1")
    assert stored is not None
    assert (stored.passage_ids, stored.scores, stored.answered) == (["a1", "b2"], [1.5, 1.2], True)


async def test_forget_me_removes_everything_about_the_user_only(repository: Repository) -> None:
    await repository.record_question(record("q1", 7))
    await repository.record_question(record("q2", 7))
    await repository.record_question(record("q3", 8))
    await repository.record_vote("q3", 7, 1)  # 7 voted on 8's question
    await repository.record_vote("q1", 8, -1)  # 8 voted on 7's question
    assert await repository.forget_user(7) == 2
    assert await repository.counts() == {"users": 1, "questions": 1, "answers": 1, "feedback": 0}


async def test_retention_prunes_old_questions(repository: Repository) -> None:
    await repository.record_question(record("old", 7, days_ago=400))
    await repository.record_question(record("new", 7, days_ago=1))
    await repository.record_vote("old", 7, 1)
    assert await repository.prune(utcnow() - timedelta(days=365)) == 1
    assert await repository.question("old") is None
    assert await repository.question("new") is not None


async def test_the_recorder_retries_until_the_write_succeeds(
    repository: Repository, set_aside: SetAsideFile
) -> None:
    recorder = Recorder(repository, set_aside, first_retry_s=0.01)
    recorder.start()
    attempts = 0

    async def flaky(repo: Repository) -> int:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("database is down")
        await repo.record_question(record("q9", 9))
        return attempts

    assert await recorder.submit("flaky", flaky) == 3
    vote = recorder.submit("vote", lambda repo: repo.record_vote("q9", 9, 1))  # after, in order
    assert await vote is True
    assert await recorder.stop(timeout=5)
    assert recorder.stats.written == 2
    assert recorder.stats.failed_attempts == 2


async def test_a_failed_batch_is_rolled_back_and_written_one_by_one(
    repository: Repository, set_aside: SetAsideFile
) -> None:
    recorder = Recorder(repository, set_aside, first_retry_s=0.01)
    attempts = 0

    async def flaky(repo: Repository) -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("database is down")
        return "stored"

    # Queued before the worker starts, so the three are taken as one batch.
    first = recorder.submit("q1", lambda repo: repo.record_question(record("q1", 1)))
    middle = recorder.submit("flaky", flaky)
    last = recorder.submit("vote", lambda repo: repo.record_vote("q1", 1, 1))
    recorder.start()
    assert [await first, await middle, await last] == [None, "stored", True]
    assert await recorder.stop(timeout=5)
    assert attempts == 3  # once in the failed batch, then twice more on its own
    assert await repository.counts() == {"users": 1, "questions": 1, "answers": 1, "feedback": 1}


async def test_the_serving_version_is_the_newest_switch_recorded(repository: Repository) -> None:
    assert await repository.serving_version() is None
    await repository.record_switch("v1", "start", "start:host:1")
    await repository.record_switch("v2", "reload", "telegram:7")
    await repository.record_switch("v1", "rollback", "shell:root@host")
    assert await repository.serving_version() == "v1"


async def test_usage_counts_days_votes_and_the_most_frequent_unanswered(
    repository: Repository,
) -> None:
    await repository.record_question(record("a1", 7, days_ago=2))
    await repository.record_question(record("a2", 7))
    for n, asked in enumerate(["怎么做红烧肉？", "怎么做红烧肉", " 怎么做红烧肉？ ", "股票行情"]):
        await repository.record_question(
            record(f"u{n}", 8, text=asked, reason=Reason.NOT_IN_DOCUMENTS)
        )
    await repository.record_question(record("e1", 8, text="", reason=Reason.EMPTY))
    await repository.record_question(record("old", 8, days_ago=60, reason=Reason.NOT_IN_DOCUMENTS))
    await repository.record_vote("a1", 7, 1)
    await repository.record_vote("a2", 8, -1)
    stats = await repository.usage(utcnow() - timedelta(days=30))
    assert len(stats.days) == 31  # quiet days are there, as zeros
    assert (stats.days[-3].questions, stats.days[-3].answered) == (1, 1)
    assert (stats.days[-1].questions, stats.days[-1].answered) == (6, 1)
    assert (stats.questions, stats.answered) == (7, 2)
    assert (stats.votes_up, stats.votes_down) == (1, 1)
    assert stats.top_unanswered == [("怎么做红烧肉", 3), ("股票行情", 1)]  # not the empty one
    unanswered = await repository.unanswered(utcnow() - timedelta(days=30))
    assert sorted(q.id for q in unanswered) == ["u0", "u1", "u2", "u3"]


async def test_admin_events_are_kept_and_forgotten_with_the_user(repository: Repository) -> None:
    await repository.record_admin_event(9, "/reload", allowed=False, detail="/reload")
    await repository.record_admin_event(10, "upload", allowed=True, detail="a.docx (10 bytes)")
    await repository.forget_user(9)
    async with repository.sessions() as session:
        left = (await session.execute(select(AdminEvent.user_id, AdminEvent.allowed))).all()
    assert [tuple(row) for row in left] == [(10, True)]


async def test_text_the_database_cannot_hold_is_cleaned_and_stored(
    repository: Repository,
) -> None:
    """A NUL (PostgreSQL refuses it) or a lone surrogate (SQLite refuses it) in a question or a
    comment is dropped or replaced, and the row stored: nothing waits behind it."""
    await repository.record_question(record("nul", 5, text="工会\x00法律援助\ud800？"))
    await repository.record_vote("nul", 5, -1)
    assert await repository.record_comment("nul", 5, "不对\x00\udc80")
    stored = await repository.question("nul")
    assert stored is not None
    assert stored.text == "工会法律援助\ufffd？"
    async with repository.sessions() as session:
        comment = await session.scalar(select(Feedback.comment))
    assert comment == "不对\ufffd"


async def test_personal_data_in_comments_is_redacted_when_stored(repository: Repository) -> None:
    await repository.record_question(record("pd", 6))
    await repository.record_comment("pd", 6, "打我电话13812345678或写信到 wang@example.com")
    async with repository.sessions() as session:
        comment = await session.scalar(select(Feedback.comment))
    assert comment == "打我电话[phone]或写信到 [email]"


async def test_a_permanently_failing_row_is_set_aside_and_the_rows_behind_it_are_stored(
    repository: Repository, set_aside: SetAsideFile
) -> None:
    recorder = Recorder(repository, set_aside, first_retry_s=0.01)
    # A value every database refuses for good, whatever the attempt: a user id over 64 bits.
    poison = [record("bad-id", 2**70, text="工会法律援助"), record("bad-id-2", -(2**70))]
    futures = [recorder.submit("q1", lambda repo: repo.record_question(record("q1", 1)))]
    for bad in poison:
        futures.append(
            recorder.submit(
                f"question {bad.question_id}",
                lambda repo, bad=bad: repo.record_question(bad),  # type: ignore[misc]
                record=bad,
            )
        )
    futures.append(recorder.submit("q2", lambda repo: repo.record_question(record("q2", 2))))
    futures.append(recorder.submit("vote", lambda repo: repo.record_vote("q2", 2, 1)))
    futures.append(recorder.submit("forget", lambda repo: repo.forget_user(1)))
    recorder.start()  # all queued: they are tried as one batch first, then one by one
    results = [await f for f in futures]
    assert results == [None, SET_ASIDE, SET_ASIDE, None, True, 1]
    assert await recorder.stop(timeout=5)
    assert await repository.question("q1") is None  # forgotten, after it was stored
    assert await repository.question("q2") is not None
    assert await repository.counts() == {"users": 1, "questions": 1, "answers": 1, "feedback": 1}
    kept = set_aside.rows()
    assert [row["row"]["question_id"] for row in kept] == ["bad-id", "bad-id-2"]
    assert all(row["why"] == "refused by the database" for row in kept)
    assert kept[0]["row"]["text"] == "工会法律援助"  # kept whole, for an admin
    assert recorder.stats.set_aside == 2


async def test_a_long_outage_fills_the_queue_to_its_bound_then_sets_writes_aside(
    repository: Repository, set_aside: SetAsideFile, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(repository, set_aside, first_retry_s=0.01, max_pending=3)
    down = True

    async def while_down(repo: Repository) -> str:
        if down:
            raise ConnectionError("database is down")
        return "stored"

    recorder.start()
    head = recorder.submit("head", while_down)  # taken by the worker, retried
    await asyncio.sleep(0)  # let the worker take it (the queue holds the rest)
    queued = [recorder.submit(f"w{i}", while_down, record={"n": i}) for i in range(3)]
    overflow = [recorder.submit(f"x{i}", while_down, record={"n": 10 + i}) for i in range(2)]
    assert [await f for f in overflow] == [SET_ASIDE, SET_ASIDE]
    assert "new writes are set aside" in caplog.text
    down = False
    assert [await head] + [await f for f in queued] == ["stored"] * 4
    assert await recorder.stop(timeout=5)
    assert [(row["why"], row["row"]["n"]) for row in set_aside.rows()] == [
        ("queue full", 10),
        ("queue full", 11),
    ]


async def test_at_shutdown_writes_the_database_never_took_are_set_aside_and_counted(
    repository: Repository, set_aside: SetAsideFile, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(repository, set_aside, first_retry_s=0.01)

    async def down(repo: Repository) -> None:
        raise ConnectionError("database is down")

    recorder.start()
    recorder.submit("first", down, record={"n": 1})
    recorder.submit("second", down, record={"n": 2})
    assert not await recorder.stop(timeout=0.2)
    assert "shutdown with 2 database writes not stored" in caplog.text
    # The one being retried when the worker stopped, and the one behind it, in order.
    assert [row["row"]["n"] for row in set_aside.rows()] == [1, 2]


async def test_the_migrations_build_exactly_the_schema_the_models_describe(
    engine: AsyncEngine,
) -> None:
    await migrate(engine)

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection)
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_reasons_stored_as_sentences_become_codes(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}")
    config = Config()
    config.set_main_option("script_location", str(REPO / "bot" / "db" / "migrations"))
    old = {
        "a": "the documents do not answer this question",
        "b": "the question is too long (1001 characters; the limit is 1000); please ask one",
        "c": "the question has no words to search for (only symbols or emoji)",
        "d": None,
    }

    def upgrade(connection: Connection, revision: str) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(upgrade, "0002")
        for question_id, reason in old.items():
            await connection.execute(
                text(
                    "insert into users (id, first_seen, last_seen) values (1, :t, :t) "
                    "on conflict do nothing"
                ),
                {"t": utcnow()},
            )
            await connection.execute(
                text(
                    "insert into questions (id, user_id, chat_id, text, answered, reason, "
                    "passage_ids, scores, latency_ms, index_version, asked_at) values "
                    "(:id, 1, 1, 'q', :answered, :reason, '[]', '[]', 1.0, 'v', :t)"
                ),
                {"id": question_id, "answered": reason is None, "reason": reason, "t": utcnow()},
            )
        await connection.run_sync(upgrade, "head")
        rows = dict((await connection.execute(text("select id, reason from questions"))).all())
    await engine.dispose()
    assert rows == {"a": "not_in_documents", "b": "too_long", "c": "unsearchable", "d": None}


def test_alembic_upgrade_head_from_the_command_line_uses_the_project_settings(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    alembic = Path(sys.executable).with_name("alembic")
    done = subprocess.run(
        [str(alembic), "upgrade", "head"],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    current = subprocess.run(
        [str(alembic), "current"], check=False, cwd=REPO, env=env, capture_output=True, text=True
    )
    assert "(head)" in current.stdout, current.stderr
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
    assert {"questions", "feedback", "serving_versions", "admin_events"} <= tables


async def test_a_migration_cut_short_on_sqlite_leaves_no_half_schema(tmp_path: Path) -> None:
    """SQLite DDL runs inside the transaction (the driver would commit each CREATE alone), so a
    process killed during its first migration leaves a database the next start can migrate."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'half.sqlite3'}")
    try:

        async def cut_short() -> None:
            async with engine.begin() as connection:
                await connection.execute(text("CREATE TABLE half (id INTEGER)"))
                raise RuntimeError("cut short")

        with pytest.raises(RuntimeError, match="cut short"):
            await cut_short()
        async with engine.connect() as connection:
            tables = (await connection.execute(text("SELECT name FROM sqlite_master"))).all()
        assert tables == []
        await migrate(engine)  # and a migration from there completes
    finally:
        await engine.dispose()


# --- the outbox: while the database is away, writes are kept on local disk (an update counts as
# done, and polling never waits on the database), then written to it in order, once: also after
# a restart, and after a replay cut short.


class Outage:
    """A sessionmaker that fails, as a database that is down does, while ``down`` is set."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("database is down")

    def __call__(self) -> Any:
        self._check()
        return self.sessions()

    def begin(self) -> Any:
        self._check()
        return self.sessions.begin()


@pytest.fixture
def outage(repository: Repository) -> Outage:
    return Outage(repository.sessions)


@pytest.fixture
def flaky(outage: Outage) -> Repository:
    return Repository(outage)  # type: ignore[arg-type]


async def wait_for(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def count(repo: Repository, model: Any) -> int:
    async with repo.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_while_the_database_is_away_writes_are_kept_on_disk_then_written_once(
    flaky: Repository,
    outage: Outage,
    set_aside: SetAsideFile,
    tmp_path: Path,
) -> None:
    outbox = Outbox.claim(tmp_path / "outbox")
    recorder = Recorder(flaky, set_aside, outbox=outbox, first_retry_s=0.05, max_retry_s=0.2)
    recorder.start()
    outage.down = True
    results = [
        await recorder.store("question", record("q1", 7)),
        await recorder.store("vote", {"question_id": "q1", "user_id": 7, "vote": -1}),
        await recorder.store("comment", {"question_id": "q1", "user_id": 7, "comment": "不清楚"}),
        await recorder.store("handled", {"bot_id": 1, "update_id": 42}),
    ]
    assert results == [KEPT_LOCALLY] * 4  # done, without the database
    assert recorder.keeping_locally
    assert recorder.kept_handled(1, 42)
    lines = outbox.path.read_text().splitlines()
    assert [json.loads(line).get("kind") for line in lines[1:]] == [
        "question", "vote", "comment", "handled",
    ]  # fmt: skip
    outage.down = False
    await wait_for(lambda: not recorder.keeping_locally)
    assert not outbox.path.exists()  # written, then removed
    assert await flaky.counts() == {"users": 1, "questions": 1, "answers": 1, "feedback": 1}
    assert await flaky.was_handled(1, 42)
    # Writing directly again.
    assert await recorder.store("handled", {"bot_id": 1, "update_id": 43}) is None
    assert await recorder.stop(timeout=5)
    assert recorder.stats.kept_locally == 4
    assert recorder.stats.replayed == 4
    assert set_aside.rows() == []


async def test_writes_kept_at_a_stop_during_an_outage_are_written_after_the_restart(
    flaky: Repository,
    outage: Outage,
    set_aside: SetAsideFile,
    tmp_path: Path,
) -> None:
    outage.down = True
    first = Recorder(flaky, set_aside, outbox=Outbox.claim(tmp_path / "outbox"), first_retry_s=0.05)
    first.start()
    queued = [
        first.store(
            "admin_event", {"user_id": 5, "action": f"/a{i}", "allowed": False, "detail": None}
        )
        for i in range(3)
    ]
    await first.stop(timeout=0.5)
    assert [f.result() for f in queued] == [KEPT_LOCALLY] * 3
    outage.down = False
    second = Recorder(
        flaky, set_aside, outbox=Outbox.claim(tmp_path / "outbox"), first_retry_s=0.05
    )
    assert len(second.outbox or ()) == 3  # the same slot, adopted
    second.start()
    await wait_for(lambda: not second.keeping_locally)
    assert await second.stop(timeout=5)
    assert await count(flaky, AdminEvent) == 3
    assert set_aside.rows() == []


async def test_a_replay_cut_short_writes_nothing_twice_and_skips_nothing(
    repository: Repository,
    tmp_path: Path,
) -> None:
    outbox = Outbox.claim(tmp_path / "outbox")
    outbox.append(
        [
            ("admin_event", {"user_id": 5, "action": f"/a{i}", "allowed": True, "detail": None})
            for i in range(5)
        ]
    )
    # A replay that committed the first batch (two entries), then the process died.
    await repository.record_admin_event(5, "/a0", allowed=True)
    await repository.record_admin_event(5, "/a1", allowed=True)
    await repository.set_outbox_applied(outbox.id, 2)
    outbox.release()
    again = Outbox.claim(tmp_path / "outbox")
    assert again.id == outbox.id
    assert await again.replay(repository, batch=2) == (3, 5)
    async with repository.sessions() as session:
        actions = (await session.scalars(select(AdminEvent.action).order_by(AdminEvent.id))).all()
    assert actions == ["/a0", "/a1", "/a2", "/a3", "/a4"]


async def test_instances_sharing_a_data_folder_each_claim_an_outbox_of_their_own(
    tmp_path: Path,
) -> None:
    first, second = Outbox.claim(tmp_path), Outbox.claim(tmp_path)
    assert first.path != second.path
    first.release()
    assert Outbox.claim(tmp_path).path == first.path  # a stopped instance's slot is adopted


async def test_a_handled_mark_kept_on_disk_is_known_before_the_database_has_it(
    flaky: Repository,
    outage: Outage,
    set_aside: SetAsideFile,
    tmp_path: Path,
) -> None:
    outage.down = True
    recorder = Recorder(flaky, set_aside, outbox=Outbox.claim(tmp_path / "o"), first_retry_s=0.05)
    recorder.start()
    assert await recorder.store("handled", {"bot_id": 3, "update_id": 9}) is KEPT_LOCALLY
    await recorder.stop(timeout=0.2)
    restarted = Recorder(flaky, set_aside, outbox=Outbox.claim(tmp_path / "o"))
    assert restarted.kept_handled(3, 9)  # from the file, with the database still down
    outage.down = False
    restarted.start()
    await wait_for(lambda: not restarted.keeping_locally)
    await restarted.stop(timeout=5)
    assert await count(flaky, HandledUpdate) == 1
