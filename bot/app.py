"""The composition root: the only place that builds settings, the encoder, the index and the
answerer. Everything else receives what it needs."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from bot.settings import Settings
from index.answering.answerer import Answerer
from index.model.encoder import SentenceTransformerEncoder, load_encoder
from index.store.lifecycle import ensure_current, make_answerer
from index.store.version_folder import IndexVersion

log = logging.getLogger(__name__)


@dataclass
class Core:
    settings: Settings
    encoder: SentenceTransformerEncoder
    version: IndexVersion
    answerer: Answerer


def configure_logging(level: int = logging.WARNING) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=False
    )
    logging.getLogger().setLevel(level)
    for noisy in ("bm25s", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # pypdf warns about each flaw it works around; a file it cannot read raises, and that is
    # reported to the admin as a DocumentError.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def build_core(settings: Settings | None = None, *, progress: bool = True) -> Core:
    """Load settings and model, build the index on first run (or when the corpus changed)."""
    settings = settings or Settings.load()
    encoder = load_encoder(settings)
    version = ensure_current(settings, encoder, progress=progress)
    answerer = make_answerer(settings, encoder, version)
    log.info("serving index %s (%d passages)", version.version_id, version.manifest.chunk_count)
    return Core(settings, encoder, version, answerer)
