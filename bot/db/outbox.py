"""Writes kept on local disk while the database cannot take them, written to it, in order and
once, when it can.

When the database is down or stalled, the recorder stops holding writes in memory (where a
crash would lose them, so an update could not count as done and polling stalled behind it) and
appends them here instead: one JSON line each, fsynced before the write counts as done. An
update whose writes and handled-mark are in the outbox is finished: its offset can be
confirmed, and a redelivered copy is recognised (:attr:`Outbox.handled`), across restarts too.

The replay writes the entries in batches, each in one transaction with the outbox's progress
(``outbox_progress``: this outbox's id and the last sequence number written), so a replay cut
short by a crash starts after the last batch that committed: nothing is written twice or
skipped. When everything is written, the file is removed (then its progress row).

Only writes of a kind listed in :data:`WRITES` can be kept: each is rebuilt from its record.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from bot.db.repository import QuestionRecord, Repository

log = logging.getLogger(__name__)

Record = dict[str, Any]


def _question(repo: Repository, r: Record) -> Awaitable[Any]:
    return repo.record_question(
        QuestionRecord(**{**r, "asked_at": datetime.fromisoformat(r["asked_at"])})
    )


# Each kind of write that can wait on disk, rebuilt from its record (JSON).
WRITES: dict[str, Callable[[Repository, Record], Awaitable[Any]]] = {
    "question": _question,
    "reply_failed": lambda repo, r: repo.mark_reply_failed(r["question_id"]),
    "vote": lambda repo, r: repo.record_vote(r["question_id"], r["user_id"], r["vote"]),
    "comment": lambda repo, r: repo.record_comment(r["question_id"], r["user_id"], r["comment"]),
    "forget_user": lambda repo, r: repo.forget_user(r["user_id"]),
    "handled": lambda repo, r: repo.mark_handled(r["bot_id"], r["update_id"]),
    "admin_event": lambda repo, r: repo.record_admin_event(
        r["user_id"], r["action"], allowed=r["allowed"], detail=r["detail"]
    ),
    "switch": lambda repo, r: repo.record_switch(r["version_id"], r["action"], r["actor"]),
}


def as_record(value: object) -> Record:
    """A write's record as JSON can hold it (a dataclass or a dict; datetimes as ISO text)."""
    row = asdict(value) if hasattr(value, "__dataclass_fields__") else dict(value)  # type: ignore[call-overload]
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


@dataclass(frozen=True)
class Entry:
    seq: int
    kind: str
    record: Record


class Outbox:
    """A file (``writes.jsonl``): a header line with this outbox's id, then one line per write.

    Instances may share a data folder: each claims a slot of its own (``outbox/<n>/``, held by
    a file lock while the process lives), adopting the slot, and the writes, of one that
    stopped or died.
    """

    def __init__(self, path: Path, lock: FileLock | None = None):
        self.path = path
        self.lock = lock
        self.id = str(uuid.uuid4())
        self.entries: list[Entry] = []
        self.handled: set[tuple[int, int]] = set()  # (bot id, update id) kept here
        self._read()

    @classmethod
    def claim(cls, folder: Path) -> Outbox:
        """The first slot of ``folder`` no running process holds (a new one if all are)."""
        folder.mkdir(parents=True, exist_ok=True)
        for slot in itertools.count():
            lock = FileLock(folder / f"{slot}.lock")
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            return cls(folder / str(slot) / "writes.jsonl", lock)
        raise AssertionError("unreachable")

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def last_seq(self) -> int:
        return self.entries[-1].seq if self.entries else 0

    def append(self, writes: Sequence[tuple[str, Record]]) -> list[Entry]:
        """Append and fsync (blocking: call it in a thread); the entries, once on disk."""
        seq = self.last_seq
        added = [Entry(seq + i + 1, kind, record) for i, (kind, record) in enumerate(writes)]
        lines = []
        if not self.path.exists():
            lines.append(json.dumps({"outbox": self.id}))
        lines += [
            json.dumps({"seq": e.seq, "kind": e.kind, "record": e.record}, ensure_ascii=False)
            for e in added
        ]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())
        self.entries += added
        self.handled.update(_handled_key(e) for e in added if e.kind == "handled")
        return added

    async def replay(self, repository: Repository, *, batch: int = 200) -> tuple[int, int]:
        """Write what the database does not have yet, in order, a batch per transaction (with
        the progress); returns how many entries were written and the last one's number. Raises
        when the database fails (the caller retries later); a write it refuses for good is
        skipped and logged."""
        from bot.db.recorder import is_permanent

        applied = await repository.outbox_applied(self.id)
        waiting = [e for e in self.entries if e.seq > applied]
        written = 0
        for start in range(0, len(waiting), batch):
            chunk = waiting[start : start + batch]
            try:
                async with repository.batch():
                    for entry in chunk:
                        await WRITES[entry.kind](repository, entry.record)
                    await repository.set_outbox_applied(self.id, chunk[-1].seq)
            except Exception as exc:
                if not is_permanent(exc):
                    raise
                await self._one_by_one(repository, chunk)
            written += len(chunk)
        return written, waiting[-1].seq if waiting else applied

    async def _one_by_one(self, repository: Repository, chunk: Sequence[Entry]) -> None:
        from bot.db.recorder import is_permanent

        for entry in chunk:
            try:
                async with repository.batch():
                    await WRITES[entry.kind](repository, entry.record)
                    await repository.set_outbox_applied(self.id, entry.seq)
            except Exception as exc:
                if not is_permanent(exc):
                    raise
                log.error("outbox entry %d (%s) refused by the database: %s; skipped",
                          entry.seq, entry.kind, type(exc).__name__)  # fmt: skip
                await repository.set_outbox_applied(self.id, entry.seq)

    def retire(self) -> str:
        """Everything is written: remove the file and start a new outbox; the old id (whose
        progress row may now go)."""
        old = self.id
        self.path.unlink(missing_ok=True)
        self.id, self.entries, self.handled = str(uuid.uuid4()), [], set()
        return old

    def _read(self) -> None:
        if not self.path.is_file():
            return
        lines = self.path.read_text("utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines):
            try:
                data = json.loads(line)
            except ValueError:  # the last line, cut short by a crash: never confirmed
                log.warning("outbox %s: line %d unreadable, skipped", self.path, number + 1)
                continue
            if number == 0 and isinstance(data, dict) and "outbox" in data:
                self.id = str(data["outbox"])
            elif isinstance(data, dict) and data.get("kind") in WRITES:
                self.entries.append(Entry(int(data["seq"]), data["kind"], data["record"]))
        self.handled = {_handled_key(e) for e in self.entries if e.kind == "handled"}
        if self.entries:
            log.warning("outbox %s: %d writes kept from before, to be written to the database",
                        self.path, len(self.entries))  # fmt: skip


def _handled_key(entry: Entry) -> tuple[int, int]:
    return int(entry.record["bot_id"]), int(entry.record["update_id"])
