"""Button presses: 👍/👎 (a 👎 may be followed by a comment) and "查看原文"."""

from __future__ import annotations

import asyncio
import contextlib

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, ForceReply, Message

from bot.db.recorder import KEPT_LOCALLY, SET_ASIDE, Recorder
from bot.redaction import redact_personal
from bot.serving import ServingIndex
from bot.telegram.answer_cache import AnswerCache
from bot.telegram.callbacks import ShowSources, Vote, valid_question_id
from bot.telegram.formatting import source_blocks, split_messages
from bot.telegram.state import StateUnavailableError
from bot.texts import Texts
from index import Source

COMMENT_MAX_CHARS = 1000
_LOOKUP_TIMEOUT_S = 3.0


class Comment(StatesGroup):
    waiting = State()


async def on_vote(
    query: CallbackQuery,
    callback_data: Vote,
    texts: Texts,
    recorder: Recorder,
    cache: AnswerCache,
    state: FSMContext,
) -> None:
    question_id = callback_data.q
    if not valid_question_id(question_id):
        await query.answer(texts.expired)
        return
    vote = 1 if callback_data.up else -1
    stored = recorder.store(
        "vote",
        {"question_id": question_id, "user_id": query.from_user.id, "vote": vote},
        f"vote on {question_id}",
    )
    # A 👎 waits (briefly) for its vote, and so the question before it, to be stored: the
    # comment may reach another instance, which stores it only on a stored question.
    if (vote < 0 or cache.get(question_id) is None) and not await _known(stored):
        await query.answer(texts.expired)
        return
    if vote > 0 or query.message is None:
        await query.answer(texts.thanks)
        return
    # The state is saved before the prompt goes out, so a reply to the prompt always finds it.
    try:
        await state.set_state(Comment.waiting)
        await state.set_data({"question_id": question_id})
    except StateUnavailableError:  # the vote is stored; only the comment cannot be asked for
        await query.answer(texts.thanks_no_comment, show_alert=True)
        return
    await query.answer()
    prompt = await query.message.answer(
        texts.ask_comment, reply_markup=ForceReply(selective=True), parse_mode=None
    )
    with contextlib.suppress(StateUnavailableError):
        await state.update_data(prompt_id=prompt.message_id)


async def on_comment(message: Message, texts: Texts, recorder: Recorder, state: FSMContext) -> None:
    data = await state.get_data()
    replied = message.reply_to_message
    prompt_id = data.get("prompt_id")  # None: the reply overtook the prompt's own bookkeeping
    if (
        replied is None
        or message.from_user is None
        or (prompt_id is not None and replied.message_id != prompt_id)
        or (prompt_id is None and not (replied.from_user and replied.from_user.is_bot))
    ):
        await _clear(state)
        raise SkipHandler  # not a comment: a new question, handled by the next router
    await _clear(state)
    question_id, user_id = str(data["question_id"]), message.from_user.id
    comment = (message.text or "")[:COMMENT_MAX_CHARS]
    recorder.store(
        "comment",
        # redacted here too: it may wait in the outbox on disk
        {"question_id": question_id, "user_id": user_id, "comment": redact_personal(comment)},
        f"comment on {question_id}",
    )
    await message.reply(texts.comment_saved, parse_mode=None)


async def on_sources(
    query: CallbackQuery,
    callback_data: ShowSources,
    texts: Texts,
    cache: AnswerCache,
    recorder: Recorder,
    serving: ServingIndex,
) -> None:
    sources = await _sources(callback_data.q, cache, recorder, serving)
    if not sources or query.message is None:
        await query.answer(texts.expired)
        return
    await query.answer()
    for part in split_messages(source_blocks(sources, texts)):
        await query.message.answer(part)


async def _sources(
    question_id: str, cache: AnswerCache, recorder: Recorder, serving: ServingIndex
) -> tuple[Source, ...]:
    if not valid_question_id(question_id):
        return ()
    cached = cache.get(question_id)
    if cached is not None:
        return cached.sources
    # Not in memory (e.g. after a restart): the stored passage ids, if the index still has them.
    stored = recorder.submit(f"lookup {question_id}", lambda repo: repo.question(question_id))
    try:
        row = await asyncio.wait_for(asyncio.shield(stored), _LOOKUP_TIMEOUT_S)
    except TimeoutError:
        return ()
    if row is None or row is SET_ASIDE:
        return ()
    return serving.answerer.sources(row.passage_ids, row.scores)


async def _clear(state: FSMContext) -> None:
    with contextlib.suppress(StateUnavailableError):  # the store is down: nothing to clear
        await state.clear()


async def _known(stored: asyncio.Future[object]) -> bool:
    """Whether the vote found its question (waits briefly; storage may be slow or down)."""
    try:
        found = await asyncio.wait_for(asyncio.shield(stored), _LOOKUP_TIMEOUT_S)
    except TimeoutError:
        return True  # storage is slow: the vote stays queued and the user is thanked
    # Set aside (kept for admins) or kept for the database (it is away): not lost.
    return found is SET_ASIDE or found is KEPT_LOCALLY or bool(found)


def router() -> Router:
    """This feature's handlers, on a new router (one per dispatcher)."""
    r = Router(name="feedback")
    r.callback_query.register(on_vote, Vote.filter())
    r.message.register(on_comment, Comment.waiting, F.text)
    r.callback_query.register(on_sources, ShowSources.filter())
    return r
