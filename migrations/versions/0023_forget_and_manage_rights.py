"""Deleting memories and managing the account's keys become rights of their
own (memory:forget, account:manage), apart from writing. Every credential
keeps what it could do: a key that could write could also delete and manage
keys, so it now holds both; an OAuth client, grant or token that could write
could also delete, so it holds memory:forget (OAuth tokens never managed
keys). Read-only credentials stay read-only.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OAUTH_TABLES = ("oauth_pending_authorizations", "oauth_grants", "oauth_authorization_codes", "oauth_tokens")


def upgrade() -> None:
    op.execute(
        'UPDATE api_keys SET scopes = scopes || \'["memory:forget", "account:manage"]\'::jsonb '
        "WHERE scopes ? 'memory:write' AND NOT scopes ? 'memory:forget'"
    )
    op.execute(
        "ALTER TABLE api_keys ALTER COLUMN scopes SET DEFAULT "
        '\'["memory:read", "memory:write", "memory:forget", "account:manage"]\'::jsonb'
    )
    for table in OAUTH_TABLES:
        op.execute(
            f"UPDATE {table} SET scopes = scopes || '[\"memory:forget\"]'::jsonb "
            "WHERE scopes ? 'memory:write' AND NOT scopes ? 'memory:forget'"
        )
    op.execute(
        "UPDATE oauth_clients SET scope = scope || ' memory:forget' "
        "WHERE ' ' || scope || ' ' LIKE '% memory:write %' AND ' ' || scope || ' ' NOT LIKE '% memory:forget %'"
    )


def downgrade() -> None:
    op.execute('ALTER TABLE api_keys ALTER COLUMN scopes SET DEFAULT \'["memory:read", "memory:write"]\'::jsonb')
    for table in ("api_keys", *OAUTH_TABLES):
        op.execute(f"UPDATE {table} SET scopes = scopes - 'memory:forget' - 'account:manage'")
    op.execute("UPDATE oauth_clients SET scope = btrim(replace(' ' || scope || ' ', ' memory:forget ', ' '))")
