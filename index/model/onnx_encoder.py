"""The fast encoder: a sentence-transformers folder exported to ONNX, run by ONNX Runtime with
the model's own tokenizer (no torch at serving time), in float32 (``backend = "onnx"``, the
same vectors as torch) or quantised to int8 (``"onnx-int8"``).

The export (``torch.onnx.export``, opset 17, the transformer plus the folder's mean pooling and
normalisation in one graph) and the dynamic int8 quantisation (``onnxruntime.quantization``,
per channel) run once, offline, from the converted folder into ``<data dir>/models/<folder>-onnx``;
a marker names the source folder's weights (sha256) and this exporter's version, so a changed
model is exported again. Written into a temporary sibling and renamed into place under a file
lock, like the conversion. Folders whose pooling is not mean + normalise keep the torch path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import time
import uuid
import warnings
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import ModelError
from index.model.encoder import Vectors
from index.model.provisioning import ResolvedModel, read_marker

log = logging.getLogger(__name__)

# 2: weights quantised per channel; 3: the word-embedding table outside the graph; 4: the float
# graph's operators fused
EXPORT_FORMAT_VERSION = 4
FILES = {"onnx": "model_float.onnx", "onnx-int8": "model_int8.onnx"}
# The graph starts from the tokens' word vectors: the 250,000-row word-embedding table (384 of
# the model's 470 MB) is a flat float32 file beside it, of which a text's few rows are read with
# pread. The table never sits in the serving process's memory, not even as mapped pages (a
# memory-mapped table grew the process by ~300 MB of page cache as questions touched rows).
WORD_TABLE = "word_embeddings.f32"
# The rest of each graph's weights sit in "<graph>.data", which ONNX Runtime memory-maps instead
# of copying out of the graph file (measured: 57 MB less at load).
WEIGHTS_SUFFIX = ".data"
MARKER = "export.json"
_COPIED = ("tokenizer.json", "config_sentence_transformers.json", "sentence_bert_config.json")


def onnx_supported(folder: Path) -> bool:
    """Whether the folder's pipeline is what the exported graph computes: a transformer, mean
    pooling, normalisation (multilingual-e5 and most sentence-transformers models)."""
    try:
        modules = json.loads((folder / "modules.json").read_text("utf-8"))
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    return (
        kinds == ["Transformer", "Pooling", "Normalize"]
        and bool(pooling.get("pooling_mode_mean_tokens"))
        and not any(
            pooling.get(k)
            for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_lasttoken")
        )
        and (folder / "tokenizer.json").is_file()
    )


def provision_onnx(model: ResolvedModel, data_dir: Path) -> Path:
    """The exported int8 folder for ``model`` (exported now if missing or stale)."""
    from filelock import FileLock

    digest = _weights_digest(model.path)
    target = data_dir / "models" / f"{model.path.name}-onnx"
    if _is_current(target, digest):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock"), timeout=900):
        if _is_current(target, digest):
            return target
        partial = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:12]}"
        partial.mkdir()
        try:
            started = time.perf_counter()
            log.info("exporting %s to ONNX (first use only)", model.path)
            _export_in_child(model.path, partial)
            for name in _COPIED:
                if (model.path / name).is_file():
                    shutil.copy(model.path / name, partial / name)
            marker = {
                "format_version": EXPORT_FORMAT_VERSION,
                "source": str(model.path),
                "source_sha256": digest,
                "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "seconds": round(time.perf_counter() - started, 1),
            }
            (partial / MARKER).write_text(json.dumps(marker, indent=2) + "\n", "utf-8")
            if target.exists():
                shutil.rmtree(target)
            partial.rename(target)
            log.info("exported in %.1f s into %s", marker["seconds"], target)
        finally:
            if partial.exists():
                shutil.rmtree(partial, ignore_errors=True)
    return target


def _export_in_child(source: Path, target: Path) -> None:
    """Export in a separate process: torch, the float graph and the quantiser peak at ~3 GB,
    which a serving process must not keep (nor need torch at all)."""
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=_export, args=(source, target), name="onnx-export")
    child.start()
    child.join()
    if child.exitcode != 0 or not (target / FILES["onnx-int8"]).is_file():
        raise ModelError(f"exporting {source} to ONNX failed (exit code {child.exitcode})")


def _export(source: Path, target: Path) -> None:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    transformer = AutoModel.from_pretrained(
        str(source), attn_implementation="eager", add_pooling_layer=False
    )

    class Embed(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, word_vectors: Any, attention_mask: Any) -> Any:
            # Position ids follow from the vectors as from the ids for unpadded input (each
            # text runs alone; see OnnxEncoder._encode).
            hidden = self.inner(inputs_embeds=word_vectors, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    graph = Embed(transformer).eval()  # eval: no dropout in the exported graph
    table = transformer.get_input_embeddings().weight.detach().numpy()
    np.ascontiguousarray(table, dtype="<f4").tofile(target / WORD_TABLE)
    ids = torch.tensor([[0, 6, 2], [0, 6, 2]])
    example = transformer.get_input_embeddings()(ids).detach(), torch.tensor([[1, 1, 1], [1, 1, 1]])
    float_file = target / FILES["onnx"]
    # The TorchScript exporter, on purpose: torch 2.9+'s default (torch.export-based) one needs
    # onnxscript and more; this graph has no control flow, which the old exporter traces well.
    with torch.no_grad(), warnings.catch_warnings():
        # Its notes on tracing (a length check traced as the constant it is for an encoder) and
        # on indexing (never negative here) are not errors; parity is checked in the tests.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            example,
            str(float_file),
            input_names=["word_vectors", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "word_vectors": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    # Per channel: measured on 80 law questions, cosine to the float model median 0.997 (0.990
    # per tensor), at the same size and speed.
    quantize_dynamic(
        str(float_file),
        str(target / FILES["onnx-int8"]),
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
    _fuse(float_file, int(transformer.config.num_attention_heads), transformer.config.hidden_size)
    for name in FILES.values():
        _weights_beside(target / name)


def _fuse(graph_file: Path, heads: int, hidden: int) -> None:
    """Rewrite the float graph with each layer's attention, bias + GELU and residual + layer norm
    as single ONNX Runtime CPU operators (``onnxruntime.transformers.optimizer``, the fusions it
    knows for BERT-like encoders; ONNX Runtime's own load-time optimisation does not find them
    in this export). Measured on 187 questions, interleaved with the unfused graph in one process:
    p50 8.5 against 9.1 ms; the vectors the same (cosine ≥ 0.999999). The int8 graph is
    quantised from the unfused one, as before. A model whose graph the optimiser cannot fuse
    keeps the unfused graph."""
    from onnxruntime.transformers.optimizer import optimize_model

    try:
        fused = optimize_model(
            str(graph_file), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0
        )
    except Exception:  # the optimiser is a best effort; the unfused graph is correct
        log.warning("could not fuse %s; keeping the unfused graph", graph_file, exc_info=True)
        return
    log.info("fused operators: %s", fused.get_fused_operator_statistics())
    fused.save_model_to_file(str(graph_file))


def _weights_beside(graph_file: Path) -> None:
    """Rewrite ``graph_file`` with its weights in ``<name>.data`` (memory-mapped when loaded)."""
    import onnx

    graph = onnx.load(str(graph_file))
    weights = graph_file.with_name(graph_file.name + WEIGHTS_SUFFIX)
    weights.unlink(missing_ok=True)  # onnx appends to an existing file
    onnx.save_model(
        graph,
        str(graph_file),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=weights.name,
        size_threshold=1024,
    )


def _is_current(folder: Path, digest: str) -> bool:
    marker = read_marker(folder / MARKER)
    return (
        marker.get("format_version") == EXPORT_FORMAT_VERSION
        and marker.get("source_sha256") == digest
        and all((folder / name).is_file() for name in FILES.values())
        and (folder / WORD_TABLE).is_file()
        and all((folder / (name + WEIGHTS_SUFFIX)).is_file() for name in FILES.values())
        and (folder / "tokenizer.json").is_file()
    )


def _weights_digest(folder: Path) -> str:
    """sha256 of the folder's weights and config (what the export depends on)."""
    digest = hashlib.sha256()
    for name in ("model.safetensors", "pytorch_model.bin", "config.json", "tokenizer.json"):
        path = folder / name
        if path.is_file():
            digest.update(name.encode())
            with path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
    return digest.hexdigest()


class OnnxEncoder:
    """An :class:`~index.model.encoder.Encoder` running the exported graph (float32 or int8)."""

    def __init__(
        self, model: ResolvedModel, folder: Path, *, backend: str = "onnx", threads: int = 0
    ):
        started = time.perf_counter()
        import onnxruntime
        from tokenizers import Tokenizer

        try:
            st_config = json.loads((folder / "sentence_bert_config.json").read_text("utf-8"))
            prompts = json.loads(
                (folder / "config_sentence_transformers.json").read_text("utf-8")
            ).get("prompts", {})
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"cannot read the exported model's settings in {folder}: {exc}"
            ) from exc
        self._max_tokens = int(st_config.get("max_seq_length") or 512)
        self._query_prefix = str(prompts.get("query") or "")
        self._passage_prefix = str(prompts.get("passage") or prompts.get("document") or "")
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.no_truncation()  # counts every token, as the chunker needs; see _token_ids
        self._tokenizer = tokenizer
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(folder / FILES[backend]), options, providers=["CPUExecutionProvider"]
        )
        self._row_bytes = 4 * int(self._session.get_inputs()[0].shape[2])
        self._table = os.open(folder / WORD_TABLE, os.O_RDONLY)
        weakref.finalize(self, os.close, self._table)
        # The export's version is part of the name: vectors of another export never mix in.
        # float32 gives the torch model's vectors (cosine 1.0000): the same name, so indexes and
        # cached vectors are shared. int8 differs: its own name (with the export's version).
        self._name = (
            model.name if backend == "onnx" else f"{model.name}+{backend}/v{EXPORT_FORMAT_VERSION}"
        )
        self._dim = int(self._run("dimension").shape[0])
        self.path = folder
        self.load_seconds = time.perf_counter() - started
        log.info("loaded %s from %s in %.2f s", self._name, folder, self.load_seconds)

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode([self._query_prefix + t for t in texts])

    def encode_passages(self, texts: Sequence[str]) -> Vectors:
        return self._encode([self._passage_prefix + t for t in texts])

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(self._passage_prefix + text).ids)

    def _token_ids(self, text: str) -> list[int]:
        """The ids the model reads: cut to ``max_tokens`` as a truncating tokenizer cuts them
        (the text's first tokens, then the end-of-text token). One untruncated tokenizer
        serves both this and counting: each takes ~280 MB and 0.8 s to load."""
        ids: list[int] = self._tokenizer.encode(text).ids
        if len(ids) > self._max_tokens:
            ids = ids[: self._max_tokens - 1] + ids[-1:]
        return ids

    def _encode(self, texts: list[str]) -> Vectors:
        """One text per run: dynamic int8 quantisation scales activations over the whole batch,
        so a text's vector would depend on its batch-mates; alone it is always the same (and,
        measured here, batching is no faster on the CPU). Never padded, so the graph's position
        ids (derived from the word vectors' count) are those of the token ids."""
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._run(text)
        return out

    def _run(self, text: str) -> Vectors:
        ids = self._token_ids(text)
        size = self._row_bytes
        rows = b"".join(os.pread(self._table, size, i * size) for i in ids)
        if len(rows) != size * len(ids):
            raise ModelError(f"{self.path / WORD_TABLE} is shorter than the vocabulary")
        word_vectors = np.frombuffer(rows, dtype="<f4").reshape(1, len(ids), -1)
        mask = np.ones((1, len(ids)), dtype=np.int64)
        (vectors,) = self._session.run(None, {"word_vectors": word_vectors, "attention_mask": mask})
        return np.ascontiguousarray(vectors[0], dtype=np.float32)
