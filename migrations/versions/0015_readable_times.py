"""Times stored before they were checked are brought into the range Python reads back.

PostgreSQL stores times past year 9999 once in UTC (``9999-12-31T23:59:59-14:00``),
which Python cannot read: the account's search, page and export failed on
such a row, and so did the embedding backfill for everyone. Times are now
refused outside 0001-01-02 .. 9999-12-30 (UTC); any already stored in the
columns a caller or an import could set are moved to the nearest end.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns set from what a caller or an imported file says.
SETTABLE_TIMES = {
    "observations": ("created_at", "last_accessed", "occurred_at", "last_seen_at", "archived_at"),
    "patterns": ("created_at", "last_updated", "last_accessed", "archived_at"),
    "concepts": ("created_at", "updated_at", "last_accessed", "archived_at"),
    "documents": ("created_at", "last_accessed", "archived_at"),
    "concept_relationships": ("created_at",),
    "ai_instances": ("first_seen", "last_seen"),
    "sessions": ("started_at", "last_active"),
}
EARLIEST, LATEST = "0001-01-02 00:00:00+00", "9999-12-30 00:00:00+00"


def upgrade() -> None:
    for table, columns in SETTABLE_TIMES.items():
        for column in columns:
            op.execute(
                f"UPDATE {table} SET {column} = least(greatest({column}, TIMESTAMPTZ '{EARLIEST}'), "
                f"TIMESTAMPTZ '{LATEST}') "
                f"WHERE {column} < TIMESTAMPTZ '{EARLIEST}' OR {column} > TIMESTAMPTZ '{LATEST}'"
            )


def downgrade() -> None:
    """Nothing to undo: the times moved were unreadable."""
