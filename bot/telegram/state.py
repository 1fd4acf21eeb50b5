"""Conversation state (the 👎 comment prompt) in a store that may go away (Redis).

Answering needs no state, so an outage of the state store must not stop it: reading fails soft
(no state: the message is taken as a new question), and writing raises
:class:`StateUnavailableError`, which the feature that wanted the state turns into a plain line
to the user. After a failure the store is left alone for a few seconds, so an outage costs
each update nothing, not a connection timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

log = logging.getLogger(__name__)


class StateUnavailableError(RuntimeError):
    """The state store cannot be written now."""


class FailSoftStorage(BaseStorage):
    def __init__(self, inner: BaseStorage, *, rest_s: float = 5.0):
        self.inner = inner
        self.rest_s = rest_s
        self._down_until = 0.0

    @property
    def down(self) -> bool:
        return time.monotonic() < self._down_until

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._write(self.inner.set_state(key, state))

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._write(self.inner.set_data(key, data))

    async def get_state(self, key: StorageKey) -> str | None:
        result: str | None = await self._read(self.inner.get_state(key), None)
        return result

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        result: dict[str, Any] = await self._read(self.inner.get_data(key), {})
        return result

    async def close(self) -> None:
        try:
            await self.inner.close()
        except Exception as exc:
            log.warning("closing the state store failed: %r", exc)

    async def _read(self, call: Any, empty: Any) -> Any:
        if self.down:
            call.close()
            return empty
        try:
            return await call
        except Exception as exc:
            self._failed(exc)
            return empty

    async def _write(self, call: Any) -> None:
        if self.down:
            call.close()
            raise StateUnavailableError("the state store is down")
        try:
            await call
        except Exception as exc:
            self._failed(exc)
            raise StateUnavailableError(str(exc)) from exc

    def _failed(self, error: BaseException) -> None:
        if not self.down:
            log.error(
                "the conversation state store failed (%r); answering goes on without it, "
                "retrying in %.0f s",
                error,
                self.rest_s,
            )
        self._down_until = time.monotonic() + self.rest_s
