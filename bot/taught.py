"""The answers admins taught, as every instance serves them: read from the database, encoded
into a :class:`index.TaughtBank`, and followed (an answer taught, edited or withdrawn on any
instance is served by all within ``[admin] version_poll_s``; no reload).

Also what ``/unanswered`` shows: the questions the bot refused, grouped by meaning.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime

from bot.db import models
from bot.db.repository import Repository
from index import Encoder, TaughtAnswer, TaughtBank, group_by_meaning

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnansweredGroup:
    """Questions that ask the same thing: the most asked wording first."""

    question_id: str  # of the first wording's latest asking (a button names it)
    wordings: tuple[str, ...]
    count: int  # times asked, all wordings


class TaughtAnswers:
    def __init__(self, repository: Repository, encoder: Encoder):
        self._repository = repository
        self._encoder = encoder
        self.bank = TaughtBank.empty()
        self._signature: tuple[int, int] | None = None
        self._refreshing = asyncio.Lock()

    async def refresh(self) -> None:
        """Load the taught answers again if any changed (raises what the database raised)."""
        async with self._refreshing:
            signature = await self._repository.taught_signature()
            if signature == self._signature:
                return
            rows = await self._repository.taught_answers()
            answers = [as_taught(row) for row in rows]
            self.bank = await asyncio.to_thread(TaughtBank.build, answers, self._encoder)
            self._signature = signature
            log.info(
                "serving %d taught answers (%d questions)", len(answers), len(self.bank.owners)
            )

    async def follow(self, interval_s: float, *, after: Awaitable[object] | None = None) -> None:
        """Refresh every ``interval_s`` (once ``after``, the schema migration, is done)."""
        if after is not None:
            await after
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # the database is away: serve what is loaded
                log.warning("cannot read the taught answers: %r", exc)
            await asyncio.sleep(interval_s)

    async def unanswered_groups(self, since: datetime, *, top: int = 10) -> list[UnansweredGroup]:
        """The questions refused since ``since``, grouped by meaning, most asked first; those a
        taught answer now answers are left out."""
        questions = await self._repository.unanswered(since)
        by_text: dict[str, list[models.Question]] = {}
        for question in questions:
            by_text.setdefault(" ".join(question.text.split()), []).append(question)
        texts = list(by_text)
        if not texts:
            return []
        vectors = await asyncio.to_thread(self._encoder.encode_queries, texts)
        bank = self.bank
        open_rows = [i for i in range(len(texts)) if bank.match(vectors[i]) is None]
        groups = group_by_meaning(vectors[open_rows], [len(by_text[texts[i]]) for i in open_rows])
        found = []
        for group in groups[:top]:
            rows = [open_rows[i] for i in group]
            head = by_text[texts[rows[0]]]
            found.append(
                UnansweredGroup(
                    question_id=head[-1].id,
                    wordings=tuple(texts[i] for i in rows),
                    count=sum(len(by_text[texts[i]]) for i in rows),
                )
            )
        return found


def as_taught(row: models.TaughtAnswer) -> TaughtAnswer:
    return TaughtAnswer(
        answer_id=row.id,
        questions=tuple(row.questions),
        answer=row.answer,
        taught_on=row.updated_at.date(),
        revision=row.revision,
    )
