"""Embedding model figures: conversion, folder size, load, single-query latency, batch throughput.

Targets on the 2-core machine (issue 2): single-query encode p50 <= 30 ms, model load <= 5 s.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

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
        timings = []
        for _ in range(QUERY_REPEATS):
            for question in questions:
                t0 = time.perf_counter()
                encoder.encode_queries([question])
                timings.append(time.perf_counter() - t0)
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
