"""Indexes on the columns that point at other rows, so deleting those rows
(an account, a conversation, an AI instance, a version) does not read the
whole observations table once per deleted row.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 19:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POINTERS = (
    ("observations", "session_id"),
    ("observations", "ai_instance_id"),
    ("observations", "supersedes_id"),
    ("observations", "superseded_by_id"),
    ("sessions", "ai_instance_id"),
)


def upgrade() -> None:
    for table, column in POINTERS:
        op.create_index(f"ix_{table}_{column}", table, [column], postgresql_where=sa.text(f"{column} IS NOT NULL"))


def downgrade() -> None:
    for table, column in POINTERS:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
