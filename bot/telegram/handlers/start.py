"""/start and /help."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import KeyboardButton, Message, ReplyKeyboardMarkup

from bot.texts import Texts


async def on_start(message: Message, texts: Texts) -> None:
    keyboard = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=example)] for example in texts.examples],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    await message.answer(texts.start, reply_markup=keyboard, parse_mode=None)


async def on_help(message: Message, texts: Texts) -> None:
    await message.answer(texts.help, parse_mode=None)


def router() -> Router:
    """This feature's handlers, on a new router (one per dispatcher)."""
    r = Router(name="start")
    r.message.register(on_start, CommandStart())
    r.message.register(on_help, Command("help"))
    return r
