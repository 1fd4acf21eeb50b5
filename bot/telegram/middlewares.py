"""Outer middlewares (language, in-flight tracking, throttling) and a Bot API session
middleware that waits out ``TelegramRetryAfter``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import Message, TelegramObject, User

from bot.inflight import InFlightCounter
from bot.texts import texts_for

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class LanguageMiddleware(BaseMiddleware):
    """Gives every handler ``texts`` in the user's interface language."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        data["texts"] = texts_for(user.language_code if user else None)
        return await handler(event, data)


class InFlight(BaseMiddleware):
    """Counts updates being handled, so shutdown can wait for them to finish."""

    def __init__(self) -> None:
        self.counter = InFlightCounter()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        with self.counter.track():
            return await handler(event, data)


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


class RetryAfter(BaseRequestMiddleware):
    """Waits out Telegram's flood control and repeats the request (a few times at most)."""

    def __init__(self, attempts: int = 4, max_wait_s: float = 60.0):
        self.attempts = attempts
        self.max_wait = max_wait_s

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self.attempts or exc.retry_after > self.max_wait:
                    raise
                log.warning(
                    "%s hit flood control; retrying in %s s", type(method).__name__, exc.retry_after
                )
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")
