"""Rights per space: an API key or an OAuth grant may hold fewer rights in
some spaces than its scopes ("reads only in personal"). ``space_scopes``
maps a space's id (or "*": the spaces made later and those shared with the
account) to the scopes the credential holds there; a space it does not name
gets the credential's scopes. NULL: the same rights everywhere it reaches.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-08 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("api_keys", "oauth_grants"):
        op.add_column(table, sa.Column("space_scopes", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    for table in ("api_keys", "oauth_grants"):
        op.drop_column(table, "space_scopes")
