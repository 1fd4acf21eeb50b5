"""Open the serving index for a configured corpus: build it when missing or out of date."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from index.answer import AbstentionModel, Answerer
from index.documents import Document, load_corpus
from index.encoder import Encoder
from index.index_store import IndexVersion
from index.retrieval import HybridRetriever, RetrievalParams
from index.settings import CoreSettings
from index.versions import VersionStore, build_from_documents, current_is_up_to_date

log = logging.getLogger(__name__)


def version_store(settings: CoreSettings) -> VersionStore:
    return VersionStore(settings.paths.data_dir / "index", keep=settings.index.keep_versions)


def build_new_version(
    settings: CoreSettings,
    encoder: Encoder,
    *,
    documents: Sequence[Document] | None = None,
    progress: bool = True,
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
    )


def ensure_current(
    settings: CoreSettings, encoder: Encoder, *, progress: bool = True
) -> IndexVersion:
    """Load the serving version; build (and switch to) a new one if none matches the corpus."""
    store = version_store(settings)
    store.remove_abandoned_builds()
    documents = load_corpus(settings.paths.corpus_dir)  # read once: compared, then maybe built
    if not current_is_up_to_date(store, documents, encoder, settings.index.max_chars):
        log.info("building the index from %s", settings.paths.corpus_dir)
        version_id = build_new_version(settings, encoder, documents=documents, progress=progress)
        store.set_current(version_id)
    return store.load_current(encoder)


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
