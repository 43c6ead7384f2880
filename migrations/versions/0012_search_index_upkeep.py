"""Memory tables keep room for in-place updates; their full-text indexes no
pending list.

Counting a read updates a memory's row (batched). In a full page the new
version cannot stay on the page, so every index of the table gets an entry,
and a GIN index with PostgreSQL's default fastupdate keeps it in a pending
list that every full-text search reads through whole (up to 4 MB). With
fillfactor 90 such updates stay on the page (HOT: no index entries); with
fastupdate off a new memory's words go straight into the index. Pending
lists left from before are merged now.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 00:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("observations", "patterns", "concepts", "documents")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 90)")
        op.execute(f"ALTER INDEX ix_{table}_search_tsv SET (fastupdate = off)")
        op.execute(f"SELECT gin_clean_pending_list('ix_{table}_search_tsv')")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER INDEX ix_{table}_search_tsv RESET (fastupdate)")
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
