"""Admins: documents sent to the bot are checked and stored in the corpus; /docs, /remove."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.serving import ServingIndex
from bot.settings import Settings
from bot.telegram.admin_gate import AdminGate
from bot.telegram.formatting import split_messages
from bot.telegram.handlers.admin_index import reload_button
from bot.texts import AdminTexts, Texts
from index import DocumentError, corpus_changes, kind_of, remove_document, store_document


# Files in groups are conversation, not uploads: only a private chat's files are handled here.
async def on_document(message: Message, bot: Bot, texts: Texts, settings: Settings) -> None:
    admin = texts.admin
    document = message.document
    assert document is not None
    name = document.file_name or "document"
    limit = int(settings.admin.max_upload_mb * 2**20)
    try:
        kind_of(name)  # refuse an unsupported name before downloading anything
        if (document.file_size or 0) > limit:
            await message.answer(
                admin.too_big.format(size=_size(document.file_size or 0), limit=_size(limit)),
                parse_mode=None,
            )
            return
        data = await _download(bot, document.file_id, limit)
        if len(data) > limit:
            await message.answer(
                admin.too_big.format(size=_size(len(data)), limit=_size(limit)), parse_mode=None
            )
            return
        stored = await asyncio.to_thread(
            store_document, settings.paths.corpus_dir, _trash(settings), name, data
        )
    except DocumentError as exc:
        await message.answer(
            admin.upload_failed.format(reason=document_reason(exc, admin)), parse_mode=None
        )
        return
    if stored.unchanged:
        await message.answer(admin.stored_unchanged.format(name=stored.name), parse_mode=None)
        return
    reply = admin.stored.format(
        name=stored.name,
        title=stored.title,
        paragraphs=stored.paragraphs,
        chars=stored.chars,
        rows=stored.table_rows,
    )
    if stored.replaced:
        reply += "\n" + admin.stored_replaced
    await message.answer(reply, parse_mode=None, reply_markup=reload_button(texts))


async def _download(bot: Bot, file_id: str, limit: int) -> bytes:
    file = await bot.get_file(file_id)
    if (file.file_size or 0) > limit or file.file_path is None:
        # Telegram gives no path for files it will not serve to bots (over 20 MB).
        raise DocumentError(
            f"the file cannot be downloaded (size {_size(file.file_size or 0)})",
            code="download",
        )
    buffer = io.BytesIO()
    await bot.download_file(file.file_path, destination=buffer, timeout=120)
    return buffer.getvalue()


async def on_docs(
    message: Message, texts: Texts, settings: Settings, serving: ServingIndex
) -> None:
    admin = texts.admin
    changes = await asyncio.to_thread(corpus_changes, settings, serving.version_id)
    if not changes.files and not changes.removed:
        await message.answer(admin.docs_empty, parse_mode=None)
        return
    lines = [admin.docs_title] + [
        admin.docs_line.format(
            n=n,
            name=f.name,
            size=_size(f.size),
            date=time.strftime("%Y-%m-%d", time.gmtime(f.modified)),
            state=admin.docs_indexed if f.indexed else admin.docs_not_indexed,
        )
        for n, f in enumerate(changes.files, 1)
    ]
    lines += [admin.pending_removed.format(name=name) for name in changes.removed]
    for part in split_messages(lines, sep="\n"):
        await message.answer(part, parse_mode=None)


async def on_remove(
    message: Message, command: CommandObject, texts: Texts, settings: Settings
) -> None:
    admin = texts.admin
    wanted = (command.args or "").strip()
    if not wanted:
        await message.answer(admin.remove_usage, parse_mode=None)
        return
    try:
        name = await asyncio.to_thread(
            remove_document, settings.paths.corpus_dir, _trash(settings), wanted
        )
    except DocumentError as exc:
        await message.answer(
            admin.remove_failed.format(reason=document_reason(exc, admin)), parse_mode=None
        )
        return
    await message.answer(
        admin.removed.format(name=name), parse_mode=None, reply_markup=reload_button(texts)
    )


def document_reason(exc: DocumentError, admin: AdminTexts) -> str:
    """The refusal in the admin's language, when there is a translation for it."""
    template = admin.document_errors.get(exc.code)
    if template is None:
        return str(exc)
    details = {k: admin.kinds.get(v, v) for k, v in exc.details.items()}
    try:
        return template.format(**details)
    except KeyError:  # a detail the template expects is missing: the message says it all
        return str(exc)


def _trash(settings: Settings) -> Path:
    return settings.paths.data_dir / "removed-documents"


def _size(size: int) -> str:
    if size >= 2**20:
        return f"{size / 2**20:.1f} MB"
    return f"{max(size, 1) / 1024:.0f} KB" if size >= 1024 else f"{size} B"


def router() -> Router:
    """This feature's handlers, on a new router (one per dispatcher)."""
    r = Router(name="admin_docs")
    r.message.middleware(AdminGate())
    r.message.register(on_document, F.document, F.chat.type == ChatType.PRIVATE)
    r.message.register(on_docs, Command("docs"))
    r.message.register(on_remove, Command("remove"))
    return r
