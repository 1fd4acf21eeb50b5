"""A process follows the serving version recorded in the database, and never lets an older
record undo a switch it made itself before that switch is recorded."""

from __future__ import annotations

import pytest

from bot.answers import AnswerService
from bot.serving import ServingIndex
from index.store.lifecycle import build_new_version

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


@pytest.fixture
def serving(settings, encoder, core) -> ServingIndex:  # type: ignore[no-untyped-def]
    """A process serving the session's index."""
    return ServingIndex(settings, encoder, core.version, AnswerService(core.answerer))


@pytest.fixture
def other(settings, encoder) -> str:  # type: ignore[no-untyped-def]
    """Another complete version on disk, not current."""
    return build_new_version(settings, encoder, progress=False)


async def test_the_follower_switches_to_a_recorded_version_and_skips_what_it_cannot_load(
    serving: ServingIndex,
    other: str,
    core,  # type: ignore[no-untyped-def]
) -> None:
    database = RecordedVersion()
    await serving.follow_once(database)  # type: ignore[arg-type]
    assert serving.version_id == core.version.version_id  # nothing recorded yet
    database.down = True
    await serving.follow_once(database)  # type: ignore[arg-type]
    assert serving.version_id == core.version.version_id
    database.down, database.version = False, other
    await serving.follow_once(database)  # type: ignore[arg-type]
    assert serving.version_id == other
    assert serving.answers.answerer.version_id == other
    database.version = "v-not-on-this-disk"
    await serving.follow_once(database)  # type: ignore[arg-type]
    assert serving.version_id == other


async def test_a_local_switch_is_not_undone_by_the_older_record(
    serving: ServingIndex,
    other: str,
    core,  # type: ignore[no-untyped-def]
) -> None:
    database = RecordedVersion()
    database.version = core.version.version_id
    await serving.switch_to(other, recording=True)  # a reload here; its record is queued
    await serving.follow_once(database)  # type: ignore[arg-type]
    assert serving.version_id == other  # not switched back to the older record
    database.version = other  # the record arrives
    await serving.follow_once(database)  # type: ignore[arg-type]
    database.version = core.version.version_id  # later, another instance rolls back
    await serving.follow_once(database)  # type: ignore[arg-type]
    assert serving.version_id == core.version.version_id
