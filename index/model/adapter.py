"""The project's trained adapter: a LoRA adapter (``python -m index train``) applied to the
converted base model, so questions as workers ask them land near the articles that answer them.

The repository ships the adapter (``index/model/adapter/``: a few MB of LoRA weights, their
PEFT config and ``manifest.json``, which names the base model, the training data's hash, the
seed and the dev figures). Provisioning merges it into a copy of the converted folder,
``<data dir>/models/<base>+<adapter hash>``, once, in a child process (torch stays out of a
serving process), written aside and renamed into place under a lock like the conversion. The
merged model's name carries the adapter's hash, so the vector cache and the index versions of
different models never mix. ``[embedding] adapter = "none"`` serves the base model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import shutil
import time
import uuid
from pathlib import Path

from filelock import FileLock

from index.errors import ModelError
from index.model.provisioning import MARKER as CONVERSION_MARKER
from index.model.provisioning import ResolvedModel, read_marker, resolve_model
from index.settings import CoreSettings

log = logging.getLogger(__name__)

BUNDLED_ADAPTER = Path(__file__).with_name("adapter")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
MANIFEST = "manifest.json"
MARKER = "adapter.json"
# Bump when the merge's output changes, so merged folders are made again.
MERGE_FORMAT_VERSION = 1
_OFF = ("", "none", "off")


def adapter_folder(setting: str) -> Path | None:
    """The adapter the ``[embedding] adapter`` setting names: ``"bundled"`` (the one the
    repository ships), a folder, or ``"none"`` (the base model)."""
    if setting.strip().lower() in _OFF:
        return None
    folder = BUNDLED_ADAPTER if setting == "bundled" else Path(setting).expanduser()
    missing = [name for name in ADAPTER_FILES if not (folder / name).is_file()]
    if missing:
        raise ModelError(
            f"embedding adapter {folder} lacks {', '.join(missing)}; set [embedding] adapter "
            'to "bundled", to a folder written by `python -m index train`, or to "none"'
        )
    return folder


def adapter_digest(folder: Path) -> str:
    """sha256 over the adapter's config and weights: its identity."""
    digest = hashlib.sha256()
    for name in ADAPTER_FILES:
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
    return digest.hexdigest()


def resolve_embedding_model(settings: CoreSettings) -> ResolvedModel:
    """The configured model's folder: the base model (converted on first use) with the
    configured adapter merged into it (on first use)."""
    base = resolve_model(settings.embedding.model, settings.paths.data_dir)
    folder = adapter_folder(settings.embedding.adapter)
    if folder is None:
        return base
    return apply_adapter(base, folder, settings.paths.data_dir)


def apply_adapter(base: ResolvedModel, adapter: Path, data_dir: Path) -> ResolvedModel:
    """``base`` with ``adapter`` merged into its weights, merged now if not yet."""
    digest = adapter_digest(adapter)
    tag = digest[:12]
    target = data_dir / "models" / f"{base.path.name}+{tag}"
    merged = ResolvedModel(f"{base.name}+adapter-{tag}", target, base.source, base.converted_now)
    base_id = _base_identity(base.path)
    if _is_current(target, digest, base_id):
        return merged
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock"), timeout=900):
        if _is_current(target, digest, base_id):
            return merged
        partial = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:12]}"
        try:
            started = time.perf_counter()
            log.info("merging adapter %s into %s (first use only)", adapter, base.path)
            _merge_in_child(base.path, adapter, partial)
            marker = {
                "format_version": MERGE_FORMAT_VERSION,
                "adapter_sha256": digest,
                "adapter": str(adapter),
                "base": base_id,
                "merged_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            (partial / MARKER).write_text(json.dumps(marker, indent=2) + "\n", "utf-8")
            if target.is_symlink():  # a deployment's link to a shared folder, now stale
                target.unlink()
            elif target.exists():
                shutil.rmtree(target)
            partial.rename(target)
            log.info("merged in %.1f s into %s", time.perf_counter() - started, target)
        finally:
            if partial.exists():
                shutil.rmtree(partial, ignore_errors=True)
    return merged


def _base_identity(folder: Path) -> str:
    """What the merge was made from: the converted model's source and converter version (so a
    data folder that links a shared conversion finds the shared merge current), else the
    folder itself."""
    marker = read_marker(folder / CONVERSION_MARKER)
    if "source_sha256" in marker and "format_version" in marker:
        return f"converted:{marker['source_sha256']}:{marker['format_version']}"
    return str(folder.resolve())


def _is_current(folder: Path, digest: str, base: str) -> bool:
    marker = read_marker(folder / MARKER)
    return (
        marker.get("format_version") == MERGE_FORMAT_VERSION
        and marker.get("adapter_sha256") == digest
        and marker.get("base") == base
        and (folder / "model.safetensors").is_file()
    )


def _merge_in_child(base: Path, adapter: Path, target: Path) -> None:
    """Merge in a separate process: torch and a second copy of the weights stay out of the
    process that serves."""
    child = multiprocessing.get_context("spawn").Process(
        target=merge, args=(base, adapter, target), name="adapter-merge"
    )
    child.start()
    child.join()
    if child.exitcode != 0 or not (target / "model.safetensors").is_file():
        raise ModelError(f"merging adapter {adapter} into {base} failed (exit {child.exitcode})")


def merge(base: Path, adapter: Path, target: Path) -> None:
    """Write ``base``'s folder to ``target`` with the LoRA ``adapter`` merged into its weights
    (PEFT's ``merge_and_unload``): the same architecture, so every backend loads it as is."""
    from peft import PeftModel
    from transformers import AutoModel

    shutil.copytree(base, target, ignore=shutil.ignore_patterns("model.safetensors", "*.json.lock"))
    (target / CONVERSION_MARKER).unlink(missing_ok=True)  # the base's marker, not this folder's
    model = AutoModel.from_pretrained(str(base), add_pooling_layer=False)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    merged.save_pretrained(str(target), safe_serialization=True)
