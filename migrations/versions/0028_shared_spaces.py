"""Sharing a space: members (reader or writer) and invitations by e-mail
address, and who stored each memory. ``stored_by`` is filled by the
database from the transaction's ``memorygate.actor`` setting, which a call
sets when it acts in a space its account does not own, so no write path has
to carry it; it is NULL for what the space's owner stored (and for what a
member stored once that member's account is gone).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STORED_TABLES = ("observations", "patterns", "concepts", "documents", "turns")
ACTOR = "nullif(current_setting('memorygate.actor', true), '')::uuid"


def upgrade() -> None:
    op.create_table(
        "space_members",
        sa.Column(
            "space_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("spaces.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("role IN ('reader', 'writer')", name="ck_space_members_role"),
    )
    op.create_index("ix_space_members_user_id", "space_members", ["user_id"])
    op.create_table(
        "space_invitations",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "space_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("role IN ('reader', 'writer')", name="ck_space_invitations_role"),
        sa.UniqueConstraint("space_id", "email", name="uq_space_invitations_space_email"),
    )
    op.create_index("ix_space_invitations_email", "space_invitations", ["email"])
    for table in STORED_TABLES:
        op.add_column(
            table,
            sa.Column(
                "stored_by",
                postgresql.UUID(as_uuid=True),
                sa.ForeignKey("users.id", ondelete="SET NULL"),
                nullable=True,
                server_default=sa.text(ACTOR),
            ),
        )
        # Few rows name a member: deleting an account finds its rows without reading every row.
        op.create_index(
            f"ix_{table}_stored_by", table, ["stored_by"], postgresql_where=sa.text("stored_by IS NOT NULL")
        )


def downgrade() -> None:
    for table in STORED_TABLES:
        op.drop_column(table, "stored_by")
    op.drop_table("space_invitations")
    op.drop_table("space_members")
