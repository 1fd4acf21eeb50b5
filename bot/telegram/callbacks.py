"""Button data: short (well under Telegram's 64 bytes) and validated when it comes back.

Question ids are random (``secrets.token_urlsafe``), so a forged id finds nothing and gets a
polite "expired"; data that does not even parse falls through to the fallback router.
"""

from __future__ import annotations

import re
import secrets

from aiogram.filters.callback_data import CallbackData

QUESTION_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")


def new_question_id() -> str:
    return secrets.token_urlsafe(12)  # 16 characters


class Vote(CallbackData, prefix="v"):
    q: str
    up: bool


class ShowSources(CallbackData, prefix="s"):
    q: str


def valid_question_id(value: str) -> bool:
    return bool(QUESTION_ID.match(value))
