"""Spaces: an account's memory in parts kept apart. Every memory table's
owner_id now references spaces.id instead of users.id. Each account gets a
default space whose id is the account's own, so every existing memory is in
it without a row changing; a trigger gives every new account one. Retention
moves from the account to each space (the default space keeps the account's
setting), and API keys and OAuth grants may be limited to some spaces.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWNED_TABLES = (
    "ai_instances",
    "sessions",
    "observations",
    "patterns",
    "concepts",
    "concept_aliases",
    "concept_relationships",
    "documents",
    "turns",
    "embeddings",
    "import_jobs",
    "forgotten_memories",
)
DEFAULT_NAME = "personal"

GIVE_DEFAULT_SPACE = f"""
CREATE FUNCTION give_account_default_space() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO spaces (id, owner_user_id, name, name_key) VALUES (NEW.id, NEW.id, '{DEFAULT_NAME}', '{DEFAULT_NAME}');
  RETURN NEW;
END $$;
CREATE TRIGGER users_default_space AFTER INSERT ON users
  FOR EACH ROW EXECUTE FUNCTION give_account_default_space();
"""


def _owner_foreign_key(table: str) -> str | None:
    """The name of ``table``'s foreign key on owner_id (named by whoever made it)."""
    return op.get_bind().scalar(
        sa.text(
            "SELECT conname FROM pg_constraint WHERE conrelid = CAST(:table AS regclass) AND contype = 'f' "
            "AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = CAST(:table AS regclass) "
            "AND attname = 'owner_id')]"
        ),
        {"table": table},
    )


def _point_owners_at(target: str) -> None:
    for table in OWNED_TABLES:
        existing = _owner_foreign_key(table)
        if existing:
            op.drop_constraint(existing, table, type_="foreignkey")
        op.create_foreign_key(f"fk_{table}_owner_{target}", table, target, ["owner_id"], ["id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "spaces",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "owner_user_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("name_key", sa.String(64), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("owner_user_id", "name_key", name="uq_spaces_owner_name_key"),
    )
    op.create_index("ix_spaces_owner_user_id", "spaces", ["owner_user_id"])
    op.execute(
        "INSERT INTO spaces (id, owner_user_id, name, name_key, retention_days, created_at) "
        f"SELECT id, id, '{DEFAULT_NAME}', '{DEFAULT_NAME}', retention_days, created_at FROM users"
    )
    op.execute(GIVE_DEFAULT_SPACE)
    _point_owners_at("spaces")
    op.drop_column("users", "retention_days")
    op.add_column("api_keys", sa.Column("space_ids", postgresql.ARRAY(postgresql.UUID(as_uuid=True)), nullable=True))
    op.add_column(
        "oauth_grants", sa.Column("space_ids", postgresql.ARRAY(postgresql.UUID(as_uuid=True)), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("oauth_grants", "space_ids")
    op.drop_column("api_keys", "space_ids")
    op.add_column("users", sa.Column("retention_days", sa.Integer(), nullable=True))
    op.execute("UPDATE users SET retention_days = s.retention_days FROM spaces AS s WHERE s.id = users.id")
    # Memories of other spaces cannot name an account: they go with their spaces.
    for table in OWNED_TABLES:
        op.execute(f"DELETE FROM {table} WHERE owner_id NOT IN (SELECT id FROM users)")
    _point_owners_at("users")
    op.execute("DROP TRIGGER users_default_space ON users")
    op.execute("DROP FUNCTION give_account_default_space()")
    op.drop_table("spaces")
