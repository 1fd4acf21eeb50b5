"""The webhook endpoint: only Telegram gets in, and no body can make it fail.

- The secret Telegram sends (``X-Telegram-Bot-Api-Secret-Token``) is compared in constant time,
  as bytes (a header that is not ASCII is simply wrong, never an error).
- A body that is not JSON (or nested deeper than Python follows) gets 400; JSON that is not a
  readable update gets 200 (Telegram would otherwise send it again and again) and is set aside
  once, its sender told; an update whose handling fails outside its handlers is logged and set
  aside, answered 200; never a 500.
- A readable update is answered 200 at once and handled in the background; a retried delivery
  is recognised by ``ExactlyOnce`` and not handled twice.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.telegram.updates import UnreadableUpdates, brief

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's rule for secret_token: 1-256 of A-Z a-z 0-9 _ -; we ask for at least 16.
SECRET_FORMAT = re.compile(r"[A-Za-z0-9_-]{16,256}")


class WebhookHandler(SimpleRequestHandler):
    def __init__(
        self, dispatcher: Dispatcher, bot: Bot, *, secret: str, unreadable: UnreadableUpdates
    ):
        super().__init__(dispatcher, bot, handle_in_background=True, secret_token=secret)
        self.unreadable = unreadable
        self._tasks: set[asyncio.Task[Any]] = set()

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        expected = (self.secret_token or "").encode()
        given = telegram_secret_token.encode("utf-8", "surrogateescape")
        return bool(expected) and hmac.compare_digest(given, expected)

    async def handle(self, request: web.Request) -> web.Response:
        if not self.verify_secret(request.headers.get(SECRET_HEADER, ""), self.bot):
            log.warning("webhook call without the right secret from %s refused", request.remote)
            return web.Response(status=401, text="Unauthorized")
        body = await request.read()
        try:
            raw = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python follows
            log.warning("webhook body of %d bytes is not readable JSON; refused", len(body))
            return web.Response(status=400, text="not JSON")
        update = self.unreadable.decode(self.bot, raw)
        if update is None:
            self._background(self.unreadable.tell_sender(self.bot, raw))
        else:
            self._background(self._feed(update, raw))
        return web.json_response({})

    async def _feed(self, update: Update, raw: object) -> None:
        try:
            await self.dispatcher.feed_update(self.bot, update, **self.data)
        except Exception as exc:
            log.exception("update %s failed outside its handlers", update.update_id)
            self.unreadable.set_aside(raw, "failed outside its handlers", brief(exc))

    def _background(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
