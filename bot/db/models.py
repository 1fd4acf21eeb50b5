"""The stored schema. Changes go through an Alembic migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True)}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # the Telegram user id
    language: Mapped[str | None] = mapped_column(String(16))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class Question(Base):
    __tablename__ = "questions"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)  # also in button data
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    answered: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    passage_ids: Mapped[list[str]] = mapped_column(JSON)
    scores: Mapped[list[float]] = mapped_column(JSON)
    latency_ms: Mapped[float] = mapped_column(Float)
    index_version: Mapped[str] = mapped_column(String(64))
    asked_at: Mapped[datetime] = mapped_column(index=True)
    # Every attempt to deliver the answer failed (Telegram down, the chat gone).
    reply_failed: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    # The admins' answer that answered it (no foreign key: taught answers are withdrawn, never
    # deleted, and a question may reach the database from an outbox before anything else).
    taught_answer_id: Mapped[int | None] = mapped_column(Integer, index=True)


class AnswerShown(Base):
    __tablename__ = "answers"

    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    section: Mapped[str | None] = mapped_column(Text)
    shown_at: Mapped[datetime]


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("question_id", "user_id", name="uq_feedback_voter"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), index=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    vote: Mapped[int] = mapped_column(SmallInteger)  # +1 or -1
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class ServingVersion(Base):
    """Every switch of the serving index version; the newest row is what all instances serve."""

    __tablename__ = "serving_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # start, reload, rollback
    actor: Mapped[str] = mapped_column(String(64))  # telegram:<user id>, shell:<user>
    switched_at: Mapped[datetime]


class AdminEvent(Base):
    """Every admin command or upload attempt, allowed or refused."""

    __tablename__ = "admin_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(32))
    allowed: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(index=True)


class HandledUpdate(Base):
    """A Telegram update this bot has handled: a redelivered one (a crash before the offset was
    confirmed, a webhook retry) is recognised here, by any instance, and not handled again."""

    __tablename__ = "handled_updates"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    handled_at: Mapped[datetime] = mapped_column(index=True)


class TaughtAnswer(Base):
    """An answer the union's admins taught, with the questions it answers. Edited in place
    (``revision`` counts the edits: an edit names the revision it read, so two admins editing
    at once cannot overwrite each other unseen); withdrawn, never deleted."""

    __tablename__ = "taught_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    questions: Mapped[list[str]] = mapped_column(JSON)
    answer: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    taught_by: Mapped[int] = mapped_column(BigInteger)
    taught_at: Mapped[datetime]
    updated_by: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(index=True)
    withdrawn_at: Mapped[datetime | None]


class OutboxProgress(Base):
    """How far an instance's outbox (writes kept on its disk while the database was away, see
    ``bot.db.outbox``) has been written here: updated in the same transaction as the writes,
    so a replay cut short by a crash neither repeats nor skips one."""

    __tablename__ = "outbox_progress"

    outbox_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    applied_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]
