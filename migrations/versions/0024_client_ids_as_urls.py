"""A client may be known by the URL of its metadata document (Client ID
Metadata Documents): client ids grow from 64 to 512 characters wherever
they are kept. Widening a varchar rewrites nothing.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "oauth_clients",
    "oauth_pending_authorizations",
    "oauth_grants",
    "oauth_authorization_codes",
    "oauth_tokens",
)


def upgrade() -> None:
    for table in TABLES:
        op.alter_column(table, "client_id", type_=sa.String(512), existing_type=sa.String(64))


def downgrade() -> None:
    # Rows of document clients (longer ids) go first: they cannot be kept.
    for table in reversed(TABLES):
        op.execute(f"DELETE FROM {table} WHERE length(client_id) > 64")
        op.alter_column(table, "client_id", type_=sa.String(64), existing_type=sa.String(512))
