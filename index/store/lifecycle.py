"""The index's life cycle for a configured corpus: open the serving version (building one when
there is none), reload (build, validate, switch), roll back, and report pending changes."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from index.answering.answerer import AbstentionModel, Answerer
from index.answering.retrieval import HybridRetriever, RetrievalParams
from index.errors import IndexCoreError, IndexNotReadyError, ValidationError
from index.ingest.documents import Document, corpus_files, load_corpus
from index.model.encoder import Encoder
from index.settings import CoreSettings
from index.store.version_folder import IndexVersion, Manifest, Progress
from index.store.versions import VersionStore, build_from_documents, chunking_params

log = logging.getLogger(__name__)
_FIRST_BUILD_WAIT_S = 600.0


def version_store(settings: CoreSettings) -> VersionStore:
    return VersionStore(settings.paths.data_dir / "index", keep=settings.index.keep_versions)


def build_new_version(
    settings: CoreSettings,
    encoder: Encoder,
    *,
    documents: Sequence[Document] | None = None,
    progress: bool = True,
    on_progress: Progress | None = None,
) -> str:
    """Build a version from the configured corpus (or ``documents`` already read from it) with
    the configured chunking; not yet current."""
    if documents is None:
        documents = load_corpus(settings.paths.corpus_dir)
    return build_from_documents(
        version_store(settings),
        documents,
        encoder,
        max_chars=settings.index.max_chars,
        approximate_above=settings.index.approximate_above,
        progress=progress,
        on_progress=on_progress,
    )


def ensure_current(
    settings: CoreSettings, encoder: Encoder, *, progress: bool = True
) -> IndexVersion:
    """Load the serving version; build (and switch to) one only when none is usable.

    A corpus edited since the serving version was built is *not* rebuilt here: what workers
    see changes only through a reload (which validates) or a rollback, so a restart never
    undoes an admin's rollback. The change is logged and shown by /status and /docs.
    """
    store = version_store(settings)
    store.remove_abandoned_builds()
    version = _load_usable(store, encoder, settings.index.max_chars)
    if version is None:
        # Several instances may start at once on one data folder: one builds, the others wait
        # for it and then serve what it built.
        with store.exclusive(wait_s=_FIRST_BUILD_WAIT_S):
            version = _load_usable(store, encoder, settings.index.max_chars)
            if version is None:
                log.info("building the index from %s", settings.paths.corpus_dir)
                store.set_current(build_new_version(settings, encoder, progress=progress))
                version = store.load_current(encoder)
    elif corpus_changes(settings, version.manifest).pending:
        log.warning(
            "the corpus has changed since index %s was built; reload to serve the changes "
            "(python -m bot reload, or /reload in Telegram)",
            version.version_id,
        )
    return version


def _load_usable(store: VersionStore, encoder: Encoder, max_chars: int) -> IndexVersion | None:
    """The current version, else the newest older one that loads (then made current)."""
    current = store.current_id()
    candidates = ([current] if current else []) + [
        v for v in reversed(store.versions()) if v != current
    ]
    for version_id in candidates:
        try:
            version = store.load(version_id, encoder)
        except IndexCoreError as exc:
            log.warning("index %s is not usable: %s", version_id, exc)
            continue
        if version.manifest.chunking != chunking_params(max_chars):
            log.info("index %s was chunked differently; not serving it", version_id)
            continue
        if version_id != current:
            log.warning("serving the last good index %s instead of %s", version_id, current)
            store.set_current(version_id)
        return version
    return None


@dataclass(frozen=True)
class SwitchResult:
    """A reload or rollback that happened: which version serves now, and what it holds."""

    version_id: str
    previous_id: str | None
    documents: int
    chunks: int
    seconds: float
    checks: str = ""


def reload_corpus(
    settings: CoreSettings, encoder: Encoder, *, on_progress: Progress | None = None
) -> SwitchResult:
    """Build a version from the corpus folder, validate it, and make it current.

    Any failure (empty corpus, a damaged file, a check that does not pass) leaves the serving
    version as it was and removes what was built.
    """
    started = time.perf_counter()
    report = on_progress or (lambda _stage, _done, _total: None)
    store = version_store(settings)
    with store.exclusive():
        report("reading", 0, 1)
        documents = load_corpus(settings.paths.corpus_dir)
        version_id = build_new_version(
            settings, encoder, documents=documents, progress=False, on_progress=report
        )
        try:
            report("validating", 0, 1)
            checks = validate(settings, encoder, store, version_id)
        except IndexCoreError:
            shutil.rmtree(store.root / version_id, ignore_errors=True)
            raise
        previous = store.current_id()
        report("switching", 0, 1)
        store.set_current(version_id)
    manifest = store.manifest(version_id)
    return SwitchResult(
        version_id,
        previous,
        len(manifest.documents),
        manifest.chunk_count,
        round(time.perf_counter() - started, 2),
        checks,
    )


def validate(settings: CoreSettings, encoder: Encoder, store: VersionStore, version_id: str) -> str:
    """Refuse a version that is empty, built for another model or dimension, or that cannot
    answer: sample passages must find themselves, and a question made of one is answered."""
    version = store.load(version_id, encoder)  # checks model, dimension and part counts
    if version.manifest.chunk_count == 0:
        raise ValidationError(f"index {version_id} has no passages")
    answerer = make_answerer(settings, encoder, version)
    chunks = [c for c in version.chunks if c.kind == "paragraph"] or version.chunks
    step = max(len(chunks) // 5, 1)
    sample = chunks[::step][:5]
    found = 0
    answered = 0
    for chunk in sample:
        probe = max(chunk.sentences, key=len)
        answer = answerer.answer(probe, k=3)
        found += any(s.chunk_id == chunk.chunk_id for s in answer.sources)
        answered += answer.answered
    needed = (len(sample) + 1) // 2
    if found < needed or answered == 0:
        raise ValidationError(
            f"index {version_id} failed its self-check: {found}/{len(sample)} sample passages "
            f"were found by their own text and {answered} answered"
        )
    for question in settings.index.check_questions:
        if not answerer.answer(question).answered:
            raise ValidationError(
                f"index {version_id} does not answer the check question "
                f"{question!r} (set in [index] check_questions)"
            )
    checks = len(settings.index.check_questions)
    return f"{found}/{len(sample)} sample passages found, {answered} answered" + (
        f", {checks} check questions answered" if checks else ""
    )


def rollback(settings: CoreSettings, encoder: Encoder, target: str | None = None) -> SwitchResult:
    """Serve ``target`` (default: the version before the current one) after checking it loads."""
    started = time.perf_counter()
    store = version_store(settings)
    with store.exclusive():
        current = store.current_id()
        target = target or store.previous(current)
        if target is None:
            raise IndexNotReadyError(
                f"there is no earlier version to return to (kept: {', '.join(store.versions())})"
            )
        if target == current:
            raise IndexNotReadyError(f"{target} is already serving")
        version = store.load(target, encoder)
        store.set_current(target)
    return SwitchResult(
        target,
        current,
        len(version.manifest.documents),
        version.manifest.chunk_count,
        round(time.perf_counter() - started, 2),
    )


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


def corpus_changes(settings: CoreSettings, manifest: Manifest) -> CorpusChanges:
    """The corpus folder's files compared with what ``manifest``'s version was built from."""
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


def make_retriever(
    settings: CoreSettings, encoder: Encoder, version: IndexVersion
) -> HybridRetriever:
    params = RetrievalParams(
        lexical_weight=settings.retrieval.lexical_weight,
        quantity_penalty=settings.retrieval.quantity_penalty,
    )
    return HybridRetriever(version, encoder, params)


def make_answerer(settings: CoreSettings, encoder: Encoder, version: IndexVersion) -> Answerer:
    return Answerer(make_retriever(settings, encoder, version), AbstentionModel.load())


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
    chunks: int


@dataclass(frozen=True)
class ServingStatus:
    """What a version serves, and how the corpus folder differs from it."""

    version_id: str
    created_at: str
    build_seconds: float
    model: str
    chunks: int
    documents: list[DocumentStatus]
    kept: list[str]  # versions on disk, oldest first
    changes: CorpusChanges


def serving_status(settings: CoreSettings, version: IndexVersion) -> ServingStatus:
    manifest = version.manifest
    per_doc: dict[str, int] = {}
    for chunk in version.chunks:
        per_doc[chunk.doc_id] = per_doc.get(chunk.doc_id, 0) + 1
    return ServingStatus(
        version_id=version.version_id,
        created_at=manifest.created_at,
        build_seconds=manifest.build_seconds,
        model=manifest.model,
        chunks=manifest.chunk_count,
        documents=[
            DocumentStatus(d["doc_id"], d["title"], per_doc.get(d["doc_id"], 0))
            for d in manifest.documents
        ],
        kept=version_store(settings).versions(),
        changes=corpus_changes(settings, manifest),
    )
