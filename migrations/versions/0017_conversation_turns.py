"""Conversations as memory: the turns of a conversation, searchable like
every other memory (their own vectors, words and archive), and an account
setting that turns their capture off.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS_BEFORE = "source_type IN ('observation', 'pattern', 'concept', 'document')"
KINDS_AFTER = "source_type IN ('observation', 'pattern', 'concept', 'document', 'turn')"
SEARCH_TSV = (
    "to_tsvector('simple', 'owner' || replace(owner_id::text, '-', '')) "
    "|| to_tsvector('english', coalesce(speaker, '') || ' ' || coalesce(text, ''))"
)


def upgrade() -> None:
    op.create_table(
        "turns",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("owner_id", sa.UUID(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("session_id", sa.BigInteger(), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_key", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("access_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_accessed", sa.DateTime(timezone=True)),
        sa.Column("archived_at", sa.DateTime(timezone=True)),
        sa.Column("search_tsv", postgresql.TSVECTOR(), sa.Computed(SEARCH_TSV, persisted=True)),
        sa.UniqueConstraint("session_id", "position", name="uq_turns_session_position"),
        sa.UniqueConstraint("session_id", "source_key", name="uq_turns_session_source_key"),
        postgresql_with={"fillfactor": 90},
    )
    op.create_index("ix_turns_owner_id", "turns", ["owner_id"])
    op.create_index("ix_turns_owner_created", "turns", ["owner_id", "created_at"])
    op.create_index(
        "ix_turns_search_tsv", "turns", ["search_tsv"], postgresql_using="gin", postgresql_with={"fastupdate": "off"}
    )
    op.drop_constraint("ck_embeddings_source_type", "embeddings", type_="check")
    op.create_check_constraint("ck_embeddings_source_type", "embeddings", KINDS_AFTER)
    op.add_column(
        "users", sa.Column("capture_conversations", sa.Boolean(), server_default=sa.text("true"), nullable=False)
    )


def downgrade() -> None:
    op.drop_column("users", "capture_conversations")
    op.execute("DELETE FROM embeddings WHERE source_type = 'turn'")
    op.drop_constraint("ck_embeddings_source_type", "embeddings", type_="check")
    op.create_check_constraint("ck_embeddings_source_type", "embeddings", KINDS_BEFORE)
    op.drop_table("turns")
