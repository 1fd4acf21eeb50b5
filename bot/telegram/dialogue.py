"""What a chat asked last, so a follow-up ("那试用期工资呢？") is read with it.

Kept in the conversation state store (Redis when configured, so every instance sees it) under a
key of its own (``destiny="dialogue"``: the 👎 comment prompt's state is not touched), for
``[telegram] dialogue_minutes``. The store may be away: reading then finds nothing (the question
is read on its own) and writing is skipped with a log line — answering never waits for it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, replace

from aiogram.fsm.context import FSMContext

from bot.telegram.state import StateUnavailableError
from index import Context

log = logging.getLogger(__name__)
DESTINY = "dialogue"


@dataclass(frozen=True)
class Turn:
    question: str  # as the worker asked it (shown when a follow-up is read with it)
    context: Context  # what a follow-up is read with (what was searched, what answered)


class DialogueMemory:
    def __init__(self, minutes: float):
        self.seconds = minutes * 60

    async def recall(self, state: FSMContext) -> Turn | None:
        """The chat's last answered question, if it was asked recently enough."""
        data = await _dialogue(state).get_data()
        try:
            if time.time() - float(data["at"]) <= self.seconds:
                documents = tuple(str(d) for d in data.get("documents", ()))
                return Turn(str(data["question"]), Context(str(data["searched"]), documents))
        except (KeyError, TypeError, ValueError):
            pass  # nothing kept, or kept by an older version
        return None

    async def remember(self, state: FSMContext, question: str, context: Context) -> None:
        data = {
            "question": question[:300],
            "searched": context.searched[:300],
            "documents": list(context.documents),
            "at": time.time(),
        }
        try:
            await _dialogue(state).set_data(data)
        except StateUnavailableError as exc:
            log.info("the dialogue context is not kept (the state store is away): %s", exc)

    async def forget(self, state: FSMContext) -> None:
        with contextlib.suppress(StateUnavailableError):
            await _dialogue(state).set_data({})


def _dialogue(state: FSMContext) -> FSMContext:
    return FSMContext(storage=state.storage, key=replace(state.key, destiny=DESTINY))
