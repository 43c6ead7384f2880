"""Conversations remember the credential that registered them.

A store that names no AI instance is attributed to the one that credential's
agent introduced in memory_init_session.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("credential_id", sa.UUID(), nullable=True))
    op.create_index("ix_sessions_owner_credential", "sessions", ["owner_id", "credential_id", "last_active"])


def downgrade() -> None:
    op.drop_index("ix_sessions_owner_credential", table_name="sessions")
    op.drop_column("sessions", "credential_id")
