"""Embeddings already computed, by content: a reload re-embeds only new or changed text.

One SQLite file beside the versions (``index/vector-cache.sqlite3``). A row is keyed by a hash of
the model, the role (passage or query) and the exact text the encoder saw, so a new model, a new
chunking or an edited sentence simply misses. Each vector carries a CRC32 of its bytes: a row
that does not check out (a damaged disk, a torn write) is re-embedded and replaced, never
served. A damaged file is moved aside and the cache starts empty.

Bounded: every build marks the rows it used; when versions are pruned, rows no kept version used
are deleted (:meth:`VectorCache.prune`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from index.model.encoder import Vectors

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    key BLOB PRIMARY KEY,
    vector BLOB NOT NULL,
    crc INTEGER NOT NULL,
    used_at REAL NOT NULL
)
"""
_LOOKUP_BATCH = 500  # keys per SELECT (SQLite's variable limit is far above)


class VectorCache:
    def __init__(self, path: Path):
        self.path = path
        self.hits = 0
        self.misses = 0

    def vectors(
        self,
        texts: Sequence[str],
        *,
        model: str,
        role: str,
        encode: Callable[[list[str]], Vectors],
        batch: int,
        on_batch: Callable[[int, int], None] = lambda _done, _total: None,
    ) -> Vectors:
        """The embedding of each text (normalised, float32, in order): cached ones read, the
        rest encoded ``batch`` at a time (``on_batch(done, total)`` after each) and stored."""
        keys = [_key(model, role, text) for text in texts]
        found = self._read(keys)
        missing = sorted({i for i, key in enumerate(keys) if key not in found})
        unique: dict[bytes, int] = {}
        for i in missing:
            unique.setdefault(keys[i], i)
        todo = list(unique.values())
        batches = [todo[i : i + batch] for i in range(0, len(todo), batch)]
        on_batch(0, len(batches))
        for done, rows in enumerate(batches, 1):
            encoded = np.asarray(encode([texts[i] for i in rows]), dtype=np.float32)
            for i, vector in zip(rows, encoded, strict=True):
                found[keys[i]] = vector
            self._write([(keys[i], v) for i, v in zip(rows, encoded, strict=True)])
            on_batch(done, len(batches))
        self.hits += len(texts) - len(missing)
        self.misses += len(todo)
        self._touch(keys)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.ascontiguousarray(np.vstack([found[key] for key in keys]), dtype=np.float32)

    def prune(self, used_before: float) -> int:
        """Delete rows no build has used since ``used_before`` (epoch seconds)."""
        with self._connect() as db:
            if db is None:
                return 0
            removed = db.execute("DELETE FROM vectors WHERE used_at < ?", (used_before,)).rowcount
        if removed:
            log.info("vector cache: %d embeddings no kept version uses were removed", removed)
        return int(removed)

    def __len__(self) -> int:
        with self._connect() as db:
            if db is None:
                return 0
            return int(db.execute("SELECT count(*) FROM vectors").fetchone()[0])

    # --- storage -------------------------------------------------------------------------------

    def _read(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        damaged = 0
        with self._connect() as db:
            if db is None:
                return found
            unique = list(dict.fromkeys(keys))
            for start in range(0, len(unique), _LOOKUP_BATCH):
                part = unique[start : start + _LOOKUP_BATCH]
                marks = ",".join("?" * len(part))
                query = f"SELECT key, vector, crc FROM vectors WHERE key IN ({marks})"
                for key, blob, crc in db.execute(query, part):
                    if zlib.crc32(blob) != crc or len(blob) % 4:
                        damaged += 1
                        continue
                    found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
        if damaged:
            log.warning("vector cache: %d damaged embeddings are computed again", damaged)
        dims = {v.shape[0] for v in found.values()}
        if len(dims) > 1:  # cannot happen for one model; refuse to mix rather than guess
            log.warning("vector cache: embeddings of different sizes; computing all again")
            return {}
        return found

    def _write(self, rows: Sequence[tuple[bytes, np.ndarray]]) -> None:
        now = time.time()
        with self._connect() as db:
            if db is None:
                return
            db.executemany(
                "INSERT OR REPLACE INTO vectors (key, vector, crc, used_at) VALUES (?, ?, ?, ?)",
                [(k, v.tobytes(), zlib.crc32(v.tobytes()), now) for k, v in rows],
            )

    def _touch(self, keys: Sequence[bytes]) -> None:
        now = time.time()
        with self._connect() as db:
            if db is None:
                return
            db.executemany(
                "UPDATE vectors SET used_at = ? WHERE key = ?",
                [(now, k) for k in dict.fromkeys(keys)],
            )

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection | None]:
        """A connection in one transaction, or None when the cache cannot be used (the build
        then embeds everything, as without a cache)."""
        db = self._open()
        if db is None:
            yield None
            return
        try:
            with db:
                yield db
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            self._set_aside(exc)
        finally:
            db.close()

    def _open(self) -> sqlite3.Connection | None:
        for _attempt in range(2):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=30)
                try:
                    with db:
                        db.execute(_SCHEMA)
                except sqlite3.DatabaseError:
                    db.close()
                    raise
                return db
            except sqlite3.DatabaseError as exc:
                if not _damaged(exc):
                    log.warning("vector cache unavailable (%r); embedding without it", exc)
                    return None
                self._set_aside(exc)  # then try once more with a new, empty file
            except OSError as exc:
                log.warning("vector cache unavailable (%r); embedding without it", exc)
                return None
        return None

    def _set_aside(self, error: BaseException) -> None:
        damaged = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
        log.error("vector cache %s is damaged (%r); moved to %s", self.path, error, damaged.name)
        with contextlib.suppress(OSError):
            self.path.replace(damaged)


def _damaged(error: sqlite3.DatabaseError) -> bool:
    text = str(error)
    return "malformed" in text or "not a database" in text


def _key(model: str, role: str, text: str) -> bytes:
    return hashlib.blake2b(f"{model}\x1f{role}\x1f{text}".encode(), digest_size=16).digest()
