"""Index versions: a folder of named files that must agree, switched atomically."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from index.errors import CorpusError, IndexFormatError, ReloadInProgressError
from index.ingest.documents import load_corpus
from index.store.lifecycle import build_from_documents
from index.store.version_folder import CHUNKS, MANIFEST, load_version
from index.store.versions import VersionStore

pytestmark = pytest.mark.slow

TINY = (
    "工会服务\n\n工会为货车司机建了40个货车司机之家。法律援助提供了16次。\n\n乌兰牧骑演出60场。\n"
)


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "tiny.txt").write_text(TINY, "utf-8")
    return folder


def _build(store: VersionStore, corpus: Path, encoder) -> str:  # type: ignore[no-untyped-def]
    return build_from_documents(
        store, load_corpus(corpus), encoder, max_chars=160, approximate_above=1000, progress=False
    )


def test_a_version_is_a_folder_of_named_files_that_loads_back(
    tmp_path: Path, tiny_corpus: Path, encoder
) -> None:  # type: ignore[no-untyped-def]
    store = VersionStore(tmp_path / "index")
    version_id = _build(store, tiny_corpus, encoder)
    folder = store.root / version_id
    assert sorted(p.name for p in folder.iterdir()) == [
        "bank.jsonl",
        "bank.npy",
        "bm25",
        "chunks.jsonl",
        "dense.faiss",
        "manifest.json",
        "off_domain.npy",
        "reference.json",
        "sentences.npy",
    ]
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["model"] == encoder.model_name
    assert manifest["dim"] == 384
    assert manifest["chunk_count"] == 2
    assert manifest["sentence_count"] == 3
    version = load_version(folder, encoder)
    assert [c.text for c in version.chunks] == [
        "工会为货车司机建了40个货车司机之家。法律援助提供了16次。",
        "乌兰牧骑演出60场。",
    ]
    assert version.dense.ntotal == 2
    assert type(version.dense).__name__ == "IndexFlatIP"


def test_above_the_configured_size_the_dense_index_is_approximate(
    tmp_path: Path, tiny_corpus: Path, encoder
) -> None:  # type: ignore[no-untyped-def]
    store = VersionStore(tmp_path / "index")
    version_id = build_from_documents(
        store, load_corpus(tiny_corpus), encoder, max_chars=160, approximate_above=1, progress=False
    )
    assert type(load_version(store.root / version_id, encoder).dense).__name__ == "IndexHNSWFlat"


def test_partial_or_inconsistent_folders_are_refused(
    tmp_path: Path, tiny_corpus: Path, encoder
) -> None:  # type: ignore[no-untyped-def]
    store = VersionStore(tmp_path / "index")
    folder = store.root / _build(store, tiny_corpus, encoder)

    no_manifest = store.root / "partial"
    shutil.copytree(folder, no_manifest)
    (no_manifest / MANIFEST).unlink()
    with pytest.raises(IndexFormatError, match="incomplete"):
        load_version(no_manifest, encoder)

    short = store.root / "short"
    shutil.copytree(folder, short)
    lines = (short / CHUNKS).read_text().splitlines()
    (short / CHUNKS).write_text(lines[0] + "\n")
    with pytest.raises(IndexFormatError, match="inconsistent"):
        load_version(short, encoder)

    other_model = store.root / "other"
    shutil.copytree(folder, other_model)
    manifest = json.loads((other_model / MANIFEST).read_text())
    (other_model / MANIFEST).write_text(json.dumps({**manifest, "model": "someone/else"}))
    with pytest.raises(IndexFormatError, match="built with someone/else"):
        load_version(other_model, encoder)


def test_a_failed_build_leaves_the_serving_version_untouched(
    tmp_path: Path, tiny_corpus: Path, encoder
) -> None:  # type: ignore[no-untyped-def]
    store = VersionStore(tmp_path / "index")
    good = _build(store, tiny_corpus, encoder)
    store.set_current(good)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match="has no documents"):
        _build(store, empty, encoder)
    (tiny_corpus / "bad.txt").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CorpusError, match=r"bad\.txt is not what its name says: it is binary data"):
        _build(store, tiny_corpus, encoder)
    assert store.current_id() == good
    assert store.versions() == [good]
    assert [p.name for p in store.root.iterdir() if p.name.startswith(".building")] == []


def test_a_document_that_repeats_a_passage_passes_the_self_check(
    tmp_path: Path, tiny_corpus: Path, encoder, settings
) -> None:  # type: ignore[no-untyped-def]
    """A footer on every page is one passage many times over: the copies tie, so a sample
    passage's probe may rank another copy first. It was refused ("1/5 sample passages were
    found by their own text") with 130 copies of one paragraph beside the shipped corpus."""
    from index.store.validation import validate

    (tiny_corpus / "footer.txt").write_text(
        "\n\n".join(["内蒙古自治区总工会办公室印发，请各盟市工会认真贯彻落实。"] * 40), "utf-8"
    )
    store = VersionStore(tmp_path / "index")
    version = _build(store, tiny_corpus, encoder)
    assert "sample passages found" in validate(settings, encoder, store, version)


def test_old_versions_are_pruned_but_the_current_one_is_kept(
    tmp_path: Path, tiny_corpus: Path, encoder
) -> None:  # type: ignore[no-untyped-def]
    store = VersionStore(tmp_path / "index", keep=2)
    first = _build(store, tiny_corpus, encoder)
    store.set_current(first)
    for _ in range(3):
        store.set_current(_build(store, tiny_corpus, encoder))
    assert len(store.versions()) == 2
    assert store.current_id() in store.versions()


def test_one_builder_at_a_time_and_a_live_build_is_not_cleaned_up(tmp_path: Path) -> None:
    store = VersionStore(tmp_path / "index")
    with store.exclusive():
        live = store.root / ".building-live"
        live.mkdir()
        second = store.exclusive()
        with pytest.raises(ReloadInProgressError, match="another reload or rollback is running"):
            second.__enter__()
        store.remove_abandoned_builds()  # another process starting now
        assert live.exists()
    store.remove_abandoned_builds()  # the builder died: its folder is abandoned
    assert not live.exists()


def test_previous_is_the_newest_version_older_than_the_one_given(tmp_path: Path) -> None:
    store = VersionStore(tmp_path / "index")
    for name in ("v20250101T000000-a", "v20250102T000000-b", "v20250103T000000-c"):
        (store.root / name).mkdir(parents=True)
        (store.root / name / MANIFEST).write_text("{}")
    (store.root / "CURRENT").write_text("v20250103T000000-c\n")
    assert store.previous() == "v20250102T000000-b"
    assert store.previous("v20250102T000000-b") == "v20250101T000000-a"
    assert store.previous("v20250101T000000-a") is None
