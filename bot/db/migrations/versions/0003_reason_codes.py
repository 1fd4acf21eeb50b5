"""Refusal reasons stored as codes (index.Reason) instead of English sentences.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_questions = sa.table("questions", sa.column("reason", sa.Text))
# The sentences the core gave before codes, by how they began.
_SENTENCES = {
    "not_in_documents": "the documents do not answer this question",
    "empty": "the question is empty",
    "too_long": "the question is too long%",
    "unsearchable": "the question has no words%",
}


def upgrade() -> None:
    for code, sentence in _SENTENCES.items():
        op.execute(
            _questions.update().where(_questions.c.reason.like(sentence)).values(reason=code)
        )


def downgrade() -> None:
    for code, sentence in _SENTENCES.items():
        op.execute(
            _questions.update()
            .where(_questions.c.reason == code)
            .values(reason=sentence.rstrip("%"))
        )
