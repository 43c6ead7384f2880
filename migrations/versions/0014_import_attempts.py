"""Import jobs count their attempts, so only the latest run of a job may finish it.

A job started again (it looked interrupted) while its earlier run was still
alive ran twice; a job cancelled while it waited for another import still
added its rows. Each claim now takes the next attempt number, and a run
commits only while the job is still running under its own number.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("import_jobs", sa.Column("attempt", sa.Integer(), nullable=False, server_default=sa.text("0")))


def downgrade() -> None:
    op.drop_column("import_jobs", "attempt")
