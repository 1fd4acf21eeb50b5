"""Writes to the database off the reply path, in order, and never stalled by one bad write.

A worker answers first and stores afterwards. Queued writes go in one transaction per batch;
when a batch fails they are written one by one:

- a *transient* error (the database is down, a connection dropped, a timeout) is retried with
  backoff, the write staying at the head of the queue so order is kept (a vote is never
  written before its question);
- a *permanent* error (the database refuses this row: a value it cannot hold, a broken
  constraint) sets the write aside — logged with its row redacted, kept whole in the set-aside
  file — and the writes behind it go on.

Memory is bounded: past ``max_pending`` queued writes (a long outage), new ones are set aside
with a clear log line instead of piling up. At shutdown, writes the database could not take in
time are set aside and counted, never silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import exc as sa

from bot.db.repository import Repository
from bot.db.set_aside import SetAsideFile, as_row, redacted

log = logging.getLogger(__name__)

Write = Callable[[Repository], Awaitable[Any]]


class _SetAside:
    def __repr__(self) -> str:
        return "SET_ASIDE"


# The result of a write that was set aside instead of stored.
SET_ASIDE: Final = _SetAside()


# SQLSTATE classes of errors about the data sent, not the connection: 22 data exception (a NUL
# byte, a number out of range), 23 integrity constraint violation.
_PERMANENT_SQLSTATE_CLASSES = ("22", "23")
# Raised before or while a value is sent (a lone surrogate, an integer over 64 bits).
_PERMANENT_PYTHON_ERRORS = (UnicodeError, OverflowError, ValueError, TypeError)


def is_permanent(error: BaseException) -> bool:
    """Whether retrying cannot help: the database refused this write's values for good."""
    if isinstance(error, sa.DBAPIError) and error.connection_invalidated:
        return False
    if isinstance(error, sa.DataError | sa.IntegrityError | sa.ProgrammingError):
        return True
    if isinstance(error, sa.StatementError) and not isinstance(error, sa.DBAPIError):
        return True  # SQLAlchemy could not even build the statement's values
    for cause in _causes(error):
        sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in _PERMANENT_SQLSTATE_CLASSES:
            return True
        if isinstance(cause, _PERMANENT_PYTHON_ERRORS):
            return True
    return False


def _causes(error: BaseException) -> list[BaseException]:
    """The error, the driver's error it wraps, and their causes."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        original = getattr(current, "orig", None)
        current = original if isinstance(original, BaseException) else current.__cause__
    return chain


@dataclass
class _Job:
    describe: str
    write: Write
    record: object
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass
class RecorderStats:
    written: int = 0
    failed_attempts: int = 0
    set_aside: int = 0


class Recorder:
    def __init__(
        self,
        repository: Repository,
        set_aside: SetAsideFile,
        *,
        first_retry_s: float = 0.2,
        max_retry_s: float = 10.0,
        batch: int = 200,
        max_pending: int = 50_000,
    ):
        self.repository = repository
        self.set_aside = set_aside
        self.stats = RecorderStats()
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._first_retry = first_retry_s
        self._max_retry = max_retry_s
        self._batch = batch
        self._max_pending = max_pending
        self._overflowing = False
        self._task: asyncio.Task[None] | None = None
        self._taken: list[_Job] = []  # the batch the worker is writing

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="recorder")

    def submit(self, describe: str, write: Write, *, record: object = None) -> asyncio.Future[Any]:
        """Queue a write; the future resolves with its result once stored, or with
        :data:`SET_ASIDE`. ``record`` (a dataclass or dict) is what is kept if it is set aside."""
        job = _Job(describe, write, record)
        if self.pending >= self._max_pending:
            if not self._overflowing:
                log.error(
                    "%d database writes are waiting (the limit); new writes are set aside in %s "
                    "until the database catches up",
                    self.pending,
                    self.set_aside.path,
                )
            self._overflowing = True
            self._put_aside(job, "queue full")
            return job.done
        if self._overflowing:
            log.warning("the database writes queue is below its limit again")
            self._overflowing = False
        self._queue.put_nowait(job)
        return job.done

    async def flush(self, timeout: float) -> bool:
        """Wait until every queued write is stored or set aside (True), or ``timeout`` passes."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self, timeout: float) -> bool:
        """Flush for up to ``timeout``; what is still queued then is set aside and counted."""
        flushed = await self.flush(timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        left = [job for job in self._taken if not job.done.done()]
        while not self._queue.empty():
            left.append(self._queue.get_nowait())
        for job in left:
            self._put_aside(job, "shutdown before the database took it")
        if left:
            log.error(
                "shutdown with %d database writes not stored: set aside in %s",
                len(left),
                self.set_aside.path,
            )
        return flushed

    async def _run(self) -> None:
        while True:
            jobs = [await self._queue.get()]
            while len(jobs) < self._batch and not self._queue.empty():
                jobs.append(self._queue.get_nowait())
            self._taken = jobs
            try:
                if len(jobs) == 1 or not await self._write_batch(jobs):
                    for job in jobs:
                        await self._write_one(job)
            finally:
                for _ in jobs:
                    self._queue.task_done()

    async def _write_batch(self, jobs: list[_Job]) -> bool:
        """Everything queued, in order, in one transaction (measured: a transaction costs more
        than its statements); False if it failed and was rolled back."""
        try:
            async with self.repository.batch():
                results = [await job.write(self.repository) for job in jobs]
        except Exception as exc:
            log.warning(
                "a batch of %d writes failed (%s); writing them one by one", len(jobs), _brief(exc)
            )
            return False
        self.stats.written += len(jobs)
        for job, result in zip(jobs, results, strict=True):
            _resolve(job, result)
        return True

    async def _write_one(self, job: _Job) -> None:
        delay = self._first_retry
        while True:
            try:
                result = await job.write(self.repository)
            except Exception as exc:
                self.stats.failed_attempts += 1
                if is_permanent(exc):
                    self._put_aside(job, "refused by the database", exc)
                    return
                log.error(
                    "storing %s failed (%s); %d writes waiting, retrying in %.1f s",
                    job.describe,
                    _brief(exc),
                    self.pending + 1,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_retry)
            else:
                self.stats.written += 1
                _resolve(job, result)
                return

    def _put_aside(self, job: _Job, why: str, error: BaseException | None = None) -> None:
        row = as_row(job.record) if job.record is not None else {}
        brief = _brief(error) if error is not None else None
        if error is not None:
            log.error("set aside %s (%s): %s; row %r", job.describe, why, brief, redacted(row))
        self.set_aside.put(job.describe, why, row, brief)
        self.stats.set_aside += 1
        _resolve(job, SET_ASIDE)


def _resolve(job: _Job, result: Any) -> None:
    if not job.done.done():
        job.done.set_result(result)


def _brief(error: BaseException) -> str:
    """The error in one line, without the values of the statement (the engine hides its
    parameters; a driver may quote the one it refused)."""
    original = getattr(error, "orig", None)
    cause = original if isinstance(original, BaseException) else error
    message = str(cause).splitlines()[0] if str(cause) else ""
    message = _QUOTED_ARGUMENT.sub(r"\1 <value hidden>", message)
    return f"{type(cause).__name__}: {message}"[:300]


# asyncpg: "invalid input for query argument $4: 'the text' (reason)".
_QUOTED_ARGUMENT = re.compile(r"(query argument \$\d+:).*")
