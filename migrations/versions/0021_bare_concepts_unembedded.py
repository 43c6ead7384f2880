"""A concept that is only a name has no vector from now on (it is found by
its name, as words): the vectors such concepts have are dropped.
A concept given a description later is embedded then, as before.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 16:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM embeddings e USING concepts c "
        "WHERE e.source_type = 'concept' AND e.source_id = c.id AND e.owner_id = c.owner_id "
        "AND coalesce(btrim(c.description), '') = ''"
    )


def downgrade() -> None:
    # The background pass re-embeds what an older version expects to have vectors.
    pass
