"""/forget_me: delete what is stored about the sender."""

from __future__ import annotations

import asyncio

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.db.recorder import Recorder
from bot.telegram.dialogue import DialogueMemory
from bot.telegram.middlewares import InFlight
from bot.texts import Texts

_CONFIRM_TIMEOUT_S = 5.0


async def on_forget_me(
    message: Message,
    texts: Texts,
    recorder: Recorder,
    in_flight: InFlight,
    dialogue: DialogueMemory,
    state: FSMContext,
) -> None:
    if message.from_user is None:
        return
    user_id = message.from_user.id
    await dialogue.forget(state)  # the last question kept for a follow-up, too
    # Questions of theirs still being answered (sent just before) are recorded first...
    await in_flight.wait_user(user_id, others_than=1, timeout=_CONFIRM_TIMEOUT_S)
    # ...and this is queued behind them, so nothing of theirs is written after it.
    done = recorder.store("forget_user", {"user_id": user_id}, f"forget user {user_id}")
    try:
        count = await asyncio.wait_for(asyncio.shield(done), _CONFIRM_TIMEOUT_S)
    except TimeoutError:
        count = None
    if not isinstance(count, int):  # still queued, or kept for the database: done when it is
        await message.answer(texts.forget_pending, parse_mode=None)
        return
    await message.answer(texts.forgot.format(count=count), parse_mode=None)


def router() -> Router:
    """This feature's handlers, on a new router (one per dispatcher)."""
    r = Router(name="privacy")
    r.message.register(on_forget_me, Command("forget_me"))
    return r
