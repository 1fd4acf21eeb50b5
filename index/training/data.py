"""The training data the project owns (``train/``), resolved to passages of a corpus.

- ``train/questions/*.jsonl``: questions written as workers ask them, one file per document,
  ``{"question", "lang", "answers": ["《劳动合同法》第四十七条" | a substring of the report]}``;
- ``train/mined.jsonl``: pairs mined from the law library's judicial interpretations and cases
  (``python -m index.training.mining``), ``{"query", "answers", "source"}``.

Nothing here may be a near-copy of an evaluation question: :func:`near_copies` finds them
(character-bigram Jaccard ≥ 0.5, the measure the held-out sets are filtered by).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from index.answering.citations import chunk_answers
from index.ingest.chunking import Chunk

TRAIN_DIR = Path("train")
QUESTIONS_DIR = "questions"
MINED_FILE = "mined.jsonl"
NEAR_COPY = 0.5
_NOT_TEXT = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Example:
    """One training question and the passages' answers (citations or report substrings)."""

    question: str
    answers: tuple[str, ...]
    lang: str
    origin: str  # the file it comes from (and, when mined, where in the library)


def data_files(train_dir: Path = TRAIN_DIR) -> list[Path]:
    """The files the training reads, in a fixed order."""
    files = sorted((train_dir / QUESTIONS_DIR).glob("*.jsonl"))
    mined = train_dir / MINED_FILE
    return files + ([mined] if mined.is_file() else [])


def data_sha256(train_dir: Path = TRAIN_DIR) -> str:
    """The training data's identity: sha256 over each file's name and bytes."""
    digest = hashlib.sha256()
    for path in data_files(train_dir):
        digest.update(path.relative_to(train_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_examples(train_dir: Path = TRAIN_DIR) -> list[Example]:
    examples = []
    for path in data_files(train_dir):
        name = path.relative_to(train_dir).as_posix()
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text = row.get("question") or row["query"]
                answers = tuple(row["answers"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{name}:{number}: not a training example: {exc}") from exc
            lang = row.get("lang") or ("en" if text.isascii() else "zh")
            origin = f"{name}:{row['source']}" if "source" in row else name
            examples.append(Example(text, answers, lang, origin))
    return examples


def bigrams(text: str) -> frozenset[str]:
    """The character bigrams of ``text`` without spaces and punctuation, lowercased."""
    folded = _NOT_TEXT.sub("", text.lower())
    return frozenset(folded[i : i + 2] for i in range(len(folded) - 1)) or frozenset([folded])


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def near_copies(
    texts: Sequence[str], others: Iterable[str], threshold: float = NEAR_COPY
) -> list[tuple[int, str, float]]:
    """Each of ``texts`` (by index) that is a near-copy of one of ``others``: (index, the
    other, their character-bigram Jaccard)."""
    other_grams = [(o, bigrams(o)) for o in others]
    found = []
    for i, text in enumerate(texts):
        grams = bigrams(text)
        scored = ((other, jaccard(grams, g)) for other, g in other_grams)
        best = max(scored, key=lambda pair: pair[1], default=None)
        if best is not None and best[1] >= threshold:
            found.append((i, best[0], best[1]))
    return found


def answering_rows(answers: Sequence[str], chunks: Sequence[Chunk]) -> list[int]:
    """The rows of ``chunks`` that hold one of ``answers``."""
    return [row for row, chunk in enumerate(chunks) if chunk_answers(chunk, answers)]
