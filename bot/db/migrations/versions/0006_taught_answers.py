"""Answers the admins teach (``taught_answers``), and which one answered a question.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "taught_answers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("taught_by", sa.BigInteger(), nullable=False),
        sa.Column("taught_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_taught_answers_updated_at", "taught_answers", ["updated_at"])
    with op.batch_alter_table("questions") as batch:
        batch.add_column(sa.Column("taught_answer_id", sa.Integer(), nullable=True))
        batch.create_index("ix_questions_taught_answer_id", ["taught_answer_id"])


def downgrade() -> None:
    with op.batch_alter_table("questions") as batch:
        batch.drop_index("ix_questions_taught_answer_id")
        batch.drop_column("taught_answer_id")
    op.drop_index("ix_taught_answers_updated_at", table_name="taught_answers")
    op.drop_table("taught_answers")
