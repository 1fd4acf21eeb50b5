"""Domain errors of the retrieval core; their messages are written to be shown to a person."""

from __future__ import annotations


class IndexCoreError(Exception):
    """Base class: anything the core reports to its caller as a clear, expected failure."""


class ModelError(IndexCoreError):
    """The embedding model cannot be provided."""


class ModelNotFoundError(ModelError):
    """A model name that is neither a local folder, nor cached, nor convertible from a package."""


class BundledModelMissingError(ModelError):
    """The package that ships the default model's weights is not installed."""


class ModelFileError(ModelError):
    """A model weights file is not in the expected format (wrong magic, version or truncated)."""


class DataDirError(IndexCoreError):
    """The data directory cannot be written (read-only, full, or not a directory)."""


class CorpusError(IndexCoreError):
    """The corpus cannot be read: empty folder, unreadable or non-UTF-8 file, no text."""


class DocumentError(CorpusError):
    """A document file is refused: wrong type for its name, damaged, undecodable or empty.

    ``code`` and ``details`` say the same as the message in a form an interface can translate
    (e.g. code "mismatch" with details actual="pdf", declared="docx").
    """

    def __init__(self, message: str, *, code: str = "other", **details: str) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


class IndexNotReadyError(IndexCoreError):
    """No index version has been built yet, or it does not match the encoder."""


class IndexFormatError(IndexCoreError):
    """An index version folder is partial, mismatched or corrupt."""


class ReloadInProgressError(IndexCoreError):
    """Another process (or task) is building or switching index versions right now."""


class ValidationError(IndexCoreError):
    """A newly built version failed its checks; it is not served."""
