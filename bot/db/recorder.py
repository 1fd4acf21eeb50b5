"""Writes to the database off the reply path, in order, retried until they succeed.

A worker answers first and stores afterwards: when the database is down, the reply still goes
out, the failure is logged, and the write waits at the head of the queue (so a vote is never
written before its question) and is retried with backoff. Nothing is dropped; on shutdown the
queue is flushed for as long as the caller allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.db.repository import Repository

log = logging.getLogger(__name__)

Write = Callable[[Repository], Awaitable[Any]]


@dataclass
class _Job:
    describe: str
    write: Write
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass
class RecorderStats:
    written: int = 0
    failed_attempts: int = 0


class Recorder:
    def __init__(
        self,
        repository: Repository,
        *,
        first_retry_s: float = 0.2,
        max_retry_s: float = 10.0,
        batch: int = 200,
    ):
        self.repository = repository
        self.stats = RecorderStats()
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._first_retry = first_retry_s
        self._max_retry = max_retry_s
        self._task: asyncio.Task[None] | None = None
        self._batch = batch

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="recorder")

    def submit(self, describe: str, write: Write) -> asyncio.Future[Any]:
        """Queue a write; the future resolves with its result once it is stored."""
        job = _Job(describe, write)
        self._queue.put_nowait(job)
        return job.done

    async def flush(self, timeout: float) -> bool:
        """Wait until every queued write is stored (True) or ``timeout`` passes (False)."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            log.error("shutdown with %d database writes still pending", self.pending)
            return False
        return True

    async def stop(self, timeout: float) -> bool:
        flushed = await self.flush(timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return flushed

    async def _run(self) -> None:
        while True:
            jobs = [await self._queue.get()]
            while len(jobs) < self._batch and not self._queue.empty():
                jobs.append(self._queue.get_nowait())
            try:
                results = await self._write_batch(jobs) if len(jobs) > 1 else None
                if results is None:  # one job, or the batch failed: one by one, with retries
                    results = [await self._write_until_stored(job) for job in jobs]
                for job, result in zip(jobs, results, strict=True):
                    if not job.done.done():
                        job.done.set_result(result)
            finally:
                for _ in jobs:
                    self._queue.task_done()

    async def _write_batch(self, jobs: list[_Job]) -> list[Any] | None:
        """Everything queued, in order, in one transaction (measured: a transaction costs more
        than its statements); None if it failed and was rolled back."""
        try:
            async with self.repository.batch():
                results = [await job.write(self.repository) for job in jobs]
        except Exception as exc:
            log.warning("a batch of %d writes failed (%r); writing them one by one", len(jobs), exc)
            return None
        self.stats.written += len(jobs)
        return results

    async def _write_until_stored(self, job: _Job) -> Any:
        delay = self._first_retry
        while True:
            try:
                result = await job.write(self.repository)
            except Exception as exc:
                self.stats.failed_attempts += 1
                log.error(
                    "storing %s failed (%r); %d writes waiting, retrying in %.1f s",
                    job.describe,
                    exc,
                    self.pending + 1,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_retry)
            else:
                self.stats.written += 1
                return result
