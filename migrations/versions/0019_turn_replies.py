"""A turn keeps the start of the turn that answered it, embedded with it
(memory/turns.py: link_replies). Turns kept before it have none: they are
given theirs here, and their vectors are dropped so the background pass
embeds them again with it (search finds them by their words meanwhile).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPLY_CHARS = 60  # memory/turns.py's, as it was when this was written


def upgrade() -> None:
    op.add_column("turns", sa.Column("reply", sa.String(300)))
    op.execute(
        "UPDATE turns AS t SET reply = n.speaker || ': ' || left(n.text, "
        f"{REPLY_CHARS}) FROM turns AS n "
        "WHERE n.session_id = t.session_id AND n.position = t.position + 1"
    )
    op.execute(
        "DELETE FROM embeddings AS e USING turns AS t "
        "WHERE e.source_type = 'turn' AND e.source_id = t.id AND e.owner_id = t.owner_id AND t.reply IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_column("turns", "reply")
