"""Adding and removing corpus documents without losing anything.

A document is checked in full (type, damage, text) before it is stored; it is written to a
temporary name and renamed, so the corpus folder never holds half a file. A replaced or removed
document is moved to a trash folder with a time stamp, never deleted.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath

from index.errors import DocumentError
from index.ingest.documents import Document, corpus_files, parse_document
from index.ingest.formats import extract

MAX_NAME_CHARS = 120
MAX_NAME_BYTES = 180  # in UTF-8, leaving room under the usual 255 for temporary/trash names
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


@dataclass(frozen=True)
class StoredDocument:
    name: str
    title: str
    paragraphs: int
    chars: int
    table_rows: int
    replaced: bool  # a document of the same name was moved to the trash
    unchanged: bool  # the same bytes were already stored


def safe_name(name: str) -> str:
    """A file name that stays inside the corpus folder and is readable in a listing."""
    base = PurePath(unicodedata.normalize("NFC", name).replace("\\", "/")).name
    base = _UNSAFE.sub("_", base).strip(" ._")
    stem, suffix = os.path.splitext(base)
    if not stem:
        raise DocumentError(f"{name!r} is not a usable file name", code="bad_name")
    suffix = suffix.lower()
    short = stem[: MAX_NAME_CHARS - len(suffix)]
    # File systems count bytes (255 at most, a CJK character takes 3), and the temporary and
    # trash names add a prefix or suffix of their own: shorten on a character boundary.
    while short and len((short + suffix).encode()) > MAX_NAME_BYTES:
        short = short[:-1]
    stem = short if short == stem else short.rstrip(" ._")
    if not stem:
        raise DocumentError(f"{name!r} is not a usable file name", code="bad_name")
    return stem + suffix


def check_document(name: str, data: bytes) -> tuple[Document, int]:
    """Parse ``data`` exactly as a reload will (read once); DocumentError says why it is refused."""
    extracted = extract(name, data)  # checks the name's type first
    document = parse_document(name, extracted.text, hashlib.sha256(data).hexdigest())
    return document, extracted.table_rows


def store_document(corpus_dir: Path, trash_dir: Path, name: str, data: bytes) -> StoredDocument:
    """Check and store a document in the corpus folder (replacing one of the same name)."""
    name = safe_name(name)
    document, table_rows = check_document(name, data)
    target = corpus_dir / name
    unchanged = target.is_file() and target.read_bytes() == data
    replaced = target.exists() and not unchanged
    if not unchanged:
        with _storage_errors(f"store {name}"):
            _write(corpus_dir, trash_dir, target, data, replace=replaced)
    return StoredDocument(
        name=name,
        title=document.title,
        paragraphs=len(document.paragraphs),
        chars=sum(len(p.text) for p in document.paragraphs),
        table_rows=table_rows,
        replaced=replaced,
        unchanged=unchanged,
    )


def _write(corpus_dir: Path, trash_dir: Path, target: Path, data: bytes, *, replace: bool) -> None:
    corpus_dir.mkdir(parents=True, exist_ok=True)
    partial = corpus_dir / f".{target.name}.{uuid.uuid4().hex[:8]}.part"
    try:
        with partial.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            _to_trash(target, trash_dir)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def find_document(corpus_dir: Path, wanted: str) -> Path:
    """A corpus file by exact name or by its number in the listing (1-based)."""
    files = corpus_files(corpus_dir)
    wanted = wanted.strip()
    if wanted.isdigit() and 1 <= int(wanted) <= len(files):
        return files[int(wanted) - 1]
    for path in files:
        if path.name == wanted or path.name == unicodedata.normalize("NFC", wanted):
            return path
    raise DocumentError(
        f"there is no document {wanted!r} in the corpus", code="not_found", name=wanted
    )


def remove_document(corpus_dir: Path, trash_dir: Path, wanted: str) -> str:
    """Move a corpus document to the trash; returns its name."""
    path = find_document(corpus_dir, wanted)
    with _storage_errors(f"remove {path.name}"):
        _to_trash(path, trash_dir)
    return path.name


@contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    """A full disk or a read-only folder, said as a refusal rather than a crash."""
    try:
        yield
    except OSError as exc:
        reason = str(exc.strerror or exc)
        raise DocumentError(f"cannot {action}: {reason}", code="storage", reason=reason) from exc


def _to_trash(path: Path, trash_dir: Path) -> Path:
    trash_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = trash_dir / f"{stamp}-{uuid.uuid4().hex[:4]}-{path.name}"
    shutil.move(str(path), target)
    return target
