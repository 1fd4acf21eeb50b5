"""Switching what a process serves: one step that keeps ``CURRENT``, memory and the database in
agreement, and a follower of the database that never lets an older record undo a local switch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import Core, Database, Services, build_core, build_services, open_database
from bot.db.engine import migrate
from bot.settings import Settings
from index import IndexCoreError
from index.store.lifecycle import build_new_version
from index.store.versions import version_store
from tests.bot_process import deployment

pytestmark = pytest.mark.slow


class RecordedVersion:
    """The one query the follower makes, answered from memory."""

    def __init__(self) -> None:
        self.version: str | None = None
        self.down = False

    async def serving_version(self) -> str | None:
        if self.down:
            raise ConnectionError("database down")
        return self.version


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, converted_model: Path, encoder) -> Core:  # type: ignore[no-untyped-def]
    """A data folder of its own with a serving version built from the report."""
    data_dir, corpus_dir = deployment(tmp_path_factory.mktemp("serving"), converted_model)
    settings = Settings(paths={"data_dir": data_dir, "corpus_dir": corpus_dir})
    return build_core(settings, progress=False)


@pytest.fixture(scope="module")
def other(site: Core) -> str:
    """Another complete version on disk, not current."""
    return build_new_version(site.settings, site.encoder, progress=False)


@pytest.fixture
async def services(site: Core) -> AsyncIterator[Services]:
    async with open_database(site.settings) as database:
        await migrate(database.engine)
        built = build_services(site, database)
        built.recorder.start()
        yield built
        await built.recorder.stop(timeout=5)


def _current(settings: Settings) -> str | None:
    return version_store(settings).current_id()


async def _recorded(database: Database) -> str | None:
    return await database.repository.serving_version()


async def test_a_switch_changes_current_memory_and_the_database_together(
    services: Services, other: str
) -> None:
    serving, settings = services.serving, services.settings
    before = serving.version_id
    assert _current(settings) == before
    assert await serving.switch_to(other, action="reload", actor="test") == before
    assert serving.version_id == serving.answerer.version == other
    assert _current(settings) == other
    assert await services.recorder.flush(10)
    assert await _recorded(services.database) == other
    (answer,) = serving.answerer.answer_many(["工会提供了多少次法律援助？"], 3)
    assert answer.version == other
    await serving.switch_to(before, action="rollback", actor="test")  # leave it as found
    assert _current(settings) == before


async def test_a_version_that_cannot_be_loaded_changes_nothing(services: Services) -> None:
    serving, settings = services.serving, services.settings
    before = serving.version_id
    with pytest.raises(IndexCoreError, match="not on disk"):
        await serving.switch_to("v-not-on-this-disk", action="rollback", actor="test")
    assert serving.version_id == before
    assert _current(settings) == before
    assert await services.recorder.flush(10)
    assert await _recorded(services.database) != "v-not-on-this-disk"


async def test_the_follower_switches_to_a_recorded_version_and_skips_what_it_cannot_load(
    services: Services, other: str
) -> None:
    serving = services.serving
    start = serving.version_id
    database = RecordedVersion()
    await serving.follow_once(database)  # type: ignore[arg-type]
    assert serving.version_id == start  # nothing recorded yet
    database.down = True
    await serving.follow_once(database)  # type: ignore[arg-type]
    assert serving.version_id == start
    database.down, database.version = False, other
    await serving.follow_once(database)  # type: ignore[arg-type]
    assert serving.version_id == serving.answerer.version == other
    assert _current(services.settings) == start  # CURRENT is the switching instance's to write
    database.version = "v-not-on-this-disk"
    await serving.follow_once(database)  # type: ignore[arg-type]
    assert serving.version_id == other


async def test_a_local_switch_is_not_undone_by_the_older_record(
    services: Services, other: str
) -> None:
    serving = services.serving
    start = serving.version_id
    database = RecordedVersion()
    database.version = start
    await serving.switch_to(other, action="reload", actor="test")  # its record is queued
    await serving.follow_once(database)  # type: ignore[arg-type]
    assert serving.version_id == other  # not switched back to the older record
    database.version = other  # the record arrives
    await serving.follow_once(database)  # type: ignore[arg-type]
    database.version = start  # later, another instance rolls back
    await serving.follow_once(database)  # type: ignore[arg-type]
    assert serving.version_id == start
    await serving.switch_to(start, action="rollback", actor="test")  # CURRENT as found
