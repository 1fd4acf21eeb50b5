"""Any text addressed to the bot is a question: typing..., the answer, then storage. A refusal
offers questions the bot can answer as buttons; pressing one asks it."""

from __future__ import annotations

import logging
from html import escape

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)
from aiogram.utils.chat_action import ChatActionSender

from bot.answers import AnswerService
from bot.db.recorder import Recorder
from bot.db.repository import QuestionRecord, utcnow
from bot.redaction import redact_personal
from bot.serving import ServingIndex
from bot.settings import Settings
from bot.telegram.answer_cache import AnswerCache
from bot.telegram.callbacks import AskSuggested, ShowSources, Vote, question_id_for
from bot.telegram.filters import AddressedToBot
from bot.telegram.formatting import answer_blocks, split_messages
from bot.texts import Texts
from index import Answer, question_key

log = logging.getLogger(__name__)


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
    event_update: Update,
) -> None:
    await _answer_and_reply(
        message, message.from_user, question, bot, texts, answers, recorder, cache, settings,
        event_update,
    )  # fmt: skip


async def on_suggested(
    query: CallbackQuery,
    callback_data: AskSuggested,
    bot: Bot,
    texts: Texts,
    answers: AnswerService,
    recorder: Recorder,
    cache: AnswerCache,
    settings: Settings,
    serving: ServingIndex,
    event_update: Update,
) -> None:
    """A suggested question's button: ask it, as if the user had typed it."""
    question = serving.answerer.suggested_question(callback_data.k)
    if question is None or not isinstance(query.message, Message):
        await query.answer(texts.expired)  # another version's bank, or a forged key
        return
    await query.answer()
    await query.message.answer(f"❓ {escape(question)}")
    await _answer_and_reply(
        query.message, query.from_user, question, bot, texts, answers, recorder, cache, settings,
        event_update,
    )  # fmt: skip


async def _answer_and_reply(
    message: Message,
    user: User | None,
    question: str,
    bot: Bot,
    texts: Texts,
    answers: AnswerService,
    recorder: Recorder,
    cache: AnswerCache,
    settings: Settings,
    event_update: Update,
) -> None:
    async with ChatActionSender.typing(bot=bot, chat_id=message.chat.id):
        answer = await answers.answer(question, settings.retrieval.top_k)
    # Keyed by the update: answered again after a crash, it is stored once.
    question_id = question_id_for(bot.token, event_update.update_id)
    cache.put(question_id, answer)
    record = QuestionRecord(
        question_id=question_id,
        user_id=user.id if user else message.chat.id,
        language=user.language_code if user else None,
        chat_id=message.chat.id,
        text=redact_personal(question),  # the answer used the full text; storage does not
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
    # Recorded first, independently of the reply: a question whose answer cannot be delivered
    # is still stored, and marked so.
    recorder.store("question", record, f"question {question_id}")
    parts = split_messages(answer_blocks(answer, texts))
    try:
        for i, part in enumerate(parts):
            markup = _buttons(question_id, answer, texts) if i == len(parts) - 1 else None
            await message.answer(part, reply_markup=markup)
    except TelegramAPIError as exc:  # retried already (see BotApiRetry)
        log.error("the answer to question %s could not be delivered: %r", question_id, exc)
        recorder.store("reply_failed", {"question_id": question_id}, f"reply failed {question_id}")


def _buttons(question_id: str, answer: Answer, texts: Texts) -> InlineKeyboardMarkup | None:
    suggested = [
        [InlineKeyboardButton(text=q, callback_data=AskSuggested(k=question_key(q)).pack())]
        for q in answer.ask_instead
    ]
    if not answer.sources:
        return InlineKeyboardMarkup(inline_keyboard=suggested) if suggested else None
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
    return InlineKeyboardMarkup(inline_keyboard=[*suggested, row])


def router() -> Router:
    """This feature's handlers, on a new router (one per dispatcher)."""
    r = Router(name="questions")
    asked = (F.text.is_not(None), ~F.text.startswith("/"), AddressedToBot())
    r.message.register(on_question, *asked)
    r.edited_message.register(on_question, *asked)
    r.callback_query.register(on_suggested, AskSuggested.filter())
    return r
