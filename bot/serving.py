"""Which index version this process answers from, and switching it while questions keep coming.

What serves is known in three places: ``CURRENT`` in the data folder (what a start loads), the
answerer in this process's memory, and the newest ``serving_versions`` row (what every
instance follows). :meth:`ServingIndex.switch_to` changes them as one step, in an order that
keeps them in agreement whatever fails: the version is loaded first (if it cannot be, nothing
changes), then ``CURRENT`` is replaced (if that fails, memory is not swapped), then the answerer
is swapped in one assignment (questions being answered finish on the old version, later ones
use the new one), and last the switch is queued for the database (retried until stored). Each
failure raises, so the admin who asked sees it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.db.recorder import Recorder
from bot.db.repository import Repository
from index import IndexCoreError, QuestionAnswerer

log = logging.getLogger(__name__)

# Loads a kept version and returns its answerer (IndexCoreError if it cannot be loaded).
OpenAnswerer = Callable[[str], QuestionAnswerer]
# Points CURRENT at a version; returns the one it replaced.
SwitchCurrent = Callable[[str], str | None]


class ServingIndex:
    def __init__(
        self,
        answerer: QuestionAnswerer,
        *,
        open_answerer: OpenAnswerer,
        switch_current: SwitchCurrent,
        recorder: Recorder,
    ):
        self._answerer = answerer
        self._open = open_answerer
        self._switch_current = switch_current
        self._recorder = recorder
        self._switching = asyncio.Lock()
        self._unusable: set[str] = set()  # recorded versions that failed to load here
        # A switch made here whose record is still on its way to the database: until it shows
        # up there, the older record must not switch this process back.
        self._awaiting_record: str | None = None

    @property
    def answerer(self) -> QuestionAnswerer:
        """The answerer of the version serving now (each batch of questions takes it once)."""
        return self._answerer

    @property
    def version_id(self) -> str:
        return self._answerer.version

    async def switch_to(self, version_id: str, *, action: str, actor: str) -> str:
        """Serve ``version_id`` here, in ``CURRENT`` and (queued) in the database; returns the
        version it replaced. IndexCoreError, with nothing changed, if it cannot be loaded or
        ``CURRENT`` cannot be written."""
        async with self._switching:
            answerer = await asyncio.to_thread(self._open, version_id)
            await asyncio.to_thread(self._switch_current, version_id)
            previous, self._answerer = self.version_id, answerer
            self._awaiting_record = version_id
            self._recorder.store(
                "switch",
                {"version_id": version_id, "action": action, "actor": actor},
                f"{action} to {version_id}",
            )
            log.info("now serving index %s (was %s; %s by %s)", version_id, previous, action, actor)
            return previous

    async def follow(
        self, repository: Repository, interval_s: float, *, after: Awaitable[object] | None = None
    ) -> None:
        """Poll the database and switch whenever another instance recorded a new version
        (starting once ``after``, the schema migration, is done)."""
        if after is not None:
            await after
        while True:
            await self.follow_once(repository)
            await asyncio.sleep(interval_s)

    async def follow_once(self, repository: Repository) -> None:
        try:
            recorded = await repository.serving_version()
        except Exception as exc:  # the database is down: keep serving, try again later
            log.warning("cannot read the serving version from the database: %r", exc)
            return
        if self._awaiting_record is not None:
            if recorded == self._awaiting_record:
                self._awaiting_record = None
            return
        if recorded is None or recorded == self.version_id or recorded in self._unusable:
            return
        async with self._switching:  # the instance that switched wrote CURRENT already
            if self._awaiting_record is not None:
                return  # a local switch overtook this read
            try:
                answerer = await asyncio.to_thread(self._open, recorded)
            except IndexCoreError as exc:
                self._unusable.add(recorded)
                log.error("cannot serve index %s recorded in the database: %s", recorded, exc)
                return
            previous, self._answerer = self.version_id, answerer
            log.info("now serving index %s (was %s), following the database", recorded, previous)
