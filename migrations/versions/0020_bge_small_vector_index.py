"""The HNSW index for bge-small-en-v1.5's vectors (the local default from
now on), built like the other models' partial indexes. Its vectors arrive
through the background re-embedding; until then the index is empty and cheap.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Written out rather than taken from memory.search_indexes: a migration
    # is fixed once run, whatever the code beside it becomes. The search
    # query must use this very expression and predicate (a test compares).
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_embeddings_hnsw_bge_small_en_v1_5 ON embeddings USING hnsw ((vector::vector(384)) vector_cosine_ops) WHERE model = 'bge-small-en-v1.5'"  # noqa: E501
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_embeddings_hnsw_bge_small_en_v1_5")
