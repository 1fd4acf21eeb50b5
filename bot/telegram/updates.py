"""Where updates enter: each handled once, none able to stop the others.

Telegram delivers an update at least once: again after a crash before its offset was confirmed,
again when a webhook call is retried. Two guards make that harmless:

- :class:`ExactlyOnce`, the outermost middleware, skips an update this bot has already handled
  (a durable record in the database, shared by instances, or in this instance's outbox while
  the database is away, plus a memory of recent ones) and, once the update is handled, records
  it, after the update's own writes (the recorder keeps order). The update counts as done only
  when that record is stored (in the database or the outbox on disk).
- :class:`UnreadableUpdates` takes an update aiogram cannot decode (a field Telegram added or
  left out): logged with its id and its shape only, kept whole in a file for admins, and its
  sender, when a chat can be read from the raw JSON, told politely. It never blocks the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import TelegramObject, Update
from pydantic import ValidationError

from bot.db.recorder import Recorder
from bot.db.repository import Repository
from bot.db.set_aside import SetAsideFile
from bot.texts import texts_for

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# How long the database may take to say whether an update was handled before; past it (the
# database is down) the update is handled: answering twice beats not answering.
_CHECK_TIMEOUT_S = 2.0
_REMEMBERED = 10_000
_FIRST_BACKOFF_S, _MAX_BACKOFF_S = 1.0, 30.0
_WARN_EVERY_S = 60.0


class ExactlyOnce(BaseMiddleware):
    def __init__(self, repository: Repository, recorder: Recorder):
        self.repository = repository
        self.recorder = recorder
        self._seen: OrderedDict[tuple[int, int], None] = OrderedDict()
        self.skipped = 0
        self._warned_at = -_WARN_EVERY_S
        # After a failed check the database is not asked again for a while (doubling, up to
        # _MAX_BACKOFF_S): during a stall every update would otherwise wait the full timeout.
        self._unreachable_until = 0.0
        self._backoff = _FIRST_BACKOFF_S

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        bot: Bot = data["bot"]
        key = (bot.id, event.update_id)
        seen = key in self._seen
        self._remember(key)  # before any await: a copy arriving meanwhile is seen as one
        if seen or self.recorder.kept_handled(*key) or await self._handled_before(key):
            self.skipped += 1
            log.info("update %s was handled already; not handled again", event.update_id)
            return None
        try:
            return await handler(event, data)
        finally:
            marked = self.recorder.store(
                "handled", {"bot_id": key[0], "update_id": key[1]}, f"update {key[1]} handled"
            )
            # Done (and confirmable to Telegram) only once the record, and so every write the
            # update made before it, is stored or set aside on disk.
            await asyncio.shield(marked)

    async def _handled_before(self, key: tuple[int, int]) -> bool:
        now = time.monotonic()
        if now < self._unreachable_until:  # it failed just now: no update waits for it
            return False
        try:
            found = await asyncio.wait_for(self.repository.was_handled(*key), _CHECK_TIMEOUT_S)
        except Exception as exc:  # the database is down (or not migrated yet): handle it
            now = time.monotonic()
            self._unreachable_until = now + self._backoff
            self._backoff = min(self._backoff * 2, _MAX_BACKOFF_S)
            if now - self._warned_at > _WARN_EVERY_S:
                self._warned_at = now
                log.warning(
                    "cannot check whether updates were handled before (%s); handling them "
                    "(next check in %.0f s)",
                    brief(exc),
                    self._unreachable_until - now,
                )
            return False
        self._backoff = _FIRST_BACKOFF_S
        return found

    def _remember(self, key: tuple[int, int]) -> None:
        self._seen[key] = None
        while len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)


class UnreadableUpdates:
    """Decodes updates; one that cannot be read is set aside once, however often it is fetched
    or delivered again (the ids set aside are remembered, those in the file included)."""

    def __init__(self, file: SetAsideFile):
        self.file = file
        self._kept = {_identity(_kept_update(row)) for row in file.rows()}

    def decode(self, bot: Bot, raw: object) -> Update | None:
        """The update, or None when it cannot be read (then set aside: see :meth:`_keep`)."""
        try:
            return Update.model_validate(raw, context={"bot": bot})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['type']}" for e in exc.errors()[:3]
            )
        except RecursionError:  # nested deeper than Python follows
            problems = "nested too deeply"
        self._keep(raw, problems)
        return None

    def set_aside(self, raw: object, why: str, problems: str) -> bool:
        """Keep ``raw`` (an update that failed) for admins, unless it is kept already; whether
        it was kept now."""
        update_id = raw.get("update_id") if isinstance(raw, dict) else None
        identity = _identity(raw)
        if identity in self._kept:
            return False
        self._kept.add(identity)
        self.file.put(f"update {update_id}", why, {"update": raw}, problems)
        return True

    async def tell_sender(self, bot: Bot, raw: object) -> None:
        """Say to whoever sent an unreadable update (if a chat can be read) that it was not."""
        chat_id, language = _sender(raw)
        if chat_id is None:
            return
        try:
            await bot.send_message(chat_id, texts_for(language).unreadable, parse_mode=None)
        except TelegramAPIError as exc:
            log.warning("could not tell chat %s its message was unreadable: %r", chat_id, exc)

    def _keep(self, raw: object, problems: str) -> None:
        if not self.set_aside(raw, "cannot be read", problems):
            return  # fetched or delivered again: set aside (and logged) once
        log.error(
            "update %s cannot be read (%s); set aside in %s: %s",
            raw.get("update_id") if isinstance(raw, dict) else None,
            problems,
            self.file.path,
            shape(raw),
        )


def _kept_update(row: dict[str, Any]) -> object:
    kept = row.get("row")
    return kept.get("update") if isinstance(kept, dict) else None


def _identity(raw: object) -> str:
    """An update as delivered (id and content: Telegram may start its ids afresh after a week
    without updates, so the id alone could name another one)."""
    try:
        text = json.dumps(raw, sort_keys=True, default=str)
    except (ValueError, RecursionError):  # nested too deeply to write: its id stands for it
        text = f"unwritable {raw.get('update_id') if isinstance(raw, dict) else None}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def shape(value: object, depth: int = 0) -> object:
    """``value`` with what people wrote hidden: strings become their length, numbers stay (ids,
    dates), for a log line."""
    if depth > 6:
        return "…"
    if isinstance(value, dict):
        return {str(k): shape(v, depth + 1) for k, v in list(value.items())[:30]}
    if isinstance(value, list):
        return [shape(v, depth + 1) for v in value[:5]]
    if isinstance(value, str):
        return f"<{len(value)} chars>"
    return value


def brief(error: BaseException) -> str:
    """An error in one log line: its type and the first line of its message."""
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {text}"


def _sender(raw: object) -> tuple[int | None, str | None]:
    """The chat to answer and the sender's language, read from a raw update's JSON."""
    if not isinstance(raw, dict):
        return None, None
    for kind, body in raw.items():
        if kind == "update_id" or not isinstance(body, dict):
            continue
        message = body.get("message") if kind == "callback_query" else body
        chat = message.get("chat") if isinstance(message, dict) else None
        sender = body.get("from")
        language = sender.get("language_code") if isinstance(sender, dict) else None
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        if chat_id is None and isinstance(sender, dict):
            chat_id = sender.get("id")  # e.g. an inline query: the user's private chat
        if isinstance(chat_id, int) and not isinstance(chat_id, bool):
            return chat_id, language if isinstance(language, str) else None
    return None, None
