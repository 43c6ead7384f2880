"""Indexes for the brief: an owner's most established current observations
(restated most, then most confident, newest), and the ones archived lately,
read without going through all of the owner's rows.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_observations_owner_established",
        "observations",
        [
            "owner_id",
            sa.text("seen_count DESC"),
            sa.text("confidence DESC"),
            sa.text("created_at DESC"),
            sa.text("id DESC"),
        ],
        postgresql_where=sa.text("superseded_by_id IS NULL AND archived_at IS NULL"),
    )
    op.create_index(
        "ix_observations_owner_archived",
        "observations",
        ["owner_id", "archived_at"],
        postgresql_where=sa.text("archived_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_observations_owner_archived", table_name="observations")
    op.drop_index("ix_observations_owner_established", table_name="observations")
