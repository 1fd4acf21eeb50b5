"""The answering core behind an async, batching front.

Questions that arrive while the model is busy are collected and answered together with one
``answer_many`` call (one forward pass) in a worker thread, so the event loop never blocks.
Each batch takes the serving answerer once, so a switch of version lands between batches and
every answer names the version that gave it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from index import Answer, Context, QuestionAnswerer, TaughtBank

log = logging.getLogger(__name__)


@dataclass
class _Request:
    question: str
    k: int
    previous: Context | None  # the earlier turn (a follow-up is read with it)
    future: asyncio.Future[Answer]
    asked: float = field(default_factory=time.perf_counter)


class AnswerService:
    def __init__(
        self,
        current: Callable[[], QuestionAnswerer],
        *,
        taught: Callable[[], TaughtBank] | None = None,
        max_batch: int = 64,
        on_answer: Callable[[bool, float], None] | None = None,
    ):
        self._current = current
        self._taught = taught  # the admins' answers in force now
        self._max_batch = max_batch
        self._on_answer = on_answer  # (answered, seconds from asking): the metrics
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="answer-batcher")

    async def answer(self, question: str, k: int = 5, *, previous: Context | None = None) -> Answer:
        """The answer to ``question`` (a follow-up read with ``previous``, the earlier answer's
        ``context``); raises what answering raised if it failed."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(question, k, previous, future))
        return await future

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            answerer = self._current()
            taught = self._taught() if self._taught is not None else None
            for k in sorted({r.k for r in batch}):
                same_k = [r for r in batch if r.k == k]
                await self._answer(answerer, taught, same_k, k)

    async def _answer(
        self,
        answerer: QuestionAnswerer,
        taught: TaughtBank | None,
        batch: list[_Request],
        k: int,
    ) -> None:
        try:
            answers = await asyncio.to_thread(
                answerer.answer_many,
                [r.question for r in batch],
                k,
                previous=[r.previous for r in batch],
                taught=taught,
            )
        except Exception as exc:  # every question of the batch is told; the service goes on
            log.exception("answering a batch of %d questions failed", len(batch))
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        done = time.perf_counter()
        for request, answer in zip(batch, answers, strict=True):
            if self._on_answer is not None:
                self._on_answer(answer.answered, done - request.asked)
            if not request.future.done():
                request.future.set_result(answer)
