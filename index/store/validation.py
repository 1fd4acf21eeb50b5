"""A newly built version must prove it can answer before it may serve."""

from __future__ import annotations

from index.answering.answerer import open_answerer
from index.errors import ValidationError
from index.model.encoder import Encoder
from index.settings import CoreSettings
from index.store.versions import VersionStore


def validate(settings: CoreSettings, encoder: Encoder, store: VersionStore, version_id: str) -> str:
    """Refuse a version that is empty, built for another model or dimension, or that cannot
    answer: sample passages must find themselves, and a question made of one is answered."""
    version = store.load(version_id, encoder)  # checks model, dimension and part counts
    if version.manifest.chunk_count == 0:
        raise ValidationError(f"index {version_id} has no passages")
    answerer = open_answerer(settings, encoder, version)
    chunks = [c for c in version.chunks if c.kind == "paragraph"] or version.chunks
    step = max(len(chunks) // 5, 1)
    sample = chunks[::step][:5]
    found = 0
    answered = 0
    for chunk in sample:
        probe = max(chunk.sentences, key=len)
        answer = answerer.answer(probe, k=3)
        # A passage a document repeats word for word (a letterhead, a footer on every page) is
        # found as any of its copies: they tie, and which one ranks first proves nothing.
        found += any(s.passage_id == chunk.chunk_id or s.text == chunk.text for s in answer.sources)
        answered += answer.answered
    needed = (len(sample) + 1) // 2
    if found < needed or answered == 0:
        raise ValidationError(
            f"index {version_id} failed its self-check: {found}/{len(sample)} sample passages "
            f"were found by their own text and {answered} answered"
        )
    for question in settings.index.check_questions:
        if not answerer.answer(question).answered:
            raise ValidationError(
                f"index {version_id} does not answer the check question "
                f"{question!r} (set in [index] check_questions)"
            )
    checks = len(settings.index.check_questions)
    return f"{found}/{len(sample)} sample passages found, {answered} answered" + (
        f", {checks} check questions answered" if checks else ""
    )
