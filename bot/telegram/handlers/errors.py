"""The one place unexpected errors are handled: logged with %r, answered politely."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent

from bot.texts import ZH, texts_for

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent) -> bool:
    log.error(
        "update %s failed: %r", event.update.update_id, event.exception, exc_info=event.exception
    )
    message = event.update.message or event.update.edited_message
    query = event.update.callback_query
    try:
        if message is not None:
            user = message.from_user
            texts = texts_for(user.language_code) if user else ZH
            await message.answer(texts.error, parse_mode=None)
        elif query is not None:
            await query.answer(texts_for(query.from_user.language_code).error)
    except TelegramAPIError as exc:
        log.error("could not tell the user about the failure: %r", exc)
    return True


def router() -> Router:
    """This feature's handlers, on a new router (one per dispatcher)."""
    r = Router(name="errors")
    r.errors.register(on_error)
    return r
