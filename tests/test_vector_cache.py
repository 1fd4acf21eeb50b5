"""The vector cache: a build embeds only text it has not seen; damage is recomputed, never
served; rows no kept version uses are pruned."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from index.ingest.documents import load_corpus
from index.store.lifecycle import build_from_documents
from index.store.vector_cache import VectorCache
from index.store.versions import VersionStore
from tests.fakes import CharBigramEncoder


class CountingEncoder:
    """Deterministic 8-dim vectors from the text; counts what it was asked to encode."""

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.encoded += texts
        rows = []
        for text in texts:
            seed = sum(ord(c) * (i + 1) for i, c in enumerate(text)) % 2**32
            vector = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
            rows.append(vector / np.linalg.norm(vector))
        return np.vstack(rows)


def _vectors(cache: VectorCache, texts: list[str], encoder: CountingEncoder, model: str = "m"):  # type: ignore[no-untyped-def]
    return cache.vectors(texts, model=model, role="passage", encode=encoder, batch=2)


@pytest.fixture
def cache(tmp_path: Path) -> VectorCache:
    return VectorCache(tmp_path / "index" / "vector-cache.sqlite3")


def test_only_new_or_changed_text_is_embedded(cache: VectorCache) -> None:
    encoder = CountingEncoder()
    first = _vectors(cache, ["劳动合同", "试用期", "劳动合同"], encoder)
    assert encoder.encoded == ["劳动合同", "试用期"]  # a repeated text is embedded once
    again = _vectors(cache, ["劳动合同", "试用期", "加班费"], encoder)
    assert encoder.encoded == ["劳动合同", "试用期", "加班费"]
    np.testing.assert_array_equal(again[:2], first[:2])
    np.testing.assert_array_equal(again, CountingEncoder()(["劳动合同", "试用期", "加班费"]))
    _vectors(cache, ["劳动合同"], encoder, model="another-model")  # another model misses
    assert encoder.encoded[-1] == "劳动合同"


def test_a_damaged_row_is_embedded_again_not_served(cache: VectorCache) -> None:
    encoder = CountingEncoder()
    good = _vectors(cache, ["工伤认定"], encoder)
    with sqlite3.connect(cache.path) as db:
        db.execute("UPDATE vectors SET vector = ?", (np.ones(8, np.float32).tobytes(),))
    again = _vectors(cache, ["工伤认定"], encoder)
    assert encoder.encoded == ["工伤认定", "工伤认定"]
    np.testing.assert_array_equal(again, good)


def test_a_damaged_file_is_moved_aside_and_the_cache_starts_empty(cache: VectorCache) -> None:
    encoder = CountingEncoder()
    _vectors(cache, ["年休假"], encoder)
    cache.path.write_bytes(b"this is not a database" * 100)
    result = _vectors(cache, ["年休假"], encoder)
    assert encoder.encoded == ["年休假", "年休假"]
    np.testing.assert_array_equal(result, CountingEncoder()(["年休假"]))
    assert len(cache) == 1
    assert list(cache.path.parent.glob("vector-cache.sqlite3.damaged-*"))


def test_rows_no_build_used_since_are_pruned(cache: VectorCache) -> None:
    encoder = CountingEncoder()
    _vectors(cache, ["旧文本"], encoder)
    cutoff = time.time() + 0.01
    time.sleep(0.02)
    _vectors(cache, ["新文本"], encoder)
    assert cache.prune(used_before=cutoff) == 1
    assert len(cache) == 1
    _vectors(cache, ["新文本", "旧文本"], encoder)
    assert encoder.encoded == ["旧文本", "新文本", "旧文本"]


class CountingBigrams(CharBigramEncoder):
    def __init__(self) -> None:
        self.passages = 0

    def encode_passages(self, texts):  # type: ignore[no-untyped-def]
        self.passages += len(texts)
        return super().encode_passages(texts)


def test_a_reload_embeds_only_the_documents_that_changed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(
        "工会服务\n\n货车司机之家建了40个。法律援助提供了16次。\n", "utf-8"
    )
    (corpus / "b.txt").write_text("技能竞赛\n\n举办职工技能竞赛120场。\n", "utf-8")
    store, encoder = VersionStore(tmp_path / "index"), CountingBigrams()

    def build() -> tuple[int, str]:
        before = encoder.passages
        version = build_from_documents(
            store, load_corpus(corpus), encoder, max_chars=160, approximate_above=1000,
            progress=False,
        )  # fmt: skip
        return encoder.passages - before, version

    cold, first = build()
    assert cold > 0
    unchanged, second = build()
    assert unchanged == 0  # everything came from the cache
    assert (store.root / first / "sentences.npy").read_bytes() == (
        store.root / second / "sentences.npy"
    ).read_bytes()
    (corpus / "c.txt").write_text("文艺演出\n\n乌兰牧骑演出60场。\n", "utf-8")
    added, _ = build()
    assert 0 < added < cold  # only the new document's passages and sentences
    (corpus / "a.txt").unlink()
    removed, _ = build()
    assert removed == 0
