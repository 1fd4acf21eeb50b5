"""Long polling that no update can wedge and no crash can lose.

aiogram's own polling confirms a batch to Telegram (the next getUpdates' offset) as soon as it
is fetched, and when one update of a batch cannot be decoded it fetches the same batch forever.
This poller:

- confirms an update only once it is handled (its writes stored or set aside on disk): the
  offset sent is that of the oldest update still in progress, so a crash or SIGKILL makes
  Telegram deliver the unfinished ones again (``ExactlyOnce`` skips the finished ones);
- decodes a batch that aiogram refuses update by update: the readable ones go on, the
  unreadable ones are set aside (see ``UnreadableUpdates``) and the offset moves past them;
- waits out Bot API faults (5xx, timeouts, unreachable) with backoff; only a refused token
  (401) stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramNetworkError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates
from aiogram.types import Update

from bot.telegram.updates import UnreadableUpdates, brief

log = logging.getLogger(__name__)

_BATCH = 100  # Telegram's largest
# While updates are in progress, how long to wait for one to finish before fetching again (the
# oldest unfinished update is returned at once, so long polling would not wait).
_IN_PROGRESS_WAIT_S = 0.2
# ...and how long when the last fetch brought nothing new (every update in it was in progress
# or done): at most two calls a second while updates wait (for a slow database, say).
_NOTHING_NEW_WAIT_S = 0.5


class Poller:
    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        unreadable: UnreadableUpdates,
        /,
        *,
        timeout: int,
        max_backoff_s: float = 30.0,
        **workflow: Any,  # passed to every handler (aiogram's workflow data)
    ):
        self.dispatcher = dispatcher
        self.bot = bot
        self.unreadable = unreadable
        self.timeout = timeout
        self.max_backoff = max_backoff_s
        self.workflow = workflow
        self._in_progress: dict[int, asyncio.Task[Any]] = {}
        self._next: int | None = None  # past the newest update taken
        self._notices: set[asyncio.Task[None]] = set()
        self.set_aside = 0

    @property
    def offset(self) -> int | None:
        """What Telegram is told: every update below it is done."""
        return min(self._in_progress) if self._in_progress else self._next

    async def run(self, stop: asyncio.Event) -> None:
        backoff, taken = 1.0, 1
        while not stop.is_set():
            if self._in_progress:
                # The wait ends early when an update finishes; otherwise it paces the calls.
                await asyncio.wait(
                    list(self._in_progress.values()),
                    timeout=_IN_PROGRESS_WAIT_S if taken else _NOTHING_NEW_WAIT_S,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            fetch = asyncio.create_task(self._fetch(0 if self._in_progress else self.timeout))
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not fetch.done():
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await fetch
                break
            try:
                raw_updates = fetch.result()
            except TelegramUnauthorizedError:
                raise
            except (TelegramAPIError, TelegramNetworkError, ClientDecodeError) as exc:
                log.error("getUpdates failed (%s); retrying in %.0f s", brief(exc), backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = 1.0
            taken = self._take(raw_updates)

    async def finish(self, timeout: float) -> None:
        """Wait for the updates in progress, then confirm what is done to Telegram."""
        if self._in_progress:
            await asyncio.wait(list(self._in_progress.values()), timeout=timeout)
        if self.offset is not None:
            try:
                await self.bot(GetUpdates(offset=self.offset, limit=1, timeout=0))
            except Exception as exc:  # not confirmed: Telegram sends them again, and they are
                # recognised as handled
                log.warning("could not confirm the last updates (%s)", brief(exc))

    async def _fetch(self, timeout: int) -> list[tuple[int, Update | None, object]]:
        """(update_id, update or None if unreadable, raw JSON) of the next batch."""
        method = GetUpdates(offset=self.offset, limit=_BATCH, timeout=timeout)
        try:
            updates = await self.bot(method, request_timeout=timeout + 10)
        except ClientDecodeError as exc:
            data = exc.data
            if not (
                isinstance(data, dict) and data.get("ok") and isinstance(data.get("result"), list)
            ):
                raise  # not a batch: a broken response (a proxy's error page, ...)
            return [self._decode(raw) for raw in data["result"] if _update_id(raw) is not None]
        return [(u.update_id, u, None) for u in updates]

    def _decode(self, raw: object) -> tuple[int, Update | None, object]:
        update_id = _update_id(raw)
        assert update_id is not None
        return update_id, self.unreadable.decode(self.bot, raw), raw

    def _take(self, batch: list[tuple[int, Update | None, object]]) -> int:
        """Start handling the updates of ``batch`` not yet taken; how many there were."""
        taken = 0
        for update_id, update, raw in batch:
            if update_id in self._in_progress or (
                self._next is not None and update_id < self._next
            ):
                continue  # in progress, or done and not yet confirmed
            self._next = update_id + 1
            taken += 1
            if update is None:
                self.set_aside += 1
                notice = asyncio.create_task(self.unreadable.tell_sender(self.bot, raw))
                self._notices.add(notice)  # in the background: the Bot API may be slow
                notice.add_done_callback(self._notices.discard)
                continue
            task = asyncio.create_task(self._handle(update), name=f"update-{update_id}")
            self._in_progress[update_id] = task
            task.add_done_callback(functools.partial(self._done, update_id))
        return taken

    def _done(self, update_id: int, _task: asyncio.Task[Any]) -> None:
        self._in_progress.pop(update_id, None)

    async def _handle(self, update: Update) -> None:
        try:
            await self.dispatcher.feed_update(self.bot, update, **self.workflow)
        except Exception:
            log.exception("update %s failed outside its handlers", update.update_id)


def _update_id(raw: object) -> int | None:
    value = raw.get("update_id") if isinstance(raw, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
