"""Any text addressed to the bot is a question: typing..., the answer, then storage."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.chat_action import ChatActionSender

from bot.answers import AnswerService
from bot.db.recorder import Recorder
from bot.db.repository import QuestionRecord, utcnow
from bot.settings import Settings
from bot.telegram.answer_cache import AnswerCache
from bot.telegram.callbacks import ShowSources, Vote, new_question_id
from bot.telegram.filters import AddressedToBot
from bot.telegram.formatting import answer_blocks, split_messages
from bot.texts import Texts
from index import Answer


# `F.text.is_not(None)`, not `F.text`: an empty text is still a text (it gets "the question is
# empty"), while photos and stickers have no text at all.
async def on_question(
    message: Message,
    question: str,
    bot: Bot,
    texts: Texts,
    answers: AnswerService,
    recorder: Recorder,
    cache: AnswerCache,
    settings: Settings,
) -> None:
    async with ChatActionSender.typing(bot=bot, chat_id=message.chat.id):
        answer = await answers.answer(question, settings.retrieval.top_k)
    question_id = new_question_id()
    cache.put(question_id, answer)
    parts = split_messages(answer_blocks(answer, texts))
    for i, part in enumerate(parts):
        markup = _buttons(question_id, answer, texts) if i == len(parts) - 1 else None
        await message.answer(part, reply_markup=markup)
    user = message.from_user
    record = QuestionRecord(
        question_id=question_id,
        user_id=user.id if user else message.chat.id,
        language=user.language_code if user else None,
        chat_id=message.chat.id,
        text=question,
        answered=answer.answered,
        reason=answer.reason,
        passage_ids=[s.passage_id for s in answer.sources],
        scores=[round(s.score, 6) for s in answer.sources],
        latency_ms=answer.latency_ms,
        index_version=answer.version,  # the version that answered, whatever serves now
        answer_text=answer.answer,
        section=answer.section,
        asked_at=utcnow(),
    )
    recorder.submit(
        f"question {question_id}", lambda repo: repo.record_question(record), record=record
    )


def _buttons(question_id: str, answer: Answer, texts: Texts) -> InlineKeyboardMarkup | None:
    if not answer.sources:
        return None
    row = [
        InlineKeyboardButton(
            text=texts.show_sources, callback_data=ShowSources(q=question_id).pack()
        )
    ]
    if answer.answered:
        row += [
            InlineKeyboardButton(text="👍", callback_data=Vote(q=question_id, up=True).pack()),
            InlineKeyboardButton(text="👎", callback_data=Vote(q=question_id, up=False).pack()),
        ]
    return InlineKeyboardMarkup(inline_keyboard=[row])


def router() -> Router:
    """This feature's handlers, on a new router (one per dispatcher)."""
    r = Router(name="questions")
    asked = (F.text.is_not(None), ~F.text.startswith("/"), AddressedToBot())
    r.message.register(on_question, *asked)
    r.edited_message.register(on_question, *asked)
    return r
