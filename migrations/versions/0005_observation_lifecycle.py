"""Observations get versions, duplicate detection and the time they happened.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Two observations say the same thing when they have the same word stems in
# the same order, once stop words, case, punctuation and the word "user" are
# set aside, and the same number of negations ("not" is an English stop
# word, so it is counted separately). A text of stop words alone keys on
# its words, lower-cased.
OBSERVATION_KEY = r"""
CREATE OR REPLACE FUNCTION observation_key(body text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT md5(
    coalesce(
      (SELECT string_agg(lexeme, ' ' ORDER BY first_position)
         FROM (SELECT word.lexeme, min(position) AS first_position
                 FROM unnest(to_tsvector('english'::regconfig, body)) AS word,
                      unnest(word.positions) AS position
                WHERE word.lexeme <> 'user'
                GROUP BY word.lexeme) AS stems),
      btrim(regexp_replace(lower(body), '[^[:alnum:]]+', ' ', 'g')))
    || '|' || (SELECT count(*) FROM regexp_matches(lower(body), '\m(not|no|never|nor|cannot|without)\M|n''t\M', 'g'))
  )
$$
"""


def upgrade() -> None:
    op.add_column("observations", sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "observations",
        sa.Column(
            "supersedes_id",
            sa.BigInteger(),
            sa.ForeignKey("observations.id", ondelete="SET NULL", name="fk_observations_supersedes"),
            nullable=True,
        ),
    )
    op.add_column(
        "observations",
        sa.Column(
            "superseded_by_id",
            sa.BigInteger(),
            sa.ForeignKey("observations.id", ondelete="SET NULL", name="fk_observations_superseded_by"),
            nullable=True,
        ),
    )
    op.add_column("observations", sa.Column("seen_count", sa.Integer(), server_default=sa.text("1"), nullable=False))
    op.add_column("observations", sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(OBSERVATION_KEY)
    op.add_column(
        "observations",
        sa.Column("text_key", sa.String(32), sa.Computed("observation_key(observation)", persisted=True)),
    )
    op.create_index("ix_observations_owner_text_key", "observations", ["owner_id", "text_key"])


def downgrade() -> None:
    op.drop_index("ix_observations_owner_text_key", table_name="observations")
    for column in ("text_key", "last_seen_at", "seen_count", "superseded_by_id", "supersedes_id", "occurred_at"):
        op.drop_column("observations", column)
    op.execute("DROP FUNCTION observation_key(text)")
