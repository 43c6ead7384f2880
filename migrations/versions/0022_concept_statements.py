"""A concept's vector now carries what its relationships say ("Ann lives in
Porto"), so a question about a relationship finds the concept: the vectors
of concepts with relationships are dropped for the background pass to make
again (they are found by their words meanwhile).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 17:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM embeddings e USING concept_relationships r "
        "WHERE e.source_type = 'concept' AND e.owner_id = r.owner_id "
        "AND e.source_id IN (r.from_concept_id, r.to_concept_id)"
    )


def downgrade() -> None:
    # The background pass re-embeds what an older version expects to have vectors.
    pass
