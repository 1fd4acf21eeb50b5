"""Admins teach answers: /unanswered (refused questions grouped by meaning, each with a button
to answer it), /teach, /taught (edit or withdraw), /cancel.

Teaching is a short conversation in the admin's state (Redis when configured, so the next
message may reach another instance): the question is kept while the admin writes the answer.
A taught answer is stored at once (with its audit event) and served by every instance within
``[admin] version_poll_s``; this instance serves it before replying. An edit or withdrawal names
the revision the admin saw, so a stale button or a concurrent edit changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.db.repository import Repository, StaleEditError, utcnow
from bot.serving import ServingIndex
from bot.taught import TaughtAnswers
from bot.telegram.admin_gate import AdminGate
from bot.telegram.callbacks import (
    EditTaught,
    TeachPassage,
    TeachQuestion,
    WithdrawTaught,
    valid_question_id,
)
from bot.telegram.state import StateUnavailableError
from bot.texts import AdminTexts, Texts
from index import MAX_ANSWER_CHARS, Source

log = logging.getLogger(__name__)
T = TypeVar("T")
UNANSWERED_DAYS = 30
_SHOWN_CHARS = 80
_TAUGHT_LISTED = 30
_PASSAGES_OFFERED = 3
_DB_TIMEOUT_S = 10.0
# A line of the admin's message that adds a wording of the question: "问：…" or "Q: …".
_VARIANT = re.compile(r"^\s*(?:问|Q)\s*[:：]\s*(.+?)\s*$", re.IGNORECASE)


class Teaching(StatesGroup):
    answer = State()  # data: question, passages, scores
    edit = State()  # data: id, revision


async def on_unanswered(message: Message, texts: Texts, taught: TaughtAnswers) -> None:
    admin = texts.admin
    since = utcnow() - timedelta(days=UNANSWERED_DAYS)
    groups = await taught.unanswered_groups(since)
    if not groups:
        await message.answer(admin.unanswered_none.format(days=UNANSWERED_DAYS), parse_mode=None)
        return
    lines = [
        admin.unanswered_line.format(
            n=n,
            question=_short(group.wordings[0]),
            count=group.count,
            more=f"（{' / '.join(_short(w, 24) for w in group.wordings[1:3])}）"
            if len(group.wordings) > 1
            else "",
        )
        for n, group in enumerate(groups, 1)
    ]
    buttons = [
        InlineKeyboardButton(text=f"✍️ {n}", callback_data=TeachQuestion(q=g.question_id).pack())
        for n, g in enumerate(groups, 1)
    ]
    keyboard = [buttons[i : i + 5] for i in range(0, len(buttons), 5)]
    await message.answer(
        "\n".join([admin.unanswered_title.format(days=UNANSWERED_DAYS), *lines]),
        parse_mode=None,
        reply_markup=InlineKeyboardMarkup(inline_keyboard=keyboard),
    )


async def on_teach_question(
    query: CallbackQuery,
    callback_data: TeachQuestion,
    texts: Texts,
    repository: Repository,
    serving: ServingIndex,
    state: FSMContext,
) -> None:
    """A ✍️ button of /unanswered: start teaching the answer to that question."""
    stored = None
    if valid_question_id(callback_data.q):
        stored = await _read(repository.question(callback_data.q))
    if stored is None or not isinstance(query.message, Message):
        await query.answer(texts.expired, show_alert=True)
        return
    await query.answer()
    sources = serving.answerer.sources(stored.passage_ids, stored.scores)[:_PASSAGES_OFFERED]
    await _start_teaching(query.message, texts, state, stored.text, sources, stored.id)


async def on_teach_command(
    message: Message, command: CommandObject, texts: Texts, state: FSMContext
) -> None:
    question = " ".join((command.args or "").split())
    if not question:
        await message.answer(texts.admin.teach_usage, parse_mode=None)
        return
    await _start_teaching(message, texts, state, question[:300], (), "")


async def _start_teaching(
    message: Message,
    texts: Texts,
    state: FSMContext,
    question: str,
    sources: tuple[Source, ...],
    question_id: str,
) -> None:
    try:
        await state.set_state(Teaching.answer)
        await state.set_data(
            {
                "question": question,
                "question_id": question_id,
                "passages": [s.passage_id for s in sources],
                "scores": [s.score for s in sources],
            }
        )
    except StateUnavailableError:
        await message.answer(texts.error, parse_mode=None)
        return
    buttons = [
        [
            InlineKeyboardButton(
                text=texts.admin.teach_passage_button.format(citation=_short(s.citation, 40)),
                callback_data=TeachPassage(q=question_id, i=i).pack(),
            )
        ]
        for i, s in enumerate(sources)
    ]
    await message.answer(
        texts.admin.teach_prompt.format(question=question, limit=MAX_ANSWER_CHARS),
        parse_mode=None,
        reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None,
    )


async def on_answer_text(
    message: Message,
    texts: Texts,
    state: FSMContext,
    repository: Repository,
    taught: TaughtAnswers,
) -> None:
    """The admin's answer to the question being taught (with "问：" lines: more wordings)."""
    data = await state.get_data()
    question = data.get("question")
    if not isinstance(question, str):  # the state expired or the store lost it
        await state.clear()
        await message.answer(texts.expired, parse_mode=None)
        return
    answer, variants = parse_answer(message.text or "")
    if await _refuse_answer(message, texts.admin, answer):
        return
    admin_id = message.from_user.id if message.from_user else message.chat.id
    await _teach(message, texts, state, repository, taught, [question, *variants], answer, admin_id)


async def on_teach_passage(
    query: CallbackQuery,
    callback_data: TeachPassage,
    texts: Texts,
    state: FSMContext,
    repository: Repository,
    serving: ServingIndex,
    taught: TaughtAnswers,
) -> None:
    """A passage button while teaching: the passage's text (and its citation) is the answer."""
    data = await state.get_data()
    passages, scores = data.get("passages") or [], data.get("scores") or []
    current = await state.get_state()
    if (
        current != Teaching.answer.state
        or data.get("question_id") != callback_data.q
        or not 0 <= callback_data.i < len(passages)
        or not isinstance(query.message, Message)
    ):
        await query.answer(texts.expired, show_alert=True)  # another question's, or stale
        return
    found = serving.answerer.sources(
        [passages[callback_data.i]], [scores[callback_data.i]]
    )  # fmt: skip
    if not found:
        await query.answer(texts.expired, show_alert=True)  # no longer in the serving index
        return
    await query.answer()
    source = found[0]
    answer = _cut(f"{source.text}（{source.citation}）", MAX_ANSWER_CHARS)
    await _teach(
        query.message, texts, state, repository, taught, [data["question"]], answer,
        query.from_user.id,
    )  # fmt: skip


async def _teach(
    message: Message,
    texts: Texts,
    state: FSMContext,
    repository: Repository,
    taught: TaughtAnswers,
    questions: list[str],
    answer: str,
    admin_id: int,
) -> None:
    try:
        row = await asyncio.wait_for(repository.teach(questions, answer, admin_id), _DB_TIMEOUT_S)
    except Exception as exc:
        log.error("teaching an answer failed: %r", exc)
        await message.answer(texts.admin.not_saved, parse_mode=None)
        return
    await state.clear()
    await _refresh(taught)
    await message.answer(
        texts.admin.taught_saved.format(
            id=row.id,
            questions=" / ".join(row.questions),
            answer=_short(row.answer, 300),
            date=row.updated_at.date().isoformat(),
        ),
        parse_mode=None,
    )


async def on_taught(message: Message, texts: Texts, repository: Repository) -> None:
    admin = texts.admin
    rows = await repository.taught_answers()
    if not rows:
        await message.answer(admin.taught_none, parse_mode=None)
        return
    votes = await repository.taught_votes()
    shown = rows[-_TAUGHT_LISTED:]  # the newest
    lines, keyboard = [admin.taught_title.format(count=len(rows))], []
    for row in shown:
        said = votes.get(row.id)
        comments = "".join(f"\n  👎 {_short(c, 60)}" for c in (said.comments if said else ()))
        lines.append(
            admin.taught_line.format(
                id=row.id,
                date=row.updated_at.date().isoformat(),
                up=said.up if said else 0,
                down=said.down if said else 0,
                questions=" / ".join(_short(q, 30) for q in row.questions[:3])
                + (f" (+{len(row.questions) - 3})" if len(row.questions) > 3 else ""),
                answer=_short(row.answer),
                comments=comments,
            )
        )
        keyboard.append(
            [
                InlineKeyboardButton(
                    text=f"✏️ #{row.id}",
                    callback_data=EditTaught(id=row.id, r=row.revision).pack(),
                ),
                InlineKeyboardButton(
                    text=f"🗑 #{row.id}",
                    callback_data=WithdrawTaught(id=row.id, r=row.revision).pack(),
                ),
            ]
        )
    await message.answer(
        "\n\n".join(lines),
        parse_mode=None,
        reply_markup=InlineKeyboardMarkup(inline_keyboard=keyboard),
    )


async def on_edit(
    query: CallbackQuery,
    callback_data: EditTaught,
    texts: Texts,
    state: FSMContext,
    repository: Repository,
) -> None:
    rows = {row.id: row for row in await repository.taught_answers()}
    row = rows.get(callback_data.id)
    if row is None or row.revision != callback_data.r or not isinstance(query.message, Message):
        await query.answer(texts.admin.stale.format(id=callback_data.id), show_alert=True)
        return
    try:
        await state.set_state(Teaching.edit)
        await state.set_data({"id": row.id, "revision": row.revision})
    except StateUnavailableError:
        await query.answer(texts.error, show_alert=True)
        return
    await query.answer()
    await query.message.answer(
        texts.admin.edit_prompt.format(
            id=row.id, limit=MAX_ANSWER_CHARS, answer=_short(row.answer, 300)
        ),
        parse_mode=None,
    )


async def on_edit_text(
    message: Message,
    texts: Texts,
    state: FSMContext,
    repository: Repository,
    taught: TaughtAnswers,
) -> None:
    data = await state.get_data()
    answer_id, revision = data.get("id"), data.get("revision")
    admin_id = message.from_user.id if message.from_user else message.chat.id
    if not isinstance(answer_id, int) or not isinstance(revision, int):
        await state.clear()
        await message.answer(texts.expired, parse_mode=None)
        return
    answer, variants = parse_answer(message.text or "")
    if (answer or not variants) and await _refuse_answer(message, texts.admin, answer):
        return
    try:
        edit = repository.edit_taught(
            answer_id, revision, admin_id, answer=answer or None, more_questions=variants
        )
        row = await asyncio.wait_for(edit, _DB_TIMEOUT_S)
    except StaleEditError:
        await state.clear()
        await message.answer(texts.admin.stale.format(id=answer_id), parse_mode=None)
        return
    except Exception as exc:
        log.error("editing taught answer %s failed: %r", answer_id, exc)
        await message.answer(texts.admin.not_saved, parse_mode=None)
        return
    await state.clear()
    await _refresh(taught)
    await message.answer(
        texts.admin.taught_edited.format(
            id=row.id,
            revision=row.revision,
            questions=" / ".join(row.questions),
            answer=_short(row.answer, 300),
        ),
        parse_mode=None,
    )


async def on_withdraw(
    query: CallbackQuery,
    callback_data: WithdrawTaught,
    texts: Texts,
    repository: Repository,
    taught: TaughtAnswers,
) -> None:
    try:
        withdraw = repository.edit_taught(
            callback_data.id, callback_data.r, query.from_user.id, withdraw=True
        )
        await asyncio.wait_for(withdraw, _DB_TIMEOUT_S)
    except StaleEditError:
        await query.answer(texts.admin.stale.format(id=callback_data.id), show_alert=True)
        return
    except Exception as exc:
        log.error("withdrawing taught answer %s failed: %r", callback_data.id, exc)
        await query.answer(texts.admin.not_saved, show_alert=True)
        return
    await _refresh(taught)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            texts.admin.taught_withdrawn.format(id=callback_data.id), parse_mode=None
        )


async def on_cancel(message: Message, texts: Texts, state: FSMContext) -> None:
    await state.clear()
    await message.answer(texts.admin.cancelled, parse_mode=None)


async def on_not_text(message: Message, texts: Texts) -> None:
    await message.answer(texts.admin.text_only, parse_mode=None)


def parse_answer(text: str) -> tuple[str, list[str]]:
    """(the answer, the extra wordings of the question): lines starting "问：" / "Q:" are
    wordings, the rest is the answer (its line breaks kept)."""
    answer_lines, variants = [], []
    for line in text.splitlines():
        variant = _VARIANT.match(line)
        if variant:
            variants.append(variant.group(1)[:300])
        else:
            answer_lines.append(line.rstrip())
    return "\n".join(answer_lines).strip(), list(dict.fromkeys(variants))


async def _refuse_answer(message: Message, admin: AdminTexts, answer: str) -> bool:
    """Reply and return True when ``answer`` cannot be taught (empty or too long)."""
    if not answer:
        await message.answer(admin.answer_empty, parse_mode=None)
        return True
    if len(answer) > MAX_ANSWER_CHARS:
        await message.answer(
            admin.answer_too_long.format(limit=MAX_ANSWER_CHARS, length=len(answer)),
            parse_mode=None,
        )
        return True
    return False


async def _refresh(taught: TaughtAnswers) -> None:
    try:
        await taught.refresh()
    except Exception as exc:  # stored; the follower serves it once the database answers
        log.warning("cannot reload the taught answers now: %r", exc)


async def _read(call: Awaitable[T]) -> T | None:
    """A database read for an admin, bounded (None when it fails: the admin is told)."""
    try:
        return await asyncio.wait_for(call, _DB_TIMEOUT_S)
    except Exception as exc:
        log.warning("a database read for an admin failed: %r", exc)
        return None


def _short(text: str, limit: int = _SHOWN_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def router() -> Router:
    """This feature's handlers, on a new router (one per dispatcher)."""
    r = Router(name="admin_taught")
    r.message.middleware(AdminGate())
    r.callback_query.middleware(AdminGate())
    r.message.register(on_unanswered, Command("unanswered"))
    r.message.register(on_taught, Command("taught"))
    r.message.register(on_teach_command, Command("teach"))
    r.message.register(on_cancel, Command("cancel"))
    teaching = StateFilter(Teaching.answer)
    editing = StateFilter(Teaching.edit)
    plain = (F.text.is_not(None), ~F.text.startswith("/"))
    r.message.register(on_answer_text, teaching, *plain)
    r.message.register(on_edit_text, editing, *plain)
    r.message.register(on_not_text, StateFilter(Teaching), ~F.text)
    r.callback_query.register(on_teach_question, TeachQuestion.filter())
    r.callback_query.register(on_teach_passage, TeachPassage.filter())
    r.callback_query.register(on_edit, EditTaught.filter())
    r.callback_query.register(on_withdraw, WithdrawTaught.filter())
    return r
