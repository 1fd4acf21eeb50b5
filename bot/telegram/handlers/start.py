"""/start and /help."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import KeyboardButton, Message, ReplyKeyboardMarkup

from bot.texts import Texts

router = Router(name="start")


@router.message(CommandStart())
async def on_start(message: Message, texts: Texts) -> None:
    keyboard = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=example)] for example in texts.examples],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    await message.answer(texts.start, reply_markup=keyboard, parse_mode=None)


@router.message(Command("help"))
async def on_help(message: Message, texts: Texts) -> None:
    await message.answer(texts.help, parse_mode=None)
