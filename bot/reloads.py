"""Reload and rollback for a running bot.

A reload builds in a child process, ``python -m bot reload --json`` (the same command admins
run from a shell), at a lower CPU priority: the serving process keeps its memory and event
loop to itself and answers from the old version until the child reports a validated version.
If the child fails or is killed, the serving version is untouched and its staging folder is
removed at the next start. The switch is then recorded in the database, where every other
instance picks it up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.db.recorder import Recorder
from bot.serving import ServingIndex
from index.errors import IndexCoreError, ReloadInProgressError
from index.store.lifecycle import SwitchResult, rollback

log = logging.getLogger(__name__)

_STDERR_TAIL = 2000


class ReloadFailedError(IndexCoreError):
    """A reload did not produce a validated version; the message says why."""


@dataclass(frozen=True)
class Progress:
    stage: str  # reading, passages, sentences, writing, validating, switching
    done: int
    total: int


OnProgress = Callable[[Progress], Awaitable[None]]


class Reloader:
    def __init__(self, serving: ServingIndex, recorder: Recorder):
        self.serving = serving
        self.recorder = recorder
        self._busy = asyncio.Lock()

    @property
    def busy(self) -> bool:
        return self._busy.locked()

    async def reload(self, actor: str, on_progress: OnProgress) -> SwitchResult:
        """Build, validate and switch; ReloadFailedError (old version still serving) if not."""
        async with self._exclusive():
            result = await self._build_in_child(on_progress)
            await self.serving.switch_to(result.version_id, recording=True)
            self._record(result.version_id, "reload", actor)
            return result

    async def rollback(self, actor: str, target: str | None = None) -> SwitchResult:
        async with self._exclusive():
            result = await asyncio.to_thread(
                rollback, self.serving.settings, self.serving.encoder, target
            )
            await self.serving.switch_to(result.version_id, recording=True)
            self._record(result.version_id, "rollback", actor)
            return result

    def _exclusive(self) -> asyncio.Lock:
        if self._busy.locked():
            raise ReloadInProgressError("a reload or rollback is already running; please wait")
        return self._busy

    def _record(self, version_id: str, action: str, actor: str) -> None:
        self.recorder.submit(
            f"{action} to {version_id}",
            lambda repo: repo.record_switch(version_id, action, actor),
        )

    async def _build_in_child(self, on_progress: OnProgress) -> SwitchResult:
        env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}  # the child needs none
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "reload",
            "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert child.stdout is not None
        assert child.stderr is not None
        stderr = asyncio.create_task(child.stderr.read())
        result: SwitchResult | None = None
        error: str | None = None
        try:
            async for line in child.stdout:
                event = _parse(line)
                if event is None:
                    continue
                if event["event"] == "progress":
                    progress = Progress(event["stage"], event["done"], event["total"])
                    await _report(on_progress, progress)
                elif event["event"] == "done":
                    result = SwitchResult(**event["result"])
                elif event["event"] == "error":
                    error = str(event["message"])
            code = await child.wait()
        except asyncio.CancelledError:
            child.kill()  # shutdown: the staging folder is cleaned at the next start
            await child.wait()
            raise
        tail = (await stderr).decode("utf-8", "replace")[-_STDERR_TAIL:]
        if result is not None and code == 0:
            return result
        if error is None:
            log.error("the reload process exited with %s; its last output:\n%s", code, tail)
            error = f"the build process stopped unexpectedly (exit code {code})"
        raise ReloadFailedError(error)


async def _report(on_progress: OnProgress, progress: Progress) -> None:
    try:
        await on_progress(progress)
    except Exception as exc:  # a progress message that cannot be edited must not stop a reload
        log.warning("could not report reload progress: %r", exc)


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None
