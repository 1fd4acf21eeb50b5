"""Everything the other routers did not take: unknown commands, non-text messages, channel
posts, and button data that does not parse. Each gets a clear, polite reply."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message

from bot.telegram.filters import replies_to_bot
from bot.texts import ZH, Texts

log = logging.getLogger(__name__)


async def on_unknown_command(message: Message, texts: Texts, bot: Bot) -> None:
    command = (message.text or "").split()[0]
    me = await bot.me()
    addressee = command.split("@", 1)[1].lower() if "@" in command else None
    if message.chat.type != ChatType.PRIVATE and addressee not in (
        None,
        (me.username or "").lower(),
    ):
        return  # a command for another bot in the group
    await message.answer(texts.unknown_command, parse_mode=None)


async def on_other_message(message: Message, texts: Texts, bot: Bot) -> None:
    """Photos, stickers, voice, files, locations...: only text questions are understood."""
    if message.chat.type != ChatType.PRIVATE:
        me = await bot.me()
        if not replies_to_bot(message, me.id):
            return  # in groups, stay quiet unless addressed
    await message.answer(texts.non_text, parse_mode=None)


async def on_channel_post(message: Message) -> None:
    try:
        await message.answer(ZH.channel, parse_mode=None)
    except TelegramAPIError as exc:
        log.info("cannot reply in channel %s: %r", message.chat.id, exc)


async def on_unknown_button(query: CallbackQuery, texts: Texts) -> None:
    log.info("unrecognised button data %r from %s", query.data, query.from_user.id)
    await query.answer(texts.expired)


def router() -> Router:
    """This feature's handlers, on a new router (one per dispatcher)."""
    r = Router(name="fallback")
    r.message.register(on_unknown_command, F.text.startswith("/"))
    r.message.register(on_other_message)
    r.channel_post.register(on_channel_post)
    r.callback_query.register(on_unknown_button)
    return r
