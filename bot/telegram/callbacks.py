"""Button data: short (well under Telegram's 64 bytes) and validated when it comes back.

Question ids cannot be guessed (a keyed hash of the update), so a forged id finds
nothing and gets a polite "expired"; data that does not even parse falls through to the fallback
router. The id of a question is the same each time its update is delivered, so a question
answered again after a crash is still stored once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from aiogram.filters.callback_data import CallbackData

QUESTION_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")


def question_id_for(key: str, update_id: int) -> str:
    """The id of the question an update asks: 16 URL-safe characters, derived from the update
    under a secret ``key`` (the bot token)."""
    digest = hmac.new(key.encode(), f"question:{update_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode()


class Vote(CallbackData, prefix="v"):
    q: str
    up: bool


class ShowSources(CallbackData, prefix="s"):
    q: str


class AskSuggested(CallbackData, prefix="k"):
    """A question offered after a refusal ("您可以这样问"), by its key in the question bank."""

    k: str


def valid_question_id(value: str) -> bool:
    return bool(QUESTION_ID.match(value))


class NewTopic(CallbackData, prefix="n"):
    """A follow-up read with the earlier question: read it on its own instead."""

    q: str


class TeachQuestion(CallbackData, prefix="tq"):
    """/unanswered: answer this (stored) question."""

    q: str


class TeachPassage(CallbackData, prefix="tp"):
    """While teaching: answer with the ``i``-th passage shown for the question."""

    q: str
    i: int


class EditTaught(CallbackData, prefix="te"):
    """/taught: edit answer ``id`` as read at revision ``r`` (a stale revision changes nothing)."""

    id: int
    r: int


class WithdrawTaught(CallbackData, prefix="tw"):
    id: int
    r: int
