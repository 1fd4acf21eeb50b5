"""Answering core figures: index build (cold and warm), ask latency, peak memory.

Built from the shipped corpus (the report and the eleven laws), asked every question of eval/.
Targets on the 2-core machine: ask p50 <= 30 ms, p99 <= 80 ms (issue 10); peak RSS <= 1.5 GB.
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.stats import percentile_ms, provision_model_in_child
from tests.support import LAW_QUESTIONS, REPO, question_set

ROUNDS = 3


def run() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-answering-") as tmp:
        data_dir = Path(tmp)
        provision_model_in_child(data_dir)
        from bot.settings import Settings
        from index import load_encoder, open_answerer
        from index.store.lifecycle import build_new_version, version_store

        settings = Settings(paths={"data_dir": data_dir, "corpus_dir": REPO / "corpus"})
        store = version_store(settings)
        started = time.perf_counter()
        encoder = load_encoder(settings)
        version_id = build_new_version(settings, encoder, progress=False)
        print(f"index build, cold (model load + build): {time.perf_counter() - started:.2f} s")
        started = time.perf_counter()
        build_new_version(settings, encoder, progress=False)
        print(f"index build, warm (model loaded): {time.perf_counter() - started:.2f} s")
        store.set_current(version_id)
        answerer = open_answerer(settings, encoder, store.load_current(encoder))

        questions = [str(q["question"]) for q in question_set()] + [
            json.loads(line)["question"] for line in LAW_QUESTIONS.read_text("utf-8").splitlines()
        ]
        answerer.answer(questions[0])  # warm-up
        latencies = []
        for _ in range(ROUNDS):
            for question in questions:
                t0 = time.perf_counter()
                answerer.answer(question)
                latencies.append(time.perf_counter() - t0)
        print(
            f"ask latency over {len(latencies)} questions: "
            f"p50 {percentile_ms(latencies, 50):.1f} ms, p99 {percentile_ms(latencies, 99):.1f} ms"
            "  [targets p50 <= 30 ms, p99 <= 80 ms]"
        )
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS, process holding model and index: {peak_mb:.0f} MB  [target <= 1536 MB]")
