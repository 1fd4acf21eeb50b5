"""The ``Encoder`` seam: texts to L2-normalised vectors, with query and passage roles.

The real implementation runs a sentence-transformers model. Role prefixes (E5's ``query: `` and
``passage: ``) come from the model's own prompts, applied here and nowhere else.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from index.errors import ModelError
from index.model.provisioning import ResolvedModel
from index.settings import CoreSettings

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Encoder(Protocol):
    """Embeds questions and passages into one space; rows are unit vectors (float32)."""

    @property
    def model_name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def encode_queries(self, texts: Sequence[str]) -> Vectors: ...

    def encode_passages(self, texts: Sequence[str]) -> Vectors: ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text`` as a passage, prompt and special tokens included."""
        ...


class SentenceTransformerEncoder:
    """An :class:`Encoder` backed by a local sentence-transformers model folder."""

    def __init__(
        self,
        model: ResolvedModel,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        threads: int = 0,
    ):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # this project never downloads models
        started = time.perf_counter()
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            self._model = SentenceTransformer(str(model.path), device=device, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot load embedding model from {model.path}: {exc}") from exc
        self._name = model.name
        self._path = model.path
        self._batch_size = batch_size
        prompts: dict[str, str] = {k: v for k, v in (self._model.prompts or {}).items() if v}
        self._query_prompt = "query" if prompts.get("query") else None
        self._passage_prompt = next(
            (name for name in ("passage", "document") if prompts.get(name)), None
        )
        self._passage_prefix = prompts.get(self._passage_prompt or "", "")
        # sentence-transformers 6 renamed the method (the old name warns); 5.x has only the old.
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        if not dim:
            raise ModelError(f"model at {model.path} does not declare an embedding dimension")
        self._dim = int(dim)
        self.load_seconds = time.perf_counter() - started
        log.info("loaded %s from %s in %.2f s", model.name, model.path, self.load_seconds)

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def path(self) -> Path:
        return self._path

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return int(self._model.max_seq_length or 512)

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, self._query_prompt)

    def encode_passages(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, self._passage_prompt)

    def count_tokens(self, text: str) -> int:
        tokenizer: Any = self._model.tokenizer
        ids = tokenizer(self._passage_prefix + text, add_special_tokens=True)["input_ids"]
        return len(ids)

    def _encode(self, texts: Sequence[str], prompt_name: str | None) -> Vectors:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            prompt_name=prompt_name,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def load_encoder(settings: CoreSettings, *, threads: int | None = None) -> Encoder:
    """Resolve the configured model (converting the bundled one and merging the adapter on
    first use) and load it, with ``threads`` CPU threads (default: ``[embedding] threads``):
    the ONNX export by default (exported on first use), or sentence-transformers on torch
    (``backend = "torch"``, or a model whose pooling the export does not cover)."""
    from index.model.adapter import resolve_embedding_model

    resolved = resolve_embedding_model(settings)
    threads = settings.embedding.threads if threads is None else threads
    backend = settings.embedding.backend
    if backend in ("onnx", "onnx-int8"):
        from index.model.onnx_encoder import OnnxEncoder, onnx_supported, provision_onnx

        if onnx_supported(resolved.path):
            folder = provision_onnx(resolved, settings.paths.data_dir)
            return OnnxEncoder(resolved, folder, backend=backend, threads=threads)
        log.info("%s: pooling not covered by the ONNX export; using torch", resolved.name)
    return SentenceTransformerEncoder(
        resolved,
        device=settings.embedding.device,
        batch_size=settings.embedding.batch_size,
        threads=threads,
    )
