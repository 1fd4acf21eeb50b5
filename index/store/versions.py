"""Index versions on disk: built beside the serving one, switched to atomically, kept for rollback.

    <data_dir>/index/
        CURRENT                      the serving version's id (replaced atomically)
        v20251124T101500-1a2b3c4d/   complete versions (manifest.json present)
        .building-<random>/          a build in progress; removed at the next start if abandoned
        .build.lock                  held (flock) by the one process building or switching

A failed build never touches CURRENT, so the previous version keeps serving. The lock is an OS
file lock, so a build killed with SIGKILL releases it and its staging folder is recognisably
abandoned.
"""

from __future__ import annotations

import calendar
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from index.errors import IndexCoreError, IndexNotReadyError, ReloadInProgressError
from index.ingest.chunking import Chunk
from index.ingest.documents import Document
from index.model.encoder import Encoder
from index.settings import CoreSettings
from index.store.vector_cache import VectorCache
from index.store.version_folder import (
    BuildProgress,
    IndexVersion,
    Manifest,
    build_version,
    corpus_hash,
    load_version,
    passages_per_document,
    read_manifest,
)

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
_BUILDING_PREFIX = ".building-"
_LOCK = ".build.lock"
VECTOR_CACHE = "vector-cache.sqlite3"
_CACHE_MARGIN_S = 600.0  # clocks and build times are not exact: keep ten minutes more


class VersionStore:
    """The versions under ``root`` and which one is current."""

    def __init__(self, root: Path, *, keep: int = 5):
        self.root = root
        self.keep = max(keep, 1)
        # Embeddings by content, shared by the versions: a build embeds only what is new.
        self.cache = VectorCache(root / VECTOR_CACHE)

    def current_id(self) -> str | None:
        try:
            value = (self.root / CURRENT).read_text("utf-8").strip()
        except FileNotFoundError:
            return None
        return value or None

    def versions(self) -> list[str]:
        """Complete versions, oldest first."""
        if not self.root.is_dir():
            return []
        found = [
            p.name for p in self.root.iterdir() if p.is_dir() and (p / "manifest.json").exists()
        ]
        return sorted(n for n in found if not n.startswith("."))

    def load_current(self, encoder: Encoder) -> IndexVersion:
        version_id = self.current_id()
        if version_id is None:
            raise IndexNotReadyError("no index has been built yet")
        return self.load(version_id, encoder)

    def load(self, version_id: str, encoder: Encoder) -> IndexVersion:
        if version_id not in self.versions():
            raise IndexNotReadyError(f"index version {version_id} is not on disk")
        return load_version(self.root / version_id, encoder)

    def manifest(self, version_id: str) -> Manifest:
        return read_manifest(self.root / version_id)

    def passages_per_document(self, version_id: str) -> dict[str, int]:
        """How many passages of each document the version holds."""
        return passages_per_document(self.root / version_id)

    def previous(self, version_id: str | None = None) -> str | None:
        """The newest complete version older than ``version_id`` (default: the current one)."""
        version_id = version_id or self.current_id()
        older = [v for v in self.versions() if version_id is None or v < version_id]
        return older[-1] if older else None

    @contextmanager
    def exclusive(self, wait_s: float = 0) -> Iterator[None]:
        """Held while building or switching; a second builder is told (after ``wait_s``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.root / _LOCK, thread_local=False)
        try:
            lock.acquire(timeout=wait_s)
        except Timeout as exc:
            raise ReloadInProgressError(
                "another reload or rollback is running; try again when it has finished"
            ) from exc
        try:
            yield
        finally:
            lock.release()

    def build(
        self,
        documents: Sequence[Document],
        chunks: Sequence[Chunk],
        encoder: Encoder,
        *,
        approximate_above: int,
        chunking: dict[str, int],
        progress: bool = True,
        on_progress: BuildProgress | None = None,
    ) -> str:
        """Build a new complete version (not yet current) and return its id."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f"{_BUILDING_PREFIX}{uuid.uuid4().hex[:12]}"
        staging.mkdir()
        try:
            build_version(
                staging,
                documents,
                chunks,
                encoder,
                approximate_above=approximate_above,
                chunking=chunking,
                progress=progress,
                on_progress=on_progress,
                cache=self.cache,
            )
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            version_id = f"v{stamp}-{corpus_hash(documents)[:8]}-{uuid.uuid4().hex[:4]}"
            staging.rename(self.root / version_id)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return version_id

    def set_current(self, version_id: str) -> None:
        """Point CURRENT at a complete version, atomically (write, fsync, rename)."""
        read_manifest(self.root / version_id)  # refuses a partial folder
        pointer = self.root / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
        with pointer.open("w", encoding="utf-8") as handle:
            handle.write(version_id + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        pointer.replace(self.root / CURRENT)
        self.prune()

    def prune(self) -> None:
        """Keep the newest ``keep`` versions; the current one is never removed."""
        current = self.current_id()
        versions = self.versions()
        excess = len(versions) - self.keep
        for version_id in [v for v in versions if v != current][: max(excess, 0)]:
            shutil.rmtree(self.root / version_id, ignore_errors=True)
        self._prune_cache()

    def _prune_cache(self) -> None:
        """Drop cached embeddings no kept version used: each build marks what it used, so
        everything marked since the oldest kept version's build began stays."""
        starts = []
        for version_id in self.versions():
            try:
                manifest = self.manifest(version_id)
                created = calendar.timegm(time.strptime(manifest.created_at, "%Y-%m-%dT%H:%M:%SZ"))
            except (IndexCoreError, ValueError):
                return  # cannot tell what a version used: keep everything
            starts.append(created - manifest.build_seconds - _CACHE_MARGIN_S)
        if starts:
            self.cache.prune(used_before=min(starts))

    def remove_abandoned_builds(self) -> None:
        """Remove staging folders of builds that died (e.g. SIGKILL); a live build keeps its."""
        if not self.root.is_dir():
            return
        try:
            with self.exclusive():
                for leftover in self.root.glob(f"{_BUILDING_PREFIX}*"):
                    log.warning("removing an abandoned index build: %s", leftover.name)
                    shutil.rmtree(leftover, ignore_errors=True)
        except ReloadInProgressError:
            log.info("a build is running in another process; leaving its staging folder")


def version_store(settings: CoreSettings) -> VersionStore:
    """The configured data folder's versions."""
    return VersionStore(settings.paths.data_dir / "index", keep=settings.index.keep_versions)
