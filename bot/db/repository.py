"""What the bot stores and reads, as plain async methods over one session each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import AnswerShown, Feedback, Question, User


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class QuestionRecord:
    """Everything stored about one question and the answer shown for it."""

    question_id: str
    user_id: int
    language: str | None
    chat_id: int
    text: str
    answered: bool
    reason: str | None
    passage_ids: list[str]
    scores: list[float]
    latency_ms: float
    index_version: str
    answer_text: str
    section: str | None
    asked_at: datetime


class Repository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions

    async def record_question(self, record: QuestionRecord) -> None:
        async with self.sessions.begin() as session:
            await _touch_user(session, record.user_id, record.language, record.asked_at)
            if await session.get(Question, record.question_id) is not None:
                return  # a retried write that had in fact succeeded
            session.add(
                Question(
                    id=record.question_id,
                    user_id=record.user_id,
                    chat_id=record.chat_id,
                    text=record.text,
                    answered=record.answered,
                    reason=record.reason,
                    passage_ids=record.passage_ids,
                    scores=record.scores,
                    latency_ms=record.latency_ms,
                    index_version=record.index_version,
                    asked_at=record.asked_at,
                )
            )
            await session.flush()
            session.add(
                AnswerShown(
                    question_id=record.question_id,
                    text=record.answer_text,
                    section=record.section,
                    shown_at=record.asked_at,
                )
            )

    async def record_vote(self, question_id: str, user_id: int, vote: int) -> bool:
        """Store (or change) a user's vote; False when the question is unknown."""
        async with self.sessions.begin() as session:
            if await session.get(Question, question_id) is None:
                return False
            existing = await _feedback(session, question_id, user_id)
            if existing is None:
                session.add(
                    Feedback(
                        question_id=question_id, user_id=user_id, vote=vote, created_at=utcnow()
                    )
                )
            else:
                existing.vote = vote
            return True

    async def record_comment(self, question_id: str, user_id: int, comment: str) -> bool:
        async with self.sessions.begin() as session:
            existing = await _feedback(session, question_id, user_id)
            if existing is None:
                if await session.get(Question, question_id) is None:
                    return False
                session.add(
                    Feedback(
                        question_id=question_id,
                        user_id=user_id,
                        vote=-1,
                        comment=comment,
                        created_at=utcnow(),
                    )
                )
            else:
                existing.comment = comment
            return True

    async def question(self, question_id: str) -> Question | None:
        async with self.sessions() as session:
            return await session.get(Question, question_id)

    async def forget_user(self, user_id: int) -> int:
        """Delete everything stored about ``user_id``; returns the number of questions removed."""
        async with self.sessions.begin() as session:
            asked = select(Question.id).where(Question.user_id == user_id)
            count = await session.scalar(select(func.count()).select_from(asked.subquery())) or 0
            await session.execute(delete(Feedback).where(Feedback.user_id == user_id))
            await session.execute(delete(Feedback).where(Feedback.question_id.in_(asked)))
            await session.execute(delete(AnswerShown).where(AnswerShown.question_id.in_(asked)))
            await session.execute(delete(Question).where(Question.user_id == user_id))
            await session.execute(delete(User).where(User.id == user_id))
            return int(count)

    async def prune(self, older_than: datetime) -> int:
        """Delete questions asked before ``older_than`` (with their answers and feedback)."""
        async with self.sessions.begin() as session:
            old = select(Question.id).where(Question.asked_at < older_than)
            count = await session.scalar(select(func.count()).select_from(old.subquery())) or 0
            await session.execute(delete(Feedback).where(Feedback.question_id.in_(old)))
            await session.execute(delete(AnswerShown).where(AnswerShown.question_id.in_(old)))
            await session.execute(delete(Question).where(Question.asked_at < older_than))
            return int(count)

    async def counts(self) -> dict[str, int]:
        async with self.sessions() as session:
            return {
                table.__tablename__: int(
                    await session.scalar(select(func.count()).select_from(table)) or 0
                )
                for table in (User, Question, AnswerShown, Feedback)
            }


async def _touch_user(
    session: AsyncSession, user_id: int, language: str | None, seen: datetime
) -> None:
    user = await session.get(User, user_id)
    if user is None:
        session.add(User(id=user_id, language=language, first_seen=seen, last_seen=seen))
        await session.flush()
    else:
        user.last_seen = max(
            user.last_seen.replace(tzinfo=UTC) if user.last_seen.tzinfo is None else user.last_seen,
            seen,
        )
        user.language = language or user.language


async def _feedback(session: AsyncSession, question_id: str, user_id: int) -> Feedback | None:
    return await session.scalar(
        select(Feedback).where(Feedback.question_id == question_id, Feedback.user_id == user_id)
    )
