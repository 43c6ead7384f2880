"""A concept is found by its aliases' words too ("Bob" finds Robert, whose
alias it is): concepts.aliases_text holds them, kept by a trigger on
concept_aliases whoever writes them (the tool, an import, an undo), and the
full-text vector includes it. The vector column is generated, so it is made
again, with its index.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWNER_LEXEME = "to_tsvector('simple', 'owner' || replace(owner_id::text, '-', ''))"
WITH_ALIASES = (
    "coalesce(name, '') || ' ' || aliases_text || ' ' || coalesce(description, '') || ' ' || coalesce(domain, '')"
)
WITHOUT = "coalesce(name, '') || ' ' || coalesce(description, '') || ' ' || coalesce(domain, '')"

KEEP_ALIASES_TEXT = """
CREATE FUNCTION keep_concept_aliases_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE concepts SET aliases_text = coalesce(
    (SELECT string_agg(alias, ' ' ORDER BY alias) FROM concept_aliases WHERE concept_id = concepts.id), '')
  WHERE id IN (
    SELECT concept_id FROM (SELECT NEW.concept_id AS concept_id WHERE TG_OP <> 'DELETE'
                            UNION SELECT OLD.concept_id WHERE TG_OP <> 'INSERT') AS touched);
  RETURN NULL;
END $$;
CREATE TRIGGER concept_aliases_text AFTER INSERT OR UPDATE OR DELETE ON concept_aliases
  FOR EACH ROW EXECUTE FUNCTION keep_concept_aliases_text();
"""


def _search_vector(expression: str) -> None:
    op.execute("DROP INDEX IF EXISTS ix_concepts_search_tsv")
    op.execute("ALTER TABLE concepts DROP COLUMN search_tsv")
    op.execute(
        f"ALTER TABLE concepts ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS "
        f"({OWNER_LEXEME} || to_tsvector('english', {expression})) STORED"
    )
    op.execute("CREATE INDEX ix_concepts_search_tsv ON concepts USING gin (search_tsv) WITH (fastupdate = off)")


def upgrade() -> None:
    op.execute("ALTER TABLE concepts ADD COLUMN aliases_text text NOT NULL DEFAULT ''")
    op.execute(KEEP_ALIASES_TEXT)
    op.execute(
        "UPDATE concepts SET aliases_text = held.names FROM (SELECT concept_id, string_agg(alias, ' ' ORDER BY alias) "
        "AS names FROM concept_aliases GROUP BY concept_id) AS held WHERE held.concept_id = concepts.id"
    )
    _search_vector(WITH_ALIASES)


def downgrade() -> None:
    _search_vector(WITHOUT)
    op.execute("DROP TRIGGER concept_aliases_text ON concept_aliases")
    op.execute("DROP FUNCTION keep_concept_aliases_text()")
    op.execute("ALTER TABLE concepts DROP COLUMN aliases_text")
