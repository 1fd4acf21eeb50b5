"""The answering core behind an async, batching front.

Questions that arrive while the model is busy are collected and encoded together in one forward
pass, in a worker thread, so the event loop never blocks and one slow question does not stall
the others. The answerer can be swapped (a reload) between batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from bot.inflight import InFlightCounter
from index.answering.answerer import Answer, Answerer

log = logging.getLogger(__name__)


@dataclass
class _Request:
    question: str
    k: int
    future: asyncio.Future[Answer]
    received: float


class AnswerService:
    def __init__(self, answerer: Answerer, *, max_batch: int = 64):
        self._answerer = answerer
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.in_flight = InFlightCounter()
        self.batches = 0

    @property
    def answerer(self) -> Answerer:
        return self._answerer

    def swap(self, answerer: Answerer) -> None:
        """Serve later questions from ``answerer`` (batches in progress finish on the old one)."""
        self._answerer = answerer

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="answer-batcher")

    async def answer(self, question: str, k: int = 5) -> Answer:
        with self.in_flight.track():
            future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
            self._queue.put_nowait(_Request(question, k, future, time.perf_counter()))
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
            answerer = self._answerer
            try:
                answers = await asyncio.to_thread(_answer_batch, answerer, batch)
            except Exception as exc:
                log.exception("answering a batch of %d failed", len(batch))
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)
                continue
            self.batches += 1
            for request, answer in zip(batch, answers, strict=True):
                if not request.future.done():
                    request.future.set_result(answer)


def _answer_batch(answerer: Answerer, batch: list[_Request]) -> list[Answer]:
    """Check each question, encode the askable ones in one pass, then rank and extract."""
    checked = [answerer.check(r.question) for r in batch]
    askable = [i for i, (_, reason) in enumerate(checked) if reason is None]
    vectors = answerer.retriever.encoder.encode_queries([checked[i][0] for i in askable])
    answers: list[Answer | None] = [None] * len(batch)
    for row, i in enumerate(askable):
        retrieval = answerer.retriever.retrieve_encoded(checked[i][0], vectors[row], batch[i].k)
        answers[i] = answerer.answer_retrieved(batch[i].question, retrieval, batch[i].received)
    for i, (_, reason) in enumerate(checked):
        if reason is not None:
            answers[i] = answerer.refused(batch[i].question, reason, batch[i].received)
    return [a for a in answers if a is not None]
