"""Imports make their memories searchable by meaning before they say they
are done: how many vectors an import has to make, and how many it has made.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("import_jobs", sa.Column("embedding_count", sa.Integer()))
    op.add_column("import_jobs", sa.Column("embedded_count", sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    op.drop_column("import_jobs", "embedded_count")
    op.drop_column("import_jobs", "embedding_count")
