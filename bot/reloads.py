"""Reload and rollback for a running bot.

A reload builds in a child process, ``python -m bot reload --json --build-only`` (the command
admins run from a shell, without its switch), at a lower CPU priority: the serving process keeps
its memory and event loop to itself and answers from the old version until the child reports a
validated version. The switch itself is one step of the serving index (``ServingIndex.switch_to``:
load, ``CURRENT``, memory, database). If the child fails or is killed, nothing serving changes
and its staging folder is removed at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bot.serving import ServingIndex
from bot.settings import Settings
from index import IndexCoreError, ReloadInProgressError, SwitchResult, plan_rollback

if TYPE_CHECKING:
    from bot.ops import Metrics

log = logging.getLogger(__name__)

_STDERR_TAIL = 2000


class ReloadFailedError(IndexCoreError):
    """A reload did not produce a validated version; the message says why."""


@dataclass(frozen=True)
class ReloadProgress:
    stage: str  # loading model, reading, passages, sentences, writing, validating
    done: int
    total: int


OnProgress = Callable[[ReloadProgress], Awaitable[None]]


class Reloader:
    def __init__(self, settings: Settings, serving: ServingIndex, metrics: Metrics | None = None):
        self.settings = settings
        self.serving = serving
        self.metrics = metrics
        self._busy = asyncio.Lock()

    @property
    def serving_version(self) -> str:
        return self.serving.version_id

    @property
    def running(self) -> bool:
        """Whether a reload or rollback is running in this process."""
        return self._busy.locked()

    async def reload(self, actor: str, on_progress: OnProgress) -> SwitchResult:
        """Build, validate and switch; IndexCoreError (old version still serving) if not."""
        async with self._exclusive(), self._measured("reload"):
            built = await self._build_in_child(on_progress)
            previous = await self.serving.switch_to(built.version_id, action="reload", actor=actor)
            return replace(built, previous_id=previous)

    async def rollback(self, actor: str, target: str | None = None) -> SwitchResult:
        async with self._exclusive(), self._measured("rollback"):
            plan = await asyncio.to_thread(plan_rollback, self.settings, target)
            previous = await self.serving.switch_to(plan.version_id, action="rollback", actor=actor)
            return replace(plan, previous_id=previous)

    @contextlib.asynccontextmanager
    async def _measured(self, kind: str) -> AsyncIterator[None]:
        started, result = time.perf_counter(), "failed"
        try:
            yield
            result = "done"
        finally:
            if self.metrics is not None:
                self.metrics.reloads.labels(kind, result).inc()
                if kind == "reload":
                    self.metrics.reload_seconds.observe(time.perf_counter() - started)

    def _exclusive(self) -> asyncio.Lock:
        if self._busy.locked():
            raise ReloadInProgressError("a reload or rollback is already running; please wait")
        return self._busy

    async def _build_in_child(self, on_progress: OnProgress) -> SwitchResult:
        env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}  # the child needs none
        # The child encodes with its own few threads; this process keeps the other cores.
        threads = str(self.settings.embedding.build_threads)
        env.update(EMBEDDING__THREADS=threads, OMP_NUM_THREADS=threads)
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "reload",
            "--json",
            "--build-only",
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
                    progress = ReloadProgress(event["stage"], event["done"], event["total"])
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


async def _report(on_progress: OnProgress, progress: ReloadProgress) -> None:
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
