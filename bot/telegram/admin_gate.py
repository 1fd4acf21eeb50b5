"""Who may use the admin routers: an inner middleware that records every attempt.

It runs after a handler's filters matched (so it sees only admin commands, admin buttons and
documents), lets the ids of ``[admin] ids`` through in a private chat, and answers everyone else
politely (an admin in a group is asked to use the private chat). Each attempt, allowed or
refused, is written to ``admin_events``.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, User

from bot.db.recorder import Recorder
from bot.redaction import redact_personal
from bot.settings import Settings
from bot.telegram.middlewares import Handler
from bot.texts import Texts

log = logging.getLogger(__name__)
_DETAIL_MAX = 200


class AdminAction(CallbackData, prefix="adm"):
    action: str  # "reload"


class AdminGate(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        settings: Settings = data["settings"]
        recorder: Recorder = data["recorder"]
        texts: Texts = data["texts"]
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        # Statistics and corpus details are for admins' eyes: never shown in a group.
        private = chat is None or chat.type == ChatType.PRIVATE
        admin = user is not None and user.id in settings.admin.ids
        allowed = admin and private
        action, detail = describe(event)
        detail = redact_personal(detail) if detail else detail  # also what a set-aside keeps
        if chat is not None and not private:
            detail = f"in {chat.type} chat {chat.id}: {detail or ''}"[:_DETAIL_MAX]
        user_id = user.id if user is not None else 0
        recorder.store(
            "admin_event",
            {"user_id": user_id, "action": action, "allowed": allowed, "detail": detail},
            f"admin event {action}",
        )
        if allowed:
            return await handler(event, data)
        log.warning("refused %s from %s (admin: %s, private: %s)", action, user_id, admin, private)
        if not private:
            refusal = texts.admin.private_only if admin else texts.admin.refused
        elif isinstance(event, Message) and event.document:
            refusal = texts.admin.refused_upload
        else:
            refusal = texts.admin.refused
        if isinstance(event, Message):
            await event.answer(refusal, parse_mode=None)
        elif isinstance(event, CallbackQuery):
            await event.answer(refusal, show_alert=True)
        return None


def describe(event: TelegramObject) -> tuple[str, str | None]:
    """(action, detail) for the audit log: the command or the uploaded file's name."""
    if isinstance(event, CallbackQuery):
        return f"button:{(event.data or '')[:20]}", None
    if isinstance(event, Message):
        if event.document is not None:
            size = event.document.file_size
            return "upload", f"{event.document.file_name} ({size} bytes)"[:_DETAIL_MAX]
        text = event.text or ""
        if not text.startswith("/"):  # a reply in an admin conversation (a taught answer)
            return "text", text[:_DETAIL_MAX] or None
        command = text.split(maxsplit=1)[0].split("@", 1)[0]
        return command[:32], text[:_DETAIL_MAX] or None
    return type(event).__name__, None
