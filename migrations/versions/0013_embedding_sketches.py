"""Sign sketches of every embedding, for fast exact search of an owner's vectors.

An owner too small for the shared HNSW index is searched exactly: every one
of their vectors measured against the query. Reading 10,000 vectors of
1.5 KB from the heap and measuring each took ~7.5 ms; ranking their sign
bits (48 bytes each, from one covering index) by Hamming distance takes
~2 ms, and only a shortlist of the closest (memory/vector_plan.py) is then
measured exactly.

The sketches are kept by statement triggers on ``embeddings``, so every
writer (this app, an older instance during a rolling deploy, an import)
keeps them whole. The backfill reads ``embeddings`` once and leaves its
indexes untouched (a column on ``embeddings`` would have rewritten the
table and rebuilt its HNSW indexes).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The sketches of the rows in {rows}: the trigger's changed rows, or all of
# them for the backfill.
SKETCHES_OF = (
    "INSERT INTO embedding_sketches (embedding_id, owner_id, model, source_type, signs) "
    "SELECT id, owner_id, model, source_type, binary_quantize(vector) FROM {rows}"
)
# The rows a statement inserted or updated, sketched (or sketched again).
SKETCH_CHANGED_ROWS = f"""
CREATE FUNCTION sketch_embeddings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {SKETCHES_OF.format(rows="changed")}
    ON CONFLICT (embedding_id) DO UPDATE SET owner_id = excluded.owner_id, model = excluded.model,
        source_type = excluded.source_type, signs = excluded.signs;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "embedding_sketches",
        sa.Column("embedding_id", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("source_type", sa.String(length=20), nullable=False),
        sa.Column("signs", postgresql.BIT(varying=True), nullable=False),
        sa.ForeignKeyConstraint(["embedding_id"], ["embeddings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("embedding_id"),
    )
    op.execute(SKETCH_CHANGED_ROWS)
    # Triggers first: their lock on embeddings holds off writers until the
    # backfill below commits with them, so no row is missed or sketched twice.
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER embeddings_sketch_{event.lower()} AFTER {event} ON embeddings "
            "REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION sketch_embeddings()"
        )
    op.execute(SKETCHES_OF.format(rows="embeddings"))
    op.create_index(
        "ix_embedding_sketches_owner_model",
        "embedding_sketches",
        ["owner_id", "model"],
        postgresql_include=["embedding_id", "source_type", "signs"],
    )


def downgrade() -> None:
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER embeddings_sketch_{event} ON embeddings")
    op.execute("DROP FUNCTION sketch_embeddings()")
    op.drop_table("embedding_sketches")
