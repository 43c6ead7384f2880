"""Pattern versions: a new text for a pattern's name replaces it and keeps it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINKS = (("supersedes_id", "fk_patterns_supersedes"), ("superseded_by_id", "fk_patterns_superseded_by"))


def upgrade() -> None:
    for column, constraint in LINKS:
        op.add_column("patterns", sa.Column(column, sa.BigInteger(), nullable=True))
        op.create_foreign_key(constraint, "patterns", "patterns", [column], ["id"], ondelete="SET NULL")
        op.create_index(
            f"ix_patterns_{column}", "patterns", [column], postgresql_where=sa.text(f"{column} IS NOT NULL")
        )
    op.drop_constraint("uq_patterns_owner_category_name", "patterns", type_="unique")
    op.create_index(
        "uq_patterns_owner_category_name_current",
        "patterns",
        ["owner_id", "category", "pattern_name"],
        unique=True,
        postgresql_where=sa.text("superseded_by_id IS NULL"),
    )


def downgrade() -> None:
    op.execute("DELETE FROM patterns WHERE superseded_by_id IS NOT NULL")
    op.drop_index("uq_patterns_owner_category_name_current", table_name="patterns")
    op.create_unique_constraint("uq_patterns_owner_category_name", "patterns", ["owner_id", "category", "pattern_name"])
    for column, constraint in LINKS:
        op.drop_index(f"ix_patterns_{column}", table_name="patterns")
        op.drop_constraint(constraint, "patterns", type_="foreignkey")
        op.drop_column("patterns", column)
