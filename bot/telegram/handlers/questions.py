"""Any text addressed to the bot is a question: typing..., the answer, then storage. A refusal
offers questions the bot can answer as buttons; pressing one asks it. A question that cannot
stand alone is read with the chat's previous one (``bot/telegram/dialogue.py``); the reply says
so, and its "new question" button reads it on its own."""

from __future__ import annotations

import asyncio
import logging
from html import escape

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
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
from bot.db.repository import QuestionRecord, Repository, utcnow
from bot.redaction import redact_personal
from bot.serving import ServingIndex
from bot.settings import Settings
from bot.telegram.answer_cache import AnswerCache
from bot.telegram.callbacks import (
    AskSuggested,
    NewTopic,
    ShowSources,
    Vote,
    question_id_for,
    valid_question_id,
)
from bot.telegram.dialogue import DialogueMemory, Turn
from bot.telegram.filters import AddressedToBot
from bot.telegram.formatting import answer_blocks, split_messages
from bot.texts import Texts
from index import Answer, question_key

log = logging.getLogger(__name__)
_LOOKUP_TIMEOUT_S = 3.0


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
    dialogue: DialogueMemory,
    state: FSMContext,
) -> None:
    turn = await dialogue.recall(state)
    await _answer_and_reply(
        message, message.from_user, question, bot, texts, answers, recorder, cache, settings,
        event_update, dialogue, state, turn,
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
    dialogue: DialogueMemory,
    state: FSMContext,
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
        event_update, dialogue, state, None,
    )  # fmt: skip


async def on_new_topic(
    query: CallbackQuery,
    callback_data: NewTopic,
    bot: Bot,
    texts: Texts,
    answers: AnswerService,
    recorder: Recorder,
    cache: AnswerCache,
    settings: Settings,
    event_update: Update,
    dialogue: DialogueMemory,
    state: FSMContext,
    repository: Repository,
) -> None:
    """ "New question" under a follow-up: forget the earlier turn, answer it on its own."""
    await dialogue.forget(state)
    question = await _asked(callback_data.q, cache, repository)
    if question is None or not isinstance(query.message, Message):
        await query.answer(texts.expired)  # a forged button, or a question since forgotten
        return
    await query.answer()
    await query.message.answer(f"{escape(texts.new_topic_done)}\n❓ {escape(question)}")
    await _answer_and_reply(
        query.message, query.from_user, question, bot, texts, answers, recorder, cache,
        settings, event_update, dialogue, state, None,
    )  # fmt: skip


async def _asked(question_id: str, cache: AnswerCache, repository: Repository) -> str | None:
    """The question ``question_id`` asked: from this instance's cache, else as stored (its
    answer may have been given by another instance)."""
    if not valid_question_id(question_id):
        return None
    cached = cache.get(question_id)
    if cached is not None:
        return cached.question
    # The instance that answered may not have stored it yet (its writes are batched): a
    # button pressed right away, reaching this instance, waits a little for the row.
    deadline = asyncio.get_running_loop().time() + _LOOKUP_TIMEOUT_S
    while True:
        try:
            stored = await asyncio.wait_for(repository.question(question_id), _LOOKUP_TIMEOUT_S)
        except Exception as exc:  # the database is away: the button cannot be served now
            log.warning("cannot look up question %s: %r", question_id, exc)
            return None
        if stored is not None:
            return stored.text
        if asyncio.get_running_loop().time() > deadline:
            return None  # a forged id, or a question since forgotten
        await asyncio.sleep(0.2)


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
    dialogue: DialogueMemory,
    state: FSMContext,
    turn: Turn | None,
) -> None:
    async with ChatActionSender.typing(bot=bot, chat_id=message.chat.id):
        answer = await answers.answer(
            question, settings.retrieval.top_k, previous=turn.context if turn else None
        )
    if answer.answered:  # the next turn may lean on this one
        # Kept before the reply goes out, so a follow-up sent on reading it (to any instance)
        # finds it; a store that is away costs this once (see FailSoftStorage), then nothing.
        await dialogue.remember(state, question, answer.context)
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
        taught_answer_id=answer.taught.answer_id if answer.taught else None,
    )
    # Recorded first, independently of the reply: a question whose answer cannot be delivered
    # is still stored, and marked so.
    recorder.store("question", record, f"question {question_id}")
    blocks = answer_blocks(answer, texts)
    if answer.read_with is not None and turn is not None:
        blocks.insert(0, f"<i>{escape(texts.read_with.format(question=turn.question))}</i>")
    parts = split_messages(blocks)
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
    row = []
    if answer.sources:
        row.append(
            InlineKeyboardButton(
                text=texts.show_sources, callback_data=ShowSources(q=question_id).pack()
            )
        )
    if answer.answered:  # a taught answer has no sources, and is voted on all the same
        row += [
            InlineKeyboardButton(text="👍", callback_data=Vote(q=question_id, up=True).pack()),
            InlineKeyboardButton(text="👎", callback_data=Vote(q=question_id, up=False).pack()),
        ]
    rows = [*suggested, row] if row else suggested
    if answer.read_with is not None:
        new = NewTopic(q=question_id).pack()
        rows.append([InlineKeyboardButton(text=texts.new_topic, callback_data=new)])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def router() -> Router:
    """This feature's handlers, on a new router (one per dispatcher)."""
    r = Router(name="questions")
    asked = (F.text.is_not(None), ~F.text.startswith("/"), AddressedToBot())
    r.message.register(on_question, *asked)
    r.edited_message.register(on_question, *asked)
    r.callback_query.register(on_suggested, AskSuggested.filter())
    r.callback_query.register(on_new_topic, NewTopic.filter())
    return r
