"""Outer middlewares (language, in-flight tracking, throttling) and a Bot API session
middleware that retries what may pass (flood control, 5xx, timeouts)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiogram import BaseMiddleware, Bot
from aiogram.client.default import Default
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import EditMessageText, GetUpdates, SendMessage, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import Message, TelegramObject, Update, User

from bot.inflight import InFlightCounter
from bot.telegram.formatting import fit_message
from bot.texts import texts_for

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class LanguageMiddleware(BaseMiddleware):
    """Gives every handler ``texts`` in the language of the message (a question asked in
    English is answered in an English frame), else the user's interface language."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        message = event.message if isinstance(event, Update) else None
        text = message.text if message is not None else None
        data["texts"] = texts_for(user.language_code if user else None, text)
        return await handler(event, data)


class InFlight(BaseMiddleware):
    """Counts updates being handled, in all and per user, so shutdown can wait for them to
    finish and /forget_me for the sender's questions still being answered."""

    def __init__(self) -> None:
        self.counter = InFlightCounter()
        self.by_user: Counter[int] = Counter()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is not None:
            self.by_user[user.id] += 1
        try:
            with self.counter.track():
                return await handler(event, data)
        finally:
            if user is not None:
                self.by_user[user.id] -= 1
                if self.by_user[user.id] <= 0:
                    del self.by_user[user.id]

    async def wait_user(self, user_id: int, *, others_than: int, timeout: float) -> bool:
        """Wait until ``user_id`` has at most ``others_than`` updates in progress."""
        deadline = time.monotonic() + timeout
        while self.by_user.get(user_id, 0) > others_than:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True


class Throttling(BaseMiddleware):
    """A token bucket per user: ``burst`` questions at once, refilled at ``rate`` per second."""

    def __init__(self, burst: int, rate: float):
        self.burst = burst
        self.rate = rate
        self._buckets: dict[int, tuple[float, float]] = {}

    def allow(self, user_id: int) -> bool:
        now = time.monotonic()
        tokens, last = self._buckets.get(user_id, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[user_id] = (tokens, now)
            return False
        self._buckets[user_id] = (tokens - 1, now)
        return True

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or self.allow(user.id):
            return await handler(event, data)
        if isinstance(event, Message):
            await event.reply(data["texts"].throttled)
        return None


class BotApiRetry(BaseRequestMiddleware):
    """Repeats a Bot API call that failed for a reason that may pass: flood control (waiting
    ``retry_after``), a 5xx, a timeout or a dropped connection (backing off), for up to
    ``budget_s`` in all. Other errors (400, 403: the request itself is wrong) are raised at once.

    getUpdates is left to the poller, which has its own backoff and must notice a shutdown. A
    send that timed out may have been delivered: retrying risks a second copy, which is better
    than a worker never getting an answer."""

    def __init__(
        self,
        budget_s: float = 90.0,
        first_delay_s: float = 0.5,
        max_delay_s: float = 10.0,
        *,
        on_retry: Callable[[str], None] | None = None,
    ):
        self.budget = budget_s
        self.first_delay = first_delay_s
        self.max_delay = max_delay_s
        self.on_retry = on_retry  # (method name): the metrics

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if isinstance(method, GetUpdates):  # the poller retries getUpdates itself
            return await make_request(bot, method)  # type: ignore[arg-type]
        deadline = time.monotonic() + self.budget
        delay = self.first_delay
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                wait: float = exc.retry_after
                why = f"flood control (retry after {exc.retry_after} s)"
            except (TelegramServerError, TelegramNetworkError, ClientDecodeError) as exc:
                wait, delay = delay, min(delay * 2, self.max_delay)
                why = f"{type(exc).__name__}: {str(exc)[:120]}"
            if time.monotonic() + wait > deadline:
                raise TelegramGaveUpError(method, why)
            log.warning("%s failed (%s); retrying in %.1f s", type(method).__name__, why, wait)
            if self.on_retry is not None:
                self.on_retry(type(method).__name__)
            await asyncio.sleep(wait)


class TelegramGaveUpError(TelegramAPIError):
    """A Bot API call still failed when its retry budget ran out."""

    def __init__(self, method: TelegramMethod[Any], why: str):
        super().__init__(method=method, message=f"gave up after retries: {why}")


class FitMessages(BaseRequestMiddleware):
    """Every message fits: a ``sendMessage`` over Telegram's limit goes out as several (its
    buttons on the last), an edit over it is cut short. One place for every reply, so no handler
    can send what Telegram refuses (an admin command echoing 5,000 characters, say)."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if isinstance(method, SendMessage | EditMessageText) and isinstance(method.text, str):
            html = _is_html(bot, method.parse_mode)
            parts = fit_message(method.text, html=html)
            if len(parts) > 1 and isinstance(method, SendMessage):
                for text, part_html in parts[:-1]:
                    first = SendMessage(
                        chat_id=method.chat_id,
                        message_thread_id=method.message_thread_id,
                        text=text,
                        parse_mode=ParseMode.HTML if part_html else None,
                    )
                    await make_request(bot, first)  # type: ignore[arg-type]
            if len(parts) > 1:
                text, part_html = parts[-1] if isinstance(method, SendMessage) else parts[0]
                method = cast(
                    TelegramMethod[TelegramType],
                    method.model_copy(
                        update={"text": text, "parse_mode": ParseMode.HTML if part_html else None}
                    ),
                )
        return await make_request(bot, method)


def _is_html(bot: Bot, parse_mode: object) -> bool:
    mode = bot.default.parse_mode if isinstance(parse_mode, Default) else parse_mode
    return mode == ParseMode.HTML
