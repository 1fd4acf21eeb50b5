"""The repository on SQLite and on the PostgreSQL server (127.0.0.1:5432, database `test`),
each on a fresh schema made by the Alembic migrations."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db.engine import make_sessionmaker, migrate
from bot.db.models import AdminEvent
from bot.db.recorder import Recorder
from bot.db.repository import QuestionRecord, Repository, utcnow
from index.answering.answerer import NOT_IN_DOCUMENTS

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
async def repository(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Repository]:
    if request.param == "sqlite":
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
        await migrate(engine)
        yield Repository(make_sessionmaker(engine))
        await engine.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(POSTGRES)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_async_engine(
        POSTGRES, connect_args={"server_settings": {"search_path": schema}}
    )
    try:
        await migrate(engine)
        yield Repository(make_sessionmaker(engine))
    finally:
        await engine.dispose()
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


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


async def test_the_recorder_retries_until_the_write_succeeds(repository: Repository) -> None:
    recorder = Recorder(repository, first_retry_s=0.01)
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


async def test_a_failed_batch_is_rolled_back_and_written_one_by_one(repository: Repository) -> None:
    recorder = Recorder(repository, first_retry_s=0.01)
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
        await repository.record_question(record(f"u{n}", 8, text=asked, reason=NOT_IN_DOCUMENTS))
    await repository.record_question(record("e1", 8, text="", reason="the question is empty"))
    await repository.record_question(record("old", 8, days_ago=60, reason=NOT_IN_DOCUMENTS))
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
