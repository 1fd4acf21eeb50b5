"""Embedding model figures: conversion, folder size, load, single-query latency, batch throughput,
for torch and for the ONNX exports (float32, int8), with their cosine to the torch model.

Targets on the 2-core machine: single-query encode p50 <= 30 ms, model load <= 5 s (issue 2);
the int8 export close to the float model (issue 12).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.stats import dir_size_mb, percentile_ms
from tests.support import question_set, report_paragraphs

QUERY_REPEATS = 5
BATCH_ROUNDS = 4


def run() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-encoder-") as tmp:
        started = time.perf_counter()
        from index.model.provisioning import BUNDLED_MODEL, ResolvedModel, provision_bundled

        folder, _ = provision_bundled(Path(tmp))
        print(f"conversion (cold, into an empty data dir): {time.perf_counter() - started:.2f} s")
        print(f"converted folder size: {dir_size_mb(folder):.0f} MB")

        started = time.perf_counter()
        import sentence_transformers  # noqa: F401  (the import is part of a cold start)

        print(f"import sentence_transformers: {time.perf_counter() - started:.2f} s")
        from index.model.encoder import SentenceTransformerEncoder

        started = time.perf_counter()
        encoder = SentenceTransformerEncoder(ResolvedModel(BUNDLED_MODEL, folder, "bundled"))
        load = time.perf_counter() - started
        print(f"model load (SentenceTransformer on the folder): {load:.2f} s  [target <= 5 s]")

        questions = [str(q["question"]) for q in question_set()]
        encoder.encode_queries(questions[:5])  # warm-up: first call allocates
        timings = _single_queries(encoder, questions)
        print(
            f"single-query encode over {len(timings)} calls: "
            f"p50 {percentile_ms(timings, 50):.1f} ms, p99 {percentile_ms(timings, 99):.1f} ms"
            "  [target p50 <= 30 ms]"
        )

        passages = report_paragraphs()
        t0 = time.perf_counter()
        for _ in range(BATCH_ROUNDS):
            encoder.encode_passages(passages)
        elapsed = time.perf_counter() - t0
        count = BATCH_ROUNDS * len(passages)
        print(
            f"passages in batches of {encoder._batch_size}: {count / elapsed:.1f} passages/s "
            f"({count} report paragraphs, mean {sum(map(len, passages)) / len(passages):.0f} chars)"
        )
        _onnx(Path(tmp), ResolvedModel(BUNDLED_MODEL, folder, "bundled"), encoder, questions)


def _onnx(data_dir: Path, model: Any, reference: Any, questions: list[str]) -> None:
    from index.model.onnx_encoder import (
        FILES,
        WEIGHTS_SUFFIX,
        WORD_TABLE,
        OnnxEncoder,
        provision_onnx,
    )

    started = time.perf_counter()
    folder = provision_onnx(model, data_dir)
    print(f"ONNX export and int8 quantisation (first use): {time.perf_counter() - started:.1f} s")
    passages = report_paragraphs()
    expected_q = reference.encode_queries(questions)
    expected_p = reference.encode_passages(passages)
    for backend in ("onnx", "onnx-int8"):
        started = time.perf_counter()
        encoder = OnnxEncoder(model, folder, backend=backend)
        load = time.perf_counter() - started
        graph = folder / FILES[backend]
        weights = graph.stat().st_size + graph.with_name(graph.name + WEIGHTS_SUFFIX).stat().st_size
        timings = _single_queries(encoder, questions)
        t0 = time.perf_counter()
        encoder.encode_passages(passages)
        rate = len(passages) / (time.perf_counter() - t0)
        cos_q = (encoder.encode_queries(questions) * expected_q).sum(axis=1)
        cos_p = (encoder.encode_passages(passages) * expected_p).sum(axis=1)
        print(
            f"{backend}: graph {weights / 1e6:.0f} MB + word table "
            f"{(folder / WORD_TABLE).stat().st_size / 1e6:.0f} MB, load {load:.2f} s, "
            "single query p50 "
            f"{percentile_ms(timings, 50):.1f} ms, p99 {percentile_ms(timings, 99):.1f} ms, "
            f"{rate:.1f} passages/s; cosine to torch: questions min {cos_q.min():.4f} median "
            f"{np.median(cos_q):.4f}, passages min {cos_p.min():.4f} median {np.median(cos_p):.4f}"
        )


def _single_queries(encoder: Any, questions: list[str]) -> list[float]:
    """Seconds per question encoded alone, every question ``QUERY_REPEATS`` times."""
    timings = []
    for _ in range(QUERY_REPEATS):
        for question in questions:
            t0 = time.perf_counter()
            encoder.encode_queries([question])
            timings.append(time.perf_counter() - t0)
    return timings
