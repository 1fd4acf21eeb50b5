"""What a version serves, and how the corpus folder differs from it (/status, /docs, and
``python -m bot status``): read from the version's files, not from a loaded index."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from index.ingest.documents import corpus_files
from index.settings import CoreSettings
from index.store.versions import version_store


@dataclass(frozen=True)
class CorpusFile:
    name: str
    size: int
    modified: float
    indexed: bool  # these exact bytes are in the serving version


@dataclass(frozen=True)
class CorpusChanges:
    files: list[CorpusFile]
    removed: list[str]  # in the serving version, no longer in the folder

    @property
    def pending(self) -> bool:
        return bool(self.removed) or not all(f.indexed for f in self.files)


def corpus_changes(settings: CoreSettings, version_id: str) -> CorpusChanges:
    """The corpus folder's files compared with what version ``version_id`` was built from."""
    manifest = version_store(settings).manifest(version_id)
    served = {d["doc_id"]: d["sha256"] for d in manifest.documents}
    files = [
        CorpusFile(
            path.name,
            stat.st_size,
            stat.st_mtime,
            served.get(path.name) == _sha256(path),
        )
        for path in corpus_files(settings.paths.corpus_dir)
        if (stat := _stat(path)) is not None
    ]
    present = {f.name for f in files}
    return CorpusChanges(files, [name for name in served if name not in present])


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:  # unreadable: shown as not served; a reload says why it cannot read it
        return None


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:  # a dangling link: listed by load_corpus's error instead
        return None


@dataclass(frozen=True)
class DocumentStatus:
    doc_id: str
    title: str
    passages: int


@dataclass(frozen=True)
class ServingStatus:
    """What a version serves, and how the corpus folder differs from it."""

    version_id: str
    created_at: str
    build_seconds: float
    model: str
    passages: int
    documents: list[DocumentStatus]
    kept: list[str]  # versions on disk, oldest first
    changes: CorpusChanges


def serving_status(settings: CoreSettings, version_id: str) -> ServingStatus:
    store = version_store(settings)
    manifest = store.manifest(version_id)
    per_doc = store.passages_per_document(version_id)
    return ServingStatus(
        version_id=version_id,
        created_at=manifest.created_at,
        build_seconds=manifest.build_seconds,
        model=manifest.model,
        passages=manifest.chunk_count,
        documents=[
            DocumentStatus(d["doc_id"], d["title"], per_doc.get(d["doc_id"], 0))
            for d in manifest.documents
        ],
        kept=store.versions(),
        changes=corpus_changes(settings, version_id),
    )
