"""One index version = one folder of named, inspectable files.

    manifest.json          format version, model and dimension, corpus hash, counts (written last)
    chunks.jsonl           one chunk per line, in vector order
    dense.faiss            FAISS index over the chunks' normalised embeddings (inner product)
    sentences.npy          one normalised embedding per unit of a chunk (its sentences, long ones
                           divided into clauses), for finding and quoting a clause
    reference.json         how the bundled off-domain questions score here (for abstention)
    off_domain.npy         those questions' embeddings
    bank.jsonl, bank.npy   the question bank's questions these documents answer, with their
                           rows and vectors (ranking; refusals offer the nearest offered)
    bm25/                  bm25s files over jieba words (params, vocab, CSC matrix)

Loading checks that the parts agree (vector count = chunk count = BM25 documents, same model
and dimension) and refuses a partial or mismatched folder with :class:`IndexFormatError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from index.answering.question_bank import QuestionBank, bank_questions
from index.errors import IndexFormatError
from index.ingest.chunking import Chunk
from index.ingest.documents import Document
from index.model.encoder import Encoder, Vectors
from index.store.vector_cache import VectorCache
from index.text import question_script, tokenize

# 2: reference.json; chunks with article, lead and clause units. 3: the question bank keeps
# every question its documents answer, flagged whether it may be offered after a refusal.
FORMAT_VERSION = 3
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
DENSE = "dense.faiss"
SENTENCES = "sentences.npy"
REFERENCE = "reference.json"
REFERENCE_VECTORS = "off_domain.npy"
OFF_DOMAIN_QUESTIONS = Path(__file__).parents[1] / "answering" / "off_domain_questions.txt"
BM25_DIR = "bm25"
_ENCODE_BATCH = 16

# Called as (stage, done, total) while a version is built, e.g. ("passages", 3, 12).
BuildProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Manifest:
    format_version: int
    model: str
    dim: int
    corpus_hash: str
    chunk_count: int
    sentence_count: int
    dense_index: str
    created_at: str
    build_seconds: float
    documents: list[dict[str, Any]]  # doc_id, title, sha256, sections
    chunking: dict[str, int]  # chunker_version, max_chars


def corpus_hash(documents: Sequence[Document]) -> str:
    """Identifies the corpus content: names and bytes of every document."""
    digest = hashlib.sha256()
    for document in documents:
        digest.update(f"{document.doc_id}\x1f{document.sha256}\x1e".encode())
    return digest.hexdigest()


@dataclass
class IndexVersion:
    """A loaded index version: everything retrieval needs, in memory."""

    folder: Path
    manifest: Manifest
    chunks: list[Chunk]
    dense: Any  # faiss.Index
    sentence_vectors: Vectors
    sentence_owner: np.ndarray  # sentence row -> chunk row
    bm25: Any  # bm25s.BM25
    reference: dict[str, Any]  # off-domain questions' scores on this version (REFERENCE)
    bank: QuestionBank  # the bank questions these documents answer

    @property
    def version_id(self) -> str:
        return self.folder.name


def build_version(
    folder: Path,
    documents: Sequence[Document],
    chunks: Sequence[Chunk],
    encoder: Encoder,
    *,
    approximate_above: int,
    chunking: dict[str, int],
    progress: bool = True,
    on_progress: BuildProgress | None = None,
    cache: VectorCache | None = None,
) -> None:
    """Write a complete version into the empty ``folder``; the manifest goes last. With a
    ``cache``, only text it has not seen (with this model) is embedded."""
    bm25s = load_bm25s()

    started = time.perf_counter()
    if not chunks:
        raise IndexFormatError("nothing to index: the corpus produced no passages")
    report = on_progress or (lambda _stage, _done, _total: None)
    embed = _Embedder(encoder, cache, progress, report)
    vectors = embed([c.embedding_text for c in chunks], "passages")
    sentences = [s for c in chunks for s in c.unit_texts]
    sentence_vectors = embed(sentences, "sentences")
    bank = bank_questions(chunks)
    bank_vectors = embed([q for q, _ in bank], "bank questions", role="query")
    # Offered after a refusal only where the model finds the answer: an answering passage among
    # the question's three nearest. Ranking uses them all.
    nearest = _nearest_rows(bank_vectors, vectors, 3)
    offered = tuple(bool(set(nearest[i]) & set(rows)) for i, (_, rows) in enumerate(bank))
    report("writing", 0, 1)

    dense = _dense_index(vectors, approximate_above)
    lexical = bm25s.BM25()
    lexical.index([tokenize(c.search_text) for c in chunks], show_progress=False)

    import faiss

    faiss.write_index(dense, str(folder / DENSE))
    np.save(folder / SENTENCES, sentence_vectors, allow_pickle=False)
    reference = off_domain_reference(encoder, vectors, sentence_vectors)
    np.save(folder / REFERENCE_VECTORS, reference.pop("vectors"), allow_pickle=False)
    (folder / REFERENCE).write_text(json.dumps(reference, indent=2) + "\n", "utf-8")
    lexical.save(str(folder / BM25_DIR), show_progress=False)
    QuestionBank(
        tuple(q for q, _ in bank), tuple(rows for _, rows in bank), bank_vectors, offered
    ).write(folder)
    with (folder / CHUNKS).open("w", encoding="utf-8") as handle:
        for chunk in chunks:
            handle.write(json.dumps(asdict(chunk), ensure_ascii=False) + "\n")
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        model=encoder.model_name,
        dim=encoder.dim,
        corpus_hash=corpus_hash(documents),
        chunk_count=len(chunks),
        sentence_count=len(sentences),
        dense_index=type(dense).__name__,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        build_seconds=round(time.perf_counter() - started, 3),
        documents=[
            {
                "doc_id": d.doc_id,
                "title": d.title,
                "sha256": d.sha256,
                "sections": list(d.sections),
            }
            for d in documents
        ],
        chunking=chunking,
    )
    (folder / MANIFEST).write_text(
        json.dumps(asdict(manifest), ensure_ascii=False, indent=2) + "\n", "utf-8"
    )


def load_version(folder: Path, encoder: Encoder) -> IndexVersion:
    """Load and cross-check a version folder; refuse anything partial or mismatched."""
    manifest = read_manifest(folder)
    if manifest.model != encoder.model_name or manifest.dim != encoder.dim:
        raise IndexFormatError(
            f"index {folder.name} was built with {manifest.model} ({manifest.dim} dims), "
            f"but the configured model is {encoder.model_name} ({encoder.dim} dims); rebuild it"
        )
    try:
        import faiss

        bm25s = load_bm25s()
        chunks = [_chunk(json.loads(line)) for line in _lines(folder / CHUNKS)]
        dense = faiss.read_index(str(folder / DENSE))
        sentence_vectors = np.load(folder / SENTENCES, allow_pickle=False)
        bm25 = bm25s.BM25.load(str(folder / BM25_DIR), show_progress=False)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexFormatError(f"index {folder.name} is damaged: {exc}") from exc
    counts = {
        "chunks": len(chunks),
        "vectors": int(dense.ntotal),
        "bm25 documents": int(bm25.scores["num_docs"]),
    }
    if set(counts.values()) != {manifest.chunk_count}:
        raise IndexFormatError(
            f"index {folder.name} is inconsistent: manifest says {manifest.chunk_count} chunks, "
            f"found {counts}"
        )
    sentence_total = sum(len(c.sentences) for c in chunks)
    if sentence_vectors.shape != (sentence_total, manifest.dim) or dense.d != manifest.dim:
        raise IndexFormatError(f"index {folder.name} has vectors of the wrong shape")
    owner = np.repeat(np.arange(len(chunks)), [len(c.sentences) for c in chunks])
    try:
        reference = json.loads((folder / REFERENCE).read_text("utf-8"))
        reference["vectors"] = np.load(folder / REFERENCE_VECTORS, allow_pickle=False)
        bank = QuestionBank.read(folder, manifest.dim)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexFormatError(f"index {folder.name} is damaged: {exc}") from exc
    if any(r >= len(chunks) for rows in bank.rows for r in rows):
        raise IndexFormatError(f"index {folder.name} has a question bank for other passages")
    return IndexVersion(
        folder, manifest, chunks, dense, sentence_vectors, owner, bm25, reference, bank
    )


def off_domain_questions() -> list[str]:
    """The bundled questions far from any union or labour document."""
    lines = OFF_DOMAIN_QUESTIONS.read_text("utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def off_domain_reference(encoder: Encoder, passages: Vectors, units: Vectors) -> dict[str, Any]:
    """How off-domain questions score on this version, per script (Chinese, and Latin: an
    English question sits lower on the scale against Chinese text): the mean and spread of
    their best passage and best unit cosines. Abstention measures a question against those
    of its script, so its features mean the same whatever the corpus's topics (a larger
    corpus raises them: the abstention reads them no higher than it was fitted on)."""
    questions = off_domain_questions()
    queries = encoder.encode_queries(questions)
    best_passage = (queries @ passages.T).max(axis=1)
    best_unit = (queries @ units.T).max(axis=1)
    reference: dict[str, Any] = {"vectors": queries}
    for script in ("cjk", "latin"):
        rows = [i for i, q in enumerate(questions) if question_script(q) == script]
        reference[script] = {
            "questions": len(rows),
            "passage": [float(best_passage[rows].mean()), float(best_passage[rows].std() + 1e-6)],
            "unit": [float(best_unit[rows].mean()), float(best_unit[rows].std() + 1e-6)],
        }
    return reference


def passages_per_document(folder: Path) -> dict[str, int]:
    """Passages of each document in a version folder (read from its chunk list)."""
    counts: dict[str, int] = {}
    try:
        for line in _lines(folder / CHUNKS):
            doc_id = str(json.loads(line)["doc_id"])
            counts[doc_id] = counts.get(doc_id, 0) + 1
    except (OSError, ValueError, KeyError) as exc:
        raise IndexFormatError(f"index {folder.name} is damaged: {exc}") from exc
    return counts


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text("utf-8"))
        manifest = Manifest(**data)
    except FileNotFoundError as exc:
        raise IndexFormatError(f"index {folder.name} is incomplete (no {MANIFEST})") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise IndexFormatError(f"index {folder.name} has an unreadable manifest: {exc}") from exc
    if manifest.format_version != FORMAT_VERSION:
        raise IndexFormatError(
            f"index {folder.name} has format {manifest.format_version}; expected {FORMAT_VERSION}"
        )
    return manifest


class _Embedder:
    """Passage embeddings for a build: from the cache where it has them, else encoded in
    batches (with a progress bar and the build's progress callback)."""

    def __init__(
        self,
        encoder: Encoder,
        cache: VectorCache | None,
        progress: bool,
        report: BuildProgress,
    ):
        self.encoder = encoder
        self.cache = cache
        self.progress = progress
        self.report = report

    def __call__(self, texts: list[str], what: str, role: str = "passage") -> Vectors:
        bar = tqdm(desc=f"embedding {what}", unit="batch", disable=not self.progress)

        def on_batch(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()
            self.report(what, done, total)

        encode = self.encoder.encode_queries if role == "query" else self.encoder.encode_passages
        try:
            if not texts:
                return np.zeros((0, self.encoder.dim), dtype=np.float32)
            if self.cache is None:
                return _encode_all(texts, encode, on_batch)
            return self.cache.vectors(
                texts,
                model=self.encoder.model_name,
                role=role,
                encode=encode,
                batch=_ENCODE_BATCH,
                on_batch=on_batch,
            )
        finally:
            bar.close()


def _encode_all(texts: list[str], encode: Any, on_batch: Any) -> Vectors:
    batches = [texts[i : i + _ENCODE_BATCH] for i in range(0, len(texts), _ENCODE_BATCH)]
    parts = []
    on_batch(0, len(batches))
    for done, batch in enumerate(batches, 1):
        parts.append(encode(batch))
        on_batch(done, len(batches))
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def _nearest_rows(queries: Vectors, passages: Vectors, k: int) -> np.ndarray:
    """The ``k`` passage rows nearest each query (in no order), a block of queries at a time."""
    if not len(queries) or len(passages) <= k:
        return np.tile(np.arange(len(passages)), (len(queries), 1))
    parts = []
    for start in range(0, len(queries), 256):
        scores = queries[start : start + 256] @ passages.T
        parts.append(np.argpartition(-scores, k, axis=1)[:, :k])
    return np.concatenate(parts)


def _dense_index(vectors: Vectors, approximate_above: int) -> Any:
    import faiss

    dim = vectors.shape[1]
    index: Any
    if len(vectors) > approximate_above:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 128
    else:
        index = faiss.IndexFlatIP(dim)
    index.add(vectors)
    return index


def load_bm25s() -> Any:
    import bm25s

    # bm25s sets its logger to DEBUG when imported (bm25s/__init__.py), which puts a line per
    # build into our logs; keep it quiet unless the root logger asks for debug.
    logging.getLogger("bm25s").setLevel(max(logging.getLogger().level, logging.WARNING))
    return bm25s


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text("utf-8").splitlines() if line.strip()]


def _chunk(data: dict[str, Any]) -> Chunk:
    data["sentences"] = tuple(data["sentences"])
    return Chunk(**data)
