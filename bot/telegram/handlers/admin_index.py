"""Admins: /reload (also the button offered after an upload), /rollback, /status."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.db.recorder import Recorder
from bot.reloads import Reloader, ReloadProgress
from bot.serving import ServingIndex
from bot.settings import Settings
from bot.telegram.admin_gate import AdminAction, AdminGate
from bot.texts import AdminTexts, Texts
from index import IndexCoreError, SwitchResult, serving_status

_EDIT_EVERY_S = 1.0


def reload_button(texts: Texts) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(
        text=texts.admin.reload_button, callback_data=AdminAction(action="reload").pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


async def on_reload(message: Message, texts: Texts, reloader: Reloader, recorder: Recorder) -> None:
    await _reload(message, texts, reloader, recorder, actor_id=_sender(message))


async def on_reload_button(
    query: CallbackQuery, texts: Texts, reloader: Reloader, recorder: Recorder
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _reload(query.message, texts, reloader, recorder, actor_id=query.from_user.id)


async def _reload(
    chat: Message, texts: Texts, reloader: Reloader, recorder: Recorder, *, actor_id: int
) -> None:
    admin = texts.admin
    status = await chat.answer(admin.reload_started, parse_mode=None)
    progress = _ProgressMessage(status, admin)
    try:
        result = await reloader.reload(f"telegram:{actor_id}", progress.show)
    except IndexCoreError as exc:
        reason = str(exc)
        await status.edit_text(
            admin.reload_failed.format(serving=reloader.serving_version, reason=reason),
            parse_mode=None,
        )
        _audit(recorder, actor_id, "reload:failed", reason)
        return
    await status.edit_text(_done_text(admin, result), parse_mode=None)
    _audit(recorder, actor_id, "reload:done", f"{result.previous_id} -> {result.version_id}")


def _done_text(admin: AdminTexts, result: SwitchResult) -> str:
    return admin.reload_done.format(
        version=result.version_id,
        documents=result.documents,
        chunks=result.passages,
        seconds=result.seconds,
        checks=result.checks,
        previous=result.previous_id or "-",
    )


class _ProgressMessage:
    """Edits one message as the build advances, at most once a second (Telegram's limits)."""

    def __init__(self, message: Message, admin: AdminTexts):
        self.message = message
        self.admin = admin
        self.shown = ""
        self.last = 0.0

    async def show(self, progress: ReloadProgress) -> None:
        stage = self.admin.stages.get(progress.stage, progress.stage)
        text = self.admin.reload_progress.format(
            stage=stage.format(done=progress.done, total=progress.total)
        )
        if text == self.shown or time.monotonic() - self.last < _EDIT_EVERY_S:
            return
        self.shown, self.last = text, time.monotonic()
        # "message is not modified" and the like: the next edit catches up.
        with contextlib.suppress(TelegramBadRequest):
            await self.message.edit_text(text, parse_mode=None)


async def on_rollback(
    message: Message,
    command: CommandObject,
    texts: Texts,
    reloader: Reloader,
    recorder: Recorder,
) -> None:
    admin = texts.admin
    target = (command.args or "").strip() or None
    try:
        result = await reloader.rollback(f"telegram:{_sender(message)}", target)
    except IndexCoreError as exc:
        await message.answer(
            admin.rollback_failed.format(serving=reloader.serving_version, reason=str(exc)),
            parse_mode=None,
        )
        return
    await message.answer(
        admin.rollback_done.format(
            version=result.version_id,
            documents=result.documents,
            chunks=result.passages,
            previous=result.previous_id or "-",
        ),
        parse_mode=None,
    )
    _audit(
        recorder, _sender(message), "rollback:done", f"{result.previous_id} -> {result.version_id}"
    )


async def on_status(
    message: Message, texts: Texts, serving: ServingIndex, settings: Settings
) -> None:
    admin = texts.admin
    status = await asyncio.to_thread(serving_status, settings, serving.version_id)
    documents = "\n".join(
        admin.status_document.format(title=d.title, name=d.doc_id, chunks=d.passages)
        for d in status.documents
    )
    lines = [
        admin.status.format(
            version=status.version_id,
            created=status.created_at,
            seconds=status.build_seconds,
            chunks=status.passages,
            count=len(status.documents),
            documents=documents,
            kept=", ".join(status.kept),
        )
    ]
    changes = [
        admin.pending_file.format(name=f.name) for f in status.changes.files if not f.indexed
    ]
    changes += [admin.pending_removed.format(name=n) for n in status.changes.removed]
    if changes:
        lines.append(admin.pending.format(changes="\n".join(changes)))
    await message.answer("\n\n".join(lines), parse_mode=None)


def _sender(message: Message) -> int:
    return message.from_user.id if message.from_user else message.chat.id


def _audit(recorder: Recorder, user_id: int, action: str, detail: str) -> None:
    recorder.store(
        "admin_event",
        {"user_id": user_id, "action": action, "allowed": True, "detail": detail[:500]},
        f"admin event {action}",
    )


def router() -> Router:
    """This feature's handlers, on a new router (one per dispatcher)."""
    r = Router(name="admin_index")
    r.message.middleware(AdminGate())
    r.callback_query.middleware(AdminGate())
    r.message.register(on_reload, Command("reload"))
    r.callback_query.register(on_reload_button, AdminAction.filter(F.action == "reload"))
    r.message.register(on_rollback, Command("rollback"))
    r.message.register(on_status, Command("status"))
    return r
