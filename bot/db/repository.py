"""What the bot stores and reads, as plain async methods over one session each."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import (
    AdminEvent,
    AnswerShown,
    Feedback,
    HandledUpdate,
    OutboxProgress,
    Question,
    ServingVersion,
    TaughtAnswer,
    User,
)
from bot.redaction import redact_personal, storable
from index import Reason

# Telegram keeps an unconfirmed update for 24 hours; handled ids are kept a little longer.
HANDLED_UPDATES_KEPT = timedelta(days=2)


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
    reason: str | None  # an index.Reason code
    passage_ids: list[str]
    scores: list[float]
    latency_ms: float
    index_version: str
    answer_text: str
    section: str | None
    asked_at: datetime
    taught_answer_id: int | None = None  # the admins' answer that answered, if one did


@dataclass(frozen=True)
class TaughtVotes:
    """What workers said of a taught answer: votes and the latest 👎 comments."""

    up: int = 0
    down: int = 0
    comments: tuple[str, ...] = ()


class StaleEditError(RuntimeError):
    """A taught answer changed (another admin's edit or withdrawal) since the editor read it."""

    def __init__(self, current: TaughtAnswer | None):
        super().__init__("the taught answer changed meanwhile")
        self.current = current  # what is stored now (None: no such answer)


@dataclass(frozen=True)
class DayCount:
    day: str  # YYYY-MM-DD (UTC)
    questions: int
    answered: int


@dataclass(frozen=True)
class UsageStats:
    since: datetime
    days: list[DayCount]
    votes_up: int
    votes_down: int
    top_unanswered: list[tuple[str, int]]  # question text, times asked

    @property
    def questions(self) -> int:
        return sum(d.questions for d in self.days)

    @property
    def answered(self) -> int:
        return sum(d.answered for d in self.days)


# The session of the batch being written (see Recorder), which methods join instead of opening
# their own transaction.
_batch_session: ContextVar[AsyncSession | None] = ContextVar("batch_session", default=None)


class Repository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Run several writes in one transaction: all of them are stored, or none."""
        async with self.sessions.begin() as session:
            token = _batch_session.set(session)
            try:
                yield
            finally:
                _batch_session.reset(token)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        shared = _batch_session.get()
        if shared is not None:
            yield shared  # the batch commits
            return
        async with self.sessions.begin() as session:
            yield session

    async def record_question(self, record: QuestionRecord) -> None:
        """Store the question and the answer shown; idempotent, so a retried write is harmless."""
        async with self._transaction() as session:
            insert = _insert_for(session)
            user = insert(User).values(
                id=record.user_id,
                language=record.language,
                first_seen=record.asked_at,
                last_seen=record.asked_at,
            )
            await session.execute(
                user.on_conflict_do_update(
                    index_elements=[User.id],
                    set_={
                        "last_seen": user.excluded.last_seen,
                        "language": func.coalesce(user.excluded.language, User.language),
                    },
                )
            )
            question = insert(Question).values(
                id=record.question_id,
                user_id=record.user_id,
                chat_id=record.chat_id,
                text=storable(record.text),
                answered=record.answered,
                reason=record.reason,
                passage_ids=record.passage_ids,
                scores=record.scores,
                latency_ms=record.latency_ms,
                index_version=record.index_version,
                asked_at=record.asked_at,
                taught_answer_id=record.taught_answer_id,
            )
            await session.execute(question.on_conflict_do_nothing(index_elements=[Question.id]))
            shown = insert(AnswerShown).values(
                question_id=record.question_id,
                text=storable(record.answer_text),
                section=storable(record.section) if record.section else record.section,
                shown_at=record.asked_at,
            )
            await session.execute(
                shown.on_conflict_do_nothing(index_elements=[AnswerShown.question_id])
            )

    async def record_vote(self, question_id: str, user_id: int, vote: int) -> bool:
        """Store (or change) a user's vote; False when the question is unknown."""
        async with self._transaction() as session:
            if await session.get(Question, question_id) is None:
                return False
            insert = _insert_for(session)
            row = insert(Feedback).values(
                question_id=question_id, user_id=user_id, vote=vote, created_at=utcnow()
            )
            await session.execute(
                row.on_conflict_do_update(
                    index_elements=[Feedback.question_id, Feedback.user_id],
                    set_={"vote": row.excluded.vote},
                )
            )
            return True

    async def record_comment(self, question_id: str, user_id: int, comment: str) -> bool:
        comment = storable(redact_personal(comment))
        async with self._transaction() as session:
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

    async def mark_reply_failed(self, question_id: str) -> None:
        async with self._transaction() as session:
            await session.execute(
                update(Question).where(Question.id == question_id).values(reply_failed=True)
            )

    # --- updates handled (exactly-once over Telegram's at-least-once delivery) ------------

    async def was_handled(self, bot_id: int, update_id: int) -> bool:
        """Handled in the last two days (Telegram redelivers within one; after a week without
        updates it may start its ids anew, so older marks must not match)."""
        async with self.sessions() as session:
            found = await session.scalar(
                select(HandledUpdate.update_id).where(
                    HandledUpdate.bot_id == bot_id,
                    HandledUpdate.update_id == update_id,
                    HandledUpdate.handled_at >= utcnow() - HANDLED_UPDATES_KEPT,
                )
            )
            return found is not None

    async def mark_handled(self, bot_id: int, update_id: int) -> None:
        """Idempotent: a second instance marking the same update changes nothing."""
        async with self._transaction() as session:
            insert = _insert_for(session)
            await session.execute(
                insert(HandledUpdate)
                .values(bot_id=bot_id, update_id=update_id, handled_at=utcnow())
                .on_conflict_do_nothing(
                    index_elements=[HandledUpdate.bot_id, HandledUpdate.update_id]
                )
            )

    # --- the outbox (writes kept on local disk while the database was away) -----------------

    async def ping(self) -> None:
        """Raises unless the database answers (readiness)."""
        async with self.sessions() as session:
            await session.execute(select(1))

    async def outbox_applied(self, outbox_id: str) -> int:
        """The last sequence number of ``outbox_id`` written here (0: none)."""
        async with self.sessions() as session:
            found = await session.get(OutboxProgress, outbox_id)
            return found.applied_seq if found is not None else 0

    async def set_outbox_applied(self, outbox_id: str, seq: int) -> None:
        """Record (in the batch's transaction) that ``outbox_id`` is written up to ``seq``."""
        async with self._transaction() as session:
            insert = _insert_for(session)
            row = insert(OutboxProgress).values(
                outbox_id=outbox_id, applied_seq=seq, updated_at=utcnow()
            )
            await session.execute(
                row.on_conflict_do_update(
                    index_elements=[OutboxProgress.outbox_id],
                    set_={"applied_seq": row.excluded.applied_seq, "updated_at": utcnow()},
                )
            )

    async def forget_outbox(self, outbox_id: str) -> None:
        async with self._transaction() as session:
            await session.execute(
                delete(OutboxProgress).where(OutboxProgress.outbox_id == outbox_id)
            )

    async def forget_user(self, user_id: int) -> int:
        """Delete everything stored about ``user_id``; returns the number of questions removed."""
        async with self._transaction() as session:
            asked = select(Question.id).where(Question.user_id == user_id)
            count = await session.scalar(select(func.count()).select_from(asked.subquery())) or 0
            await session.execute(delete(Feedback).where(Feedback.user_id == user_id))
            await session.execute(delete(Feedback).where(Feedback.question_id.in_(asked)))
            await session.execute(delete(AnswerShown).where(AnswerShown.question_id.in_(asked)))
            await session.execute(delete(Question).where(Question.user_id == user_id))
            await session.execute(delete(User).where(User.id == user_id))
            await session.execute(delete(AdminEvent).where(AdminEvent.user_id == user_id))
            return int(count)

    async def prune(self, older_than: datetime) -> int:
        """Delete questions asked before ``older_than`` (with their answers and feedback)."""
        async with self._transaction() as session:
            old = select(Question.id).where(Question.asked_at < older_than)
            count = await session.scalar(select(func.count()).select_from(old.subquery())) or 0
            await session.execute(delete(Feedback).where(Feedback.question_id.in_(old)))
            await session.execute(delete(AnswerShown).where(AnswerShown.question_id.in_(old)))
            await session.execute(delete(Question).where(Question.asked_at < older_than))
            # Telegram redelivers an update for at most a day: older ids need not be kept.
            stale = utcnow() - HANDLED_UPDATES_KEPT
            await session.execute(delete(HandledUpdate).where(HandledUpdate.handled_at < stale))
            return int(count)

    async def counts(self) -> dict[str, int]:
        async with self.sessions() as session:
            return {
                table.__tablename__: int(
                    await session.scalar(select(func.count()).select_from(table)) or 0
                )
                for table in (User, Question, AnswerShown, Feedback)
            }

    # --- index versions and admins -------------------------------------------------------

    async def record_switch(self, version_id: str, action: str, actor: str) -> None:
        async with self._transaction() as session:
            session.add(
                ServingVersion(
                    version_id=version_id, action=action, actor=actor, switched_at=utcnow()
                )
            )

    async def serving_version(self) -> str | None:
        """The version every instance should serve: the newest switch recorded."""
        async with self.sessions() as session:
            return await session.scalar(
                select(ServingVersion.version_id).order_by(ServingVersion.id.desc()).limit(1)
            )

    async def record_admin_event(
        self, user_id: int, action: str, *, allowed: bool, detail: str | None = None
    ) -> None:
        async with self._transaction() as session:
            session.add(_admin_event(user_id, action, allowed=allowed, detail=detail))

    # --- answers the admins taught -------------------------------------------------------

    async def taught_answers(self, *, withdrawn: bool = False) -> list[TaughtAnswer]:
        """The taught answers in force (``withdrawn``: the withdrawn ones too), oldest first."""
        async with self.sessions() as session:
            query = select(TaughtAnswer).order_by(TaughtAnswer.id)
            if not withdrawn:
                query = query.where(TaughtAnswer.withdrawn_at.is_(None))
            return list(await session.scalars(query))

    async def taught_signature(self) -> tuple[int, int]:
        """Changes whenever an answer is taught, edited or withdrawn (what instances poll)."""
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(func.count(), func.coalesce(func.sum(TaughtAnswer.revision), 0))
                )
            ).one()
            return int(row[0]), int(row[1])

    async def teach(self, questions: list[str], answer: str, admin_id: int) -> TaughtAnswer:
        """Store a new taught answer (and its audit event, in the same transaction)."""
        now = utcnow()
        taught = TaughtAnswer(
            questions=list(dict.fromkeys(storable(redact_personal(q)) for q in questions)),
            answer=storable(answer),
            revision=1,
            taught_by=admin_id,
            taught_at=now,
            updated_by=admin_id,
            updated_at=now,
        )
        async with self._transaction() as session:
            session.add(taught)
            await session.flush()
            session.add(_taught_event(admin_id, "teach", taught))
        return taught

    async def edit_taught(
        self,
        answer_id: int,
        revision: int,
        admin_id: int,
        *,
        answer: str | None = None,
        more_questions: Sequence[str] = (),
        withdraw: bool = False,
    ) -> TaughtAnswer:
        """Change the answer (its text, more questions, or withdraw it) if it is still at
        ``revision``; StaleEditError with what is stored now otherwise. One UPDATE ... WHERE
        revision = read, so of two admins editing at once exactly one wins."""
        async with self._transaction() as session:
            current = await session.get(TaughtAnswer, answer_id, with_for_update=True)
            if current is None or current.revision != revision or current.withdrawn_at:
                raise StaleEditError(_detached(session, current))
            values: dict[str, Any] = {
                "revision": revision + 1, "updated_by": admin_id, "updated_at": utcnow()
            }  # fmt: skip
            if answer is not None:
                values["answer"] = storable(answer)
            if more_questions:
                added = [storable(redact_personal(q)) for q in more_questions]
                values["questions"] = list(dict.fromkeys([*current.questions, *added]))
            if withdraw:
                values["withdrawn_at"] = values["updated_at"]
            done = await session.execute(
                update(TaughtAnswer)
                .where(TaughtAnswer.id == answer_id, TaughtAnswer.revision == revision)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                await session.refresh(current)
                raise StaleEditError(_detached(session, current))
            await session.refresh(current)
            session.add(_taught_event(admin_id, "withdraw" if withdraw else "edit", current))
            return current

    async def taught_votes(self) -> dict[int, TaughtVotes]:
        """Votes and 👎 comments on the questions each taught answer answered."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(Question.taught_answer_id, Feedback.vote, Feedback.comment)
                .join(Feedback, Feedback.question_id == Question.id)
                .where(Question.taught_answer_id.is_not(None))
                .order_by(Feedback.created_at)
            )
            found: dict[int, TaughtVotes] = {}
            for answer_id, vote, comment in rows.all():
                if answer_id is None:
                    continue
                was = found.get(answer_id, TaughtVotes())
                comments = (*was.comments, comment)[-3:] if comment else was.comments
                found[answer_id] = TaughtVotes(was.up + (vote > 0), was.down + (vote < 0), comments)
            return found

    # --- usage ---------------------------------------------------------------------------

    async def usage(self, since: datetime, *, top: int = 10) -> UsageStats:
        """Questions per day, answered share, votes and the most frequent unanswered questions."""
        async with self.sessions() as session:
            day = func.date(Question.asked_at)
            per_day = await session.execute(
                select(day, func.count(), func.sum(case((Question.answered, 1), else_=0)))
                .where(Question.asked_at >= since)
                .group_by(day)
                .order_by(day)
            )
            votes = dict(
                (
                    await session.execute(
                        select(Feedback.vote, func.count())
                        .join(Question, Question.id == Feedback.question_id)
                        .where(Question.asked_at >= since)
                        .group_by(Feedback.vote)
                    )
                ).all()
            )
        unanswered = Counter(_normalise(q.text) for q in await self.unanswered(since))
        counted = {str(d): DayCount(str(d), int(n), int(a or 0)) for d, n, a in per_day.all()}
        return UsageStats(
            since=since,
            days=[counted.get(day, DayCount(day, 0, 0)) for day in _days(since, utcnow())],
            votes_up=int(votes.get(1, 0)),
            votes_down=int(votes.get(-1, 0)),
            top_unanswered=unanswered.most_common(top),
        )

    async def unanswered(self, since: datetime, limit: int = 100_000) -> list[Question]:
        """Questions the documents did not answer (not those refused as empty or too long)."""
        async with self.sessions() as session:
            found = await session.scalars(
                select(Question)
                .where(
                    Question.asked_at >= since,
                    Question.answered.is_(False),
                    Question.reason == Reason.NOT_IN_DOCUMENTS.value,
                )
                .order_by(Question.asked_at)
                .limit(limit)
            )
            return list(found)


def _detached(session: AsyncSession, row: TaughtAnswer | None) -> TaughtAnswer | None:
    """``row`` as read, kept readable after the transaction rolls back (which expires what the
    session holds)."""
    if row is not None:
        session.expunge(row)
    return row


def _admin_event(user_id: int, action: str, *, allowed: bool, detail: str | None) -> AdminEvent:
    """An audit-log row, its detail redacted and storable."""
    return AdminEvent(
        user_id=user_id,
        action=action,
        allowed=allowed,
        detail=storable(redact_personal(detail)) if detail else detail,
        at=utcnow(),
    )


def _taught_event(admin_id: int, action: str, taught: TaughtAnswer) -> AdminEvent:
    detail = f"#{taught.id} r{taught.revision}: {taught.questions[0] if taught.questions else ''}"
    event = _admin_event(admin_id, action, allowed=True, detail=detail)
    event.detail = event.detail[:200] if event.detail else event.detail  # cut once redacted
    return event


def _days(start: datetime, end: datetime) -> list[str]:
    """Every UTC day from ``start`` to ``end``, so quiet days show as zero, not as gaps."""
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _normalise(text: str) -> str:
    return " ".join(text.split()).rstrip("?？。!！ ").casefold()


def _insert_for(session: AsyncSession) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (the same API on SQLite and PostgreSQL)."""
    name = session.get_bind().dialect.name
    return postgresql_insert if name == "postgresql" else sqlite_insert


async def _feedback(session: AsyncSession, question_id: str, user_id: int) -> Feedback | None:
    return await session.scalar(
        select(Feedback).where(Feedback.question_id == question_id, Feedback.user_id == user_id)
    )
