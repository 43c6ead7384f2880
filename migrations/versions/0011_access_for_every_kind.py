"""Reads counted for patterns, concepts and documents too (observations
already count theirs), so retention and archive candidates cover every kind.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("patterns", "concepts", "documents")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("access_count", sa.Integer(), nullable=False, server_default=sa.text("0")))
        op.add_column(table, sa.Column("last_accessed", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "last_accessed")
        op.drop_column(table, "access_count")
