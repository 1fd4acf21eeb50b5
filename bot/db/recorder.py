"""Writes to the database off the reply path, in order, and never stalled by one bad write or
by the database being away.

A worker answers first and stores afterwards. Queued writes go in one transaction per batch;
when a batch fails they are written one by one:

- when the database is away (an error that may pass, or no answer within ``write_timeout_s``),
  writes of the kinds the outbox knows (:meth:`Recorder.store`: questions, votes, comments,
  handled-marks, audit events, ...) go to the outbox on local disk (``bot/db/outbox.py``) and
  count as done; they are written to the database, in order and once, when it answers again.
  Other writes (reads, the schema migration: :meth:`Recorder.submit`) are retried with backoff,
  keeping their place;
- a *permanent* error (the database refuses this row: a value it cannot hold, a broken
  constraint) sets the write aside — logged with its row redacted, kept whole in the set-aside
  file — and the writes behind it go on.

Memory is bounded: past ``max_pending`` queued writes, new ones are set aside with a clear log
line instead of piling up. At shutdown, writes not yet stored go to the outbox (or, for kinds it
does not know, are set aside and counted), never silently dropped.
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

from bot.db.outbox import WRITES, Outbox, as_record
from bot.db.repository import Repository
from bot.db.set_aside import SetAsideFile, as_row, redacted

log = logging.getLogger(__name__)

Write = Callable[[Repository], Awaitable[Any]]


class _SetAside:
    def __repr__(self) -> str:
        return "SET_ASIDE"


# The result of a write that was set aside instead of stored.
SET_ASIDE: Final = _SetAside()


class _KeptLocally:
    def __repr__(self) -> str:
        return "KEPT_LOCALLY"


# The result of a write kept in the outbox, to be written once the database is back.
KEPT_LOCALLY: Final = _KeptLocally()


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
    kind: str | None = None  # a kind of :data:`WRITES`: it can wait in the outbox
    spooled: bool = False  # handed to the outbox
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass
class RecorderStats:
    written: int = 0
    failed_attempts: int = 0
    set_aside: int = 0
    kept_locally: int = 0  # written to the outbox (the database was away)
    replayed: int = 0  # written from the outbox to the database


class Recorder:
    def __init__(
        self,
        repository: Repository,
        set_aside: SetAsideFile,
        *,
        outbox: Outbox | None = None,
        first_retry_s: float = 0.2,
        max_retry_s: float = 10.0,
        write_timeout_s: float = 2.0,
        batch: int = 200,
        max_pending: int = 50_000,
    ):
        self.repository = repository
        self.set_aside = set_aside
        self.outbox = outbox
        self.stats = RecorderStats()
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._first_retry = first_retry_s
        self._max_retry = max_retry_s
        self._write_timeout = write_timeout_s
        self._batch = batch
        self._max_pending = max_pending
        self._overflowing = False
        self._task: asyncio.Task[None] | None = None
        self._taken: list[_Job] = []  # the batch the worker is writing
        # Writes go to the outbox while it holds anything (an outage, or one before a restart).
        self._local = False
        self._spool: list[_Job] = []  # waiting to be appended to the outbox, in order
        self._spooled = asyncio.Event()
        self._outbox_lock = asyncio.Lock()  # appending, or deciding the outbox is written
        self._spooler: asyncio.Task[None] | None = None
        self._replayer: asyncio.Task[None] | None = None
        self.outbox_error: str | None = None  # why the last append to the outbox failed

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    @property
    def keeping_locally(self) -> bool:
        """Whether writes are going to the outbox (the database was away)."""
        return self._local

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="recorder")
        if self.outbox is not None and self._spooler is None:
            self._spooler = asyncio.create_task(self._spool_writer(), name="outbox-writer")
            if len(self.outbox):
                self._keep_locally()

    def store(self, kind: str, record: object, describe: str | None = None) -> asyncio.Future[Any]:
        """Queue a write of a kind the outbox knows (:data:`WRITES`), rebuilt from ``record``
        (a dataclass or dict). It resolves with its result once stored, :data:`KEPT_LOCALLY`
        once in the outbox (the database is away), or :data:`SET_ASIDE`."""
        row = as_record(record)
        write = WRITES[kind]
        job = _Job(describe or kind, lambda repo: write(repo, row), row, kind)
        if self.keeping_locally:
            self._to_outbox([job])
            return job.done
        return self._enqueue(job)

    def submit(self, describe: str, write: Write, *, record: object = None) -> asyncio.Future[Any]:
        """Queue a write; the future resolves with its result once stored, or with
        :data:`SET_ASIDE`. ``record`` (a dataclass or dict) is what is kept if it is set aside.
        Writes that must survive an outage go through :meth:`store`."""
        return self._enqueue(_Job(describe, write, record))

    def _enqueue(self, job: _Job) -> asyncio.Future[Any]:
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
        """Wait until every queued write is stored, kept or set aside (True), or ``timeout``."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self, timeout: float) -> bool:
        """Flush for up to ``timeout``; what is still queued then goes to the outbox (kinds it
        knows) or is set aside, and is counted."""
        # While the database is away, what waits in the queue (reads, the schema migration)
        # cannot be written anyway: the writes that matter are in the outbox already.
        flushed = await self.flush(min(timeout, 1.0) if self.keeping_locally else timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._replayer is not None:
            self._replayer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replayer
        left = [job for job in self._taken if not job.done.done() and not job.spooled]
        while not self._queue.empty():
            left.append(self._queue.get_nowait())
        kept = [job for job in left if job.kind is not None and self.outbox is not None]
        async with self._outbox_lock:  # the spooler is between appends
            if self._spooler is not None:
                self._spooler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._spooler
            jobs, self._spool = [*self._spool, *kept], []
            self._resolve_spooled(jobs, self._append(jobs))
        for job in left:
            if not job.done.done():
                self._put_aside(job, "shutdown before the database took it")
        if kept:
            log.warning("shutdown with %d writes kept in %s for the database", len(kept),
                        self.outbox.path if self.outbox else None)  # fmt: skip
        if len(left) > len(kept):
            log.error("shutdown with %d database writes not stored: set aside in %s",
                      len(left) - len(kept), self.set_aside.path)  # fmt: skip
        if self.outbox is not None:
            self.outbox.release()
        return flushed

    def kept_handled(self, bot_id: int, update_id: int) -> bool:
        """Whether the outbox holds this update's handled-mark (the database may not yet)."""
        return self.outbox is not None and (bot_id, update_id) in self.outbox.handled

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
        if self.keeping_locally:
            return False  # each to the outbox or, if it cannot go there, retried alone
        try:
            async with self._timeout(*jobs), self.repository.batch():
                results = [await job.write(self.repository) for job in jobs]
        except Exception as exc:
            if self.outbox is not None and not is_permanent(exc):
                self._keep_locally(exc)  # the database is away: no write of this batch waits
                return False
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
            if job.spooled:
                return
            if job.kind is not None and self.keeping_locally:
                self._to_outbox([job])
                return
            try:
                async with self._timeout(job):
                    result = await job.write(self.repository)
            except Exception as exc:
                self.stats.failed_attempts += 1
                if is_permanent(exc):
                    self._put_aside(job, "refused by the database", exc)
                    return
                if self.outbox is not None:
                    self._keep_locally(exc)
                    if job.kind is not None:
                        continue  # to the outbox
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

    def _timeout(self, *jobs: _Job) -> asyncio.Timeout:
        """How long the database may take for ``jobs`` before it counts as away: the write
        timeout when the outbox could take them all; no limit for the rest (a schema migration
        may take long, and must not be cut short)."""
        durable = self.outbox is not None and all(job.kind is not None for job in jobs)
        return asyncio.timeout(self._write_timeout if durable else None)

    # --- the outbox -------------------------------------------------------------------------

    def _keep_locally(self, error: BaseException | None = None) -> None:
        """The database is away: the writes queued (of kinds the outbox knows) and every new
        one go to the outbox until it is written back."""
        if self.keeping_locally or self.outbox is None:
            return
        if error is not None:
            log.error("the database cannot take writes (%s); keeping them in %s until it can",
                      _brief(error), self.outbox.path)  # fmt: skip
        self._local = True
        if self._replayer is None or self._replayer.done():
            self._replayer = asyncio.create_task(self._replay(), name="outbox-replay")
        # In order: the batch being written (what is not stored yet), then the queue.
        taken = [
            job
            for job in self._taken
            if not job.done.done() and not job.spooled and job.kind is not None
        ]
        waiting = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        self._to_outbox(taken + [job for job in waiting if job.kind is not None])
        for job in waiting:
            if job.kind is None:
                self._queue.put_nowait(job)  # reads and maintenance wait for the database
            self._queue.task_done()

    def _to_outbox(self, jobs: list[_Job]) -> None:
        for job in jobs:
            job.spooled = True
        self._spool += jobs
        self._spooled.set()

    async def _spool_writer(self) -> None:
        """Append what waits for the outbox, a group per fsync, in order."""
        while True:
            await self._spooled.wait()
            async with self._outbox_lock:
                self._spooled.clear()
                jobs, self._spool = self._spool, []
                if jobs:
                    error = await asyncio.to_thread(self._append, jobs)
                    self._resolve_spooled(jobs, error)

    def _append(self, jobs: list[_Job]) -> BaseException | None:
        """Append ``jobs`` to the outbox (blocking); the error if they could not be."""
        if not jobs or self.outbox is None:
            return None
        try:
            self.outbox.append([(job.kind or "", as_record(job.record)) for job in jobs])
        except (OSError, ValueError, TypeError) as exc:  # the disk is full or gone
            return exc
        return None

    def _resolve_spooled(self, jobs: list[_Job], error: BaseException | None) -> None:
        self.outbox_error = None if error is None else repr(error)
        if error is None:
            self.stats.kept_locally += len(jobs)
            for job in jobs:
                _resolve(job, KEPT_LOCALLY)
            return
        log.error("cannot write %d writes to %s (%r); set aside", len(jobs),
                  self.outbox.path if self.outbox else None, error)  # fmt: skip
        for job in jobs:
            self._put_aside(job, "neither the database nor the outbox could take it")

    async def _replay(self) -> None:
        """Write the outbox to the database when it comes back (retrying with backoff), then
        remove it and write directly again."""
        assert self.outbox is not None
        delay = self._first_retry
        while True:
            await asyncio.sleep(delay)
            try:
                async with asyncio.timeout(max(self._write_timeout, 60.0)):
                    written, upto = await self.outbox.replay(self.repository)
            except Exception as exc:
                delay = min(delay * 2, self._max_retry)
                log.warning("the outbox waits for the database (%s); next try in %.1f s",
                            _brief(exc), delay)  # fmt: skip
                continue
            self.stats.replayed += written
            async with self._outbox_lock:  # no append can start while this is decided
                if self._spool or self.outbox.last_seq > upto:
                    delay = self._first_retry
                    continue  # more was kept meanwhile: one more round
                old = self.outbox.retire()
                self._local = False  # from now on, new writes go to the database directly
            log.info("the outbox is written to the database (%d writes); writing directly again",
                     written)  # fmt: skip
            with contextlib.suppress(Exception):
                await self.repository.forget_outbox(old)
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
