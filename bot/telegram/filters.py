"""Who a message is for: always in private chats; in groups only when the bot is mentioned or
replied to (the mention is removed from the question)."""

from __future__ import annotations

import re
from typing import Any

from aiogram import Bot
from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.types import Message


def replies_to_bot(message: Message, bot_id: int) -> bool:
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.id == bot_id)


class AddressedToBot(Filter):
    async def __call__(self, message: Message, bot: Bot) -> bool | dict[str, Any]:
        text = message.text or ""
        if message.chat.type == ChatType.PRIVATE:
            return {"question": text}
        me = await bot.me()
        if replies_to_bot(message, me.id):
            return {"question": text}
        if me.username and f"@{me.username}".lower() in text.lower():
            stripped = re.sub(re.escape(f"@{me.username}"), " ", text, flags=re.IGNORECASE)
            return {"question": " ".join(stripped.split())}
        return False
