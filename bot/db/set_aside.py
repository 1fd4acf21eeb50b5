"""Writes the database would not take, kept in a JSON-lines file for an admin to look at.

A write is set aside when the database refuses it for good (a value it cannot store), when the
queue of writes waiting for the database is full, or when the process stops before the
database came back. Each line: when, why, what it was, the error, and the full row (JSON
escapes anything, NUL and lone surrogates included), so nothing is lost.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Fields that hold what people wrote; logs show their length only.
_PERSONAL = frozenset({"text", "answer_text", "comment", "detail", "section"})


def as_row(record: object) -> dict[str, Any]:
    """A dataclass or mapping as a plain dict (what is written and logged)."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return dataclasses.asdict(record)
    return dict(record) if isinstance(record, dict) else {"value": repr(record)}


def redacted(row: dict[str, Any]) -> dict[str, Any]:
    """The row for a log line: what people wrote replaced by its length."""
    return {
        key: f"<{len(value)} chars>" if key in _PERSONAL and isinstance(value, str) else value
        for key, value in row.items()
    }


class SetAsideFile:
    def __init__(self, path: Path):
        self.path = path
        self.count = 0

    def put(self, what: str, why: str, row: dict[str, Any], error: str | None = None) -> None:
        line = {
            "at": datetime.now(UTC).isoformat(),
            "what": what,
            "why": why,
            "error": error,
            "row": row,
        }
        self.count += 1
        try:
            text = json.dumps(line, default=str)
        except (ValueError, RecursionError):  # a circular or too deeply nested row
            text = json.dumps({**line, "row": {"repr": repr(row)[:100_000]}})
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(text + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            log.error("cannot write %s to %s (%r): it is lost", what, self.path, exc)

    def rows(self) -> list[dict[str, Any]]:
        """Everything set aside so far (for admins and tests)."""
        if not self.path.is_file():
            return []
        rows = []
        for line in self.path.read_text("utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                continue  # a line cut short by a crash: the others still count
            if isinstance(row, dict):
                rows.append(row)
        return rows
