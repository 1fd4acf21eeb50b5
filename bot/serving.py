"""Which index version this process answers from, and switching it while questions keep coming.

A switch loads the new version in a worker thread and then swaps the answerer in one
assignment: questions already being answered finish on the old version, later ones use the new
one, and none waits or fails. Every instance follows the version recorded in the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from bot.answers import AnswerService
from bot.db.repository import Repository
from bot.settings import Settings
from index.errors import IndexCoreError
from index.model.encoder import Encoder
from index.store.lifecycle import make_answerer, version_store
from index.store.version_folder import IndexVersion

log = logging.getLogger(__name__)


class ServingIndex:
    def __init__(
        self, settings: Settings, encoder: Encoder, version: IndexVersion, answers: AnswerService
    ):
        self.settings = settings
        self.encoder = encoder
        self.version = version
        self.answers = answers
        self._switching = asyncio.Lock()
        self._unusable: set[str] = set()  # recorded versions that failed to load here
        # A switch made here whose record is still on its way to the database: until it shows
        # up there, the older record must not switch this process back.
        self._awaiting_record: str | None = None

    @property
    def version_id(self) -> str:
        return self.version.version_id

    async def switch_to(self, version_id: str, *, recording: bool = False) -> IndexVersion:
        """Load ``version_id`` and answer from it; IndexCoreError if it cannot be loaded.
        ``recording``: this process is recording the switch (a reload or rollback made here)."""
        async with self._switching:
            if version_id == self.version_id or (self._awaiting_record and not recording):
                return self.version  # (a follower's read that a local switch overtook)
            version = await asyncio.to_thread(
                version_store(self.settings).load, version_id, self.encoder
            )
            answerer = await asyncio.to_thread(make_answerer, self.settings, self.encoder, version)
            self.answers.swap(answerer)
            if recording:
                self._awaiting_record = version_id
            previous, self.version = self.version_id, version
            log.info("now serving index %s (was %s)", version_id, previous)
            return version

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
        try:
            await self.switch_to(recorded)
        except IndexCoreError as exc:
            self._unusable.add(recorded)
            log.error("cannot serve index %s recorded in the database: %s", recorded, exc)
