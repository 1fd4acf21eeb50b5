"""Search at a million passages, with synthetic data (the corpus is far from that size).

Dense side: 1,000,000 unit vectors of 384 dimensions (the model's size) with the structure of
sentence embeddings: a few intrinsic dimensions (24), topics (5,000 centres in them), a fixed
random map into 384 dimensions, a little noise, normalised; 300 queries drawn the same way. (Pure
random 384-dimensional vectors have no neighbourhoods: every distance is alike and every
approximate index looks bad, which real passages never do.) Each
FAISS index is measured against exact search (``IndexFlatIP``) on the same queries: recall@10
(the share of the exact ten nearest it returns), single-query latency p50/p99, build time. The
index type the project builds above ``[index] approximate_above`` passages is the one marked
"<- used".

Lexical side: 1,000,000 synthetic documents of 40 words drawn from a Zipf distribution over a
vocabulary of 200,000 words, indexed by bm25s as the project indexes passages; a query of 5 words
is scored over every document and its best 100 taken, by ``HybridRetriever``'s own code.

``SCALE_N`` (default 1000000) sets the size. Target (issue 12): search <= 10 ms at 1M passages.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.stats import percentile_ms

N = int(os.environ.get("SCALE_N", "1000000"))
DIM = 384
CENTRES = 5_000
INTRINSIC = 24
QUERIES = 300
K = 10
CANDIDATES = 100  # HybridRetriever's candidates from each side


def run() -> None:
    import faiss

    rng = np.random.default_rng(12)
    centres = rng.standard_normal((CENTRES, INTRINSIC)).astype(np.float32)
    lift = rng.standard_normal((INTRINSIC, DIM)).astype(np.float32)
    started = time.perf_counter()
    vectors = _around(centres, lift, rng.integers(0, CENTRES, N), rng)
    queries = _around(centres, lift, rng.integers(0, CENTRES, QUERIES), rng)
    print(f"{N:,} synthetic vectors ({vectors.nbytes / 1e9:.1f} GB) in {_since(started)}")

    exact = faiss.IndexFlatIP(DIM)
    exact.add(vectors)
    _, truth = exact.search(queries, K)
    rows = [("exact (IndexFlatIP)", 0.0, exact, None)]

    started = time.perf_counter()
    hnsw = _hnsw_as_built(vectors)
    rows.append(("HNSW M=32 (as built by the project)", time.perf_counter() - started, hnsw, None))
    started = time.perf_counter()
    ivf = _ivf(vectors, rng)
    rows.append(("IVF4096,Flat", time.perf_counter() - started, ivf, None))

    print(f"{'index':38s} {'setting':14s} {'build':>8s} {'recall@10':>9s} {'p50':>8s} {'p99':>8s}")
    for name, build_s, index, _ in rows:
        settings: list[tuple[str, Callable[[], None]]] = [("-", lambda: None)]
        if isinstance(index, faiss.IndexHNSWFlat):
            settings = [
                (f"efSearch={ef}", _setter(index.hnsw, "efSearch", ef)) for ef in (32, 64, 128, 256)
            ]
        elif isinstance(index, faiss.IndexIVFFlat):
            settings = [(f"nprobe={p}", _setter(index, "nprobe", p)) for p in (8, 16, 32, 64)]
        for label, apply in settings:
            apply()
            recall, latencies = _measure(index, queries, truth)
            used = "  <- used" if name.startswith("HNSW") and label == "efSearch=128" else ""
            print(
                f"{name:38s} {label:14s} {build_s:7.0f}s {recall:9.3f} "
                f"{percentile_ms(latencies, 50):6.2f}ms "
                f"{percentile_ms(latencies, 99):6.2f}ms{used}",
                flush=True,
            )
    del exact, hnsw, ivf, vectors
    _lexical(rng)
    print("target: search <= 10 ms at 1M passages (dense and lexical each)")


def _hnsw_as_built(vectors: np.ndarray) -> Any:
    """The approximate index exactly as ``index.store.version_folder`` builds it."""
    from index.store.version_folder import _dense_index

    return _dense_index(vectors, approximate_above=0)


def _ivf(vectors: np.ndarray, rng: np.random.Generator) -> Any:
    import faiss

    quantizer = faiss.IndexFlatIP(DIM)
    index = faiss.IndexIVFFlat(quantizer, DIM, 4096, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors[rng.choice(len(vectors), min(len(vectors), 160_000), replace=False)])
    index.add(vectors)
    return index


def _measure(index: Any, queries: np.ndarray, truth: np.ndarray) -> tuple[float, list[float]]:
    found, latencies = 0, []
    for row, query in enumerate(queries):
        started = time.perf_counter()
        _, ids = index.search(query[None, :], K)
        latencies.append(time.perf_counter() - started)
        found += len(set(ids[0].tolist()) & set(truth[row].tolist()))
    return found / truth.size, latencies


def _lexical(rng: np.random.Generator) -> None:
    import bm25s

    from index.answering.retrieval import top_indices

    vocabulary = 200_000
    started = time.perf_counter()
    words = (rng.zipf(1.2, size=(N, 40)) % vocabulary).astype(np.int32)
    index = bm25s.BM25()
    # Word ids and their vocabulary (bm25s's own form for a tokenised corpus): 40 million
    # word strings would take minutes and gigabytes before the index is even built.
    index.index((words.tolist(), {f"w{i}": i for i in range(vocabulary)}), show_progress=False)
    del words
    print(f"BM25 over {N:,} documents of 40 words: indexed in {_since(started)}")
    latencies = []
    for _ in range(QUERIES):
        query = [f"w{w}" for w in (rng.zipf(1.2, size=5) % vocabulary)]
        query = [w for w in query if w in index.vocab_dict] or ["w1"]
        started = time.perf_counter()
        scores = np.asarray(index.get_scores(query))
        best = top_indices(scores, CANDIDATES)
        latencies.append(time.perf_counter() - started)
        assert len(best) == CANDIDATES
    print(
        f"BM25 scores + best {CANDIDATES}, 5-word query: "
        f"p50 {percentile_ms(latencies, 50):.2f} ms, p99 {percentile_ms(latencies, 99):.2f} ms"
    )


def _around(
    centres: np.ndarray, lift: np.ndarray, which: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Passages of the ``which`` topics: near their centre in the intrinsic space, lifted."""
    out = np.empty((len(which), DIM), dtype=np.float32)
    for start in range(0, len(which), 100_000):  # in slices: the noise alone would be 1.5 GB
        part = which[start : start + 100_000]
        inner = centres[part] + 0.5 * rng.standard_normal((len(part), INTRINSIC), dtype=np.float32)
        noise = 0.5 * rng.standard_normal((len(part), DIM), dtype=np.float32)
        out[start : start + len(part)] = _unit(inner @ lift + noise)
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def _setter(target: Any, attribute: str, value: int) -> Callable[[], None]:
    return lambda: setattr(target, attribute, value)


def _since(started: float) -> str:
    return f"{time.perf_counter() - started:.0f} s"
