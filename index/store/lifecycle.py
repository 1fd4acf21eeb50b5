"""The index's life cycle for a configured corpus: open the serving version (building one when
there is none), build and validate a new version, switch to one, roll back.

What serves is recorded in ``CURRENT`` (see ``versions.py``); switching it is one step,
:func:`switch_current`, which faces call after everything else about the switch has succeeded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from index.errors import IndexCoreError, IndexFormatError, IndexNotReadyError
from index.ingest.chunking import CHUNKER_VERSION, chunk_documents
from index.ingest.documents import Document, load_corpus
from index.model.encoder import Encoder
from index.settings import CoreSettings
from index.store.status import corpus_changes
from index.store.validation import validate
from index.store.version_folder import BuildProgress, IndexVersion
from index.store.versions import VersionStore, version_store

log = logging.getLogger(__name__)
_FIRST_BUILD_WAIT_S = 600.0
_SWITCH_WAIT_S = 30.0  # a switch waits this long for another process's build or switch


def chunking_params(max_chars: int) -> dict[str, int]:
    return {"chunker_version": CHUNKER_VERSION, "max_chars": max_chars}


def build_from_documents(
    store: VersionStore,
    documents: Sequence[Document],
    encoder: Encoder,
    *,
    max_chars: int,
    approximate_above: int,
    progress: bool = True,
    on_progress: BuildProgress | None = None,
) -> str:
    """Chunk and index already-read documents into a new version (not yet current)."""
    chunks = chunk_documents(
        documents,
        max_chars=max_chars,
        max_tokens=encoder.max_tokens,
        count_tokens=encoder.count_tokens,
    )
    if not chunks:
        raise IndexFormatError("the corpus produced no passages")
    return store.build(
        documents,
        chunks,
        encoder,
        approximate_above=approximate_above,
        chunking=chunking_params(max_chars),
        progress=progress,
        on_progress=on_progress,
    )


def build_new_version(
    settings: CoreSettings,
    encoder: Encoder,
    *,
    documents: Sequence[Document] | None = None,
    progress: bool = True,
    on_progress: BuildProgress | None = None,
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


def open_serving(
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
    elif corpus_changes(settings, version.version_id).pending:
        log.warning(
            "the corpus has changed since index %s was built; reload to serve the changes "
            "(python -m bot reload, or /reload in Telegram)",
            version.version_id,
        )
    return version


def open_corpus(
    settings: CoreSettings, encoder: Encoder, corpus: Path, *, store: str = "other-corpora"
) -> IndexVersion:
    """The serving version of the configured corpus, or for another folder (or another
    ``store`` than the served one, such as training's) a version built in a store of its own
    under the data folder (kept, so a second run does not rebuild it). The configured model
    and vector cache are shared; what serves is never touched."""
    if corpus.resolve() == settings.paths.corpus_dir.resolve() and store == "other-corpora":
        return open_serving(settings, encoder)
    name = hashlib.sha1(str(corpus.resolve()).encode()).hexdigest()[:10]
    other = settings.model_copy(
        update={
            "paths": settings.paths.model_copy(
                update={"corpus_dir": corpus, "data_dir": settings.paths.data_dir / store / name}
            )
        }
    )
    return open_serving(other, encoder)


def current_version_id(settings: CoreSettings) -> str:
    """The version ``CURRENT`` names (IndexNotReadyError when none has been built)."""
    current = version_store(settings).current_id()
    if current is None:
        raise IndexNotReadyError("no index has been built yet")
    return current


def open_version(settings: CoreSettings, encoder: Encoder, version_id: str) -> IndexVersion:
    """Load a kept version (checked for model, dimension and agreeing parts)."""
    return version_store(settings).load(version_id, encoder)


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
    """A version built (and validated) or switched to, and what it holds. ``previous_id`` is
    the version serving before it (when it was built, for a version not yet switched to)."""

    version_id: str
    previous_id: str | None
    documents: int
    passages: int
    seconds: float
    checks: str = ""


def build_validated(
    settings: CoreSettings, encoder: Encoder, *, on_progress: BuildProgress | None = None
) -> SwitchResult:
    """Build a version from the corpus folder and validate it, without serving it.

    Any failure (empty corpus, a damaged file, a check that does not pass) removes what was
    built; the serving version is never touched here.
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
    manifest = store.manifest(version_id)
    return SwitchResult(
        version_id,
        store.current_id(),
        len(manifest.documents),
        manifest.chunk_count,
        round(time.perf_counter() - started, 2),
        checks,
    )


def reload_corpus(
    settings: CoreSettings, encoder: Encoder, *, on_progress: BuildProgress | None = None
) -> SwitchResult:
    """Build and validate a version from the corpus folder, then make it current."""
    built = build_validated(settings, encoder, on_progress=on_progress)
    if on_progress is not None:
        on_progress("switching", 0, 1)
    previous = switch_current(settings, built.version_id)
    return SwitchResult(
        built.version_id, previous, built.documents, built.passages, built.seconds, built.checks
    )


def plan_rollback(settings: CoreSettings, target: str | None = None) -> SwitchResult:
    """Where a rollback goes: ``target``, or the version before the current one (not yet
    switched to; loading it is the caller's check)."""
    store = version_store(settings)
    current = store.current_id()
    target = target or store.previous(current)
    if target is None:
        raise IndexNotReadyError(
            f"there is no earlier version to return to (kept: {', '.join(store.versions())})"
        )
    if target == current:
        raise IndexNotReadyError(f"{target} is already serving")
    if target not in store.versions():
        raise IndexNotReadyError(f"index version {target} is not on disk")
    manifest = store.manifest(target)
    return SwitchResult(target, current, len(manifest.documents), manifest.chunk_count, 0.0)


def rollback(settings: CoreSettings, encoder: Encoder, target: str | None = None) -> SwitchResult:
    """Serve ``target`` (default: the version before the current one) after checking it loads."""
    started = time.perf_counter()
    plan = plan_rollback(settings, target)
    version_store(settings).load(plan.version_id, encoder)
    previous = switch_current(settings, plan.version_id)
    return dataclasses.replace(
        plan, previous_id=previous, seconds=round(time.perf_counter() - started, 2)
    )


def switch_current(settings: CoreSettings, version_id: str) -> str | None:
    """Make ``version_id`` the one ``CURRENT`` names (one process at a time); returns the
    version it replaced."""
    store = version_store(settings)
    with store.exclusive(wait_s=_SWITCH_WAIT_S):
        previous = store.current_id()
        store.set_current(version_id)
    return previous
