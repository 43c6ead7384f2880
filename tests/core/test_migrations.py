"""Alembic: the baseline builds the whole schema, and models and database agree."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from memory import search_indexes
from tests.managed_postgres import APP_ROLE, ManagedPostgres
from tests.support import ROOT, ServerProcess, run_cli, subprocess_env

pytestmark = pytest.mark.slow


@pytest.fixture
def empty_database() -> Iterator[str]:
    admin_url = make_url(os.environ["MEMORYGATE_TEST_DATABASE_URL"])
    name = f"migrations_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def alembic(*args: str, url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=ROOT,
        env=subprocess_env(DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_upgrade_on_an_empty_database_then_models_and_database_agree(empty_database):
    upgraded = alembic("upgrade", "head", url=empty_database)
    assert upgraded.returncode == 0, upgraded.stderr
    checked = alembic("check", url=empty_database)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No new upgrade operations detected" in checked.stdout + checked.stderr

    engine = create_engine(empty_database)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar()
        indexes = set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")).scalars())
        tables = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
    engine.dispose()
    assert {
        "ix_embeddings_hnsw_all_minilm_l6_v2",
        "ix_embeddings_hnsw_bge_small_en_v1_5",
        "ix_observations_search_tsv",
        "uq_concepts_owner_lower_name",
    } <= indexes
    assert {"users", "observations", "embeddings", "oauth_tokens", "alembic_version"} <= tables


def test_downgrade_removes_the_schema_cleanly(empty_database):
    assert alembic("upgrade", "head", url=empty_database).returncode == 0
    downgraded = alembic("downgrade", "base", url=empty_database)
    assert downgraded.returncode == 0, downgraded.stderr
    engine = create_engine(empty_database)
    with engine.connect() as conn:
        left = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
    engine.dispose()
    assert left <= {"alembic_version"}


def test_production_server_refuses_an_unmigrated_database_and_says_how_to_fix_it(empty_database):
    with pytest.raises(RuntimeError) as refused:
        ServerProcess(subprocess_env(DATABASE_URL=empty_database, EMBEDDING_PROVIDER="none")).start()
    assert "python server.py migrate" in str(refused.value)


def test_the_migrations_create_the_live_vector_index_definitions():
    migrations = "".join(path.read_text() for path in (ROOT / "migrations" / "versions").glob("*.py"))
    for statement in search_indexes.vector_index_statements():
        assert statement in migrations, statement


def test_a_role_that_may_not_create_pgvector_is_told_what_to_run_and_nothing_is_written(tmp_path):
    managed = ManagedPostgres(tmp_path, vector_preinstalled=False).start()
    try:
        refused = run_cli("migrate", env=subprocess_env(DATABASE_URL=managed.url))
        assert refused.returncode == 1
        assert "CREATE EXTENSION vector;" in refused.stderr and "'memorygate'" in refused.stderr
        assert "Traceback" not in refused.stderr and managed.app_password not in refused.stdout + refused.stderr
        with managed.admin_connection(APP_ROLE) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            assert cursor.fetchall() == []

        managed.install_vector()
        migrated = run_cli("migrate", env=subprocess_env(DATABASE_URL=managed.url))
        assert migrated.returncode == 0, migrated.stderr
    finally:
        managed.stop()


def test_times_stored_before_they_were_checked_become_readable(empty_database):
    assert alembic("upgrade", "0014", url=empty_database).returncode == 0
    engine = create_engine(empty_database)
    with engine.begin() as conn:
        owner = conn.execute(
            text(
                "INSERT INTO users (id, email, oauth_provider, oauth_subject) "
                "VALUES (:id, 'far@example.com', 'local', 'far') RETURNING id"
            ),
            {"id": uuid.uuid4()},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO observations (owner_id, observation, confidence, occurred_at) VALUES "
                "(:owner, 'far future', 0.5, '9999-12-31T23:59:59-14:00'), (:owner, 'ordinary', 0.5, '2024-05-01')"
            ),
            {"owner": owner},
        )
    upgraded = alembic("upgrade", "head", url=empty_database)
    assert upgraded.returncode == 0, upgraded.stderr
    with engine.connect() as conn:  # psycopg2 turns each into a Python datetime: it must be able to
        times = dict(conn.execute(text("SELECT observation, occurred_at FROM observations")).all())
    engine.dispose()
    assert times["far future"].year == 9999 and times["ordinary"].year == 2024


def test_credentials_keep_what_they_could_do_when_forget_and_manage_become_rights(empty_database):
    assert alembic("upgrade", "0022", url=empty_database).returncode == 0
    engine = create_engine(empty_database)
    with engine.begin() as conn:
        owner = conn.execute(
            text(
                "INSERT INTO users (id, email, oauth_provider, oauth_subject) "
                "VALUES (:id, 'keys@example.com', 'local', 'keys') RETURNING id"
            ),
            {"id": uuid.uuid4()},
        ).scalar_one()
        for name, scopes in (("writer", '["memory:read", "memory:write"]'), ("reader", '["memory:read"]')):
            conn.execute(
                text(
                    "INSERT INTO api_keys (id, user_id, name, key_prefix, key_hash, scopes) "
                    "VALUES (:id, :owner, :name, :prefix, 'x', CAST(:scopes AS jsonb))"
                ),
                {"id": uuid.uuid4(), "owner": owner, "name": name, "prefix": f"mg_{name}", "scopes": scopes},
            )
        conn.execute(
            text(
                "INSERT INTO oauth_clients (client_id, token_endpoint_auth_method, client_name, redirect_uris, "
                "grant_types, scope) VALUES ('c1', 'none', 'agent', CAST('[\"http://127.0.0.1/cb\"]' AS jsonb), "
                "CAST('[\"authorization_code\"]' AS jsonb), 'memory:read memory:write')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO oauth_grants (id, user_id, client_id, scopes, resource) "
                "VALUES (:id, :owner, 'c1', CAST(:scopes AS jsonb), 'http://localhost/mcp')"
            ),
            {"id": uuid.uuid4(), "owner": owner, "scopes": '["memory:read", "memory:write"]'},
        )
    assert alembic("upgrade", "head", url=empty_database).returncode == 0
    with engine.connect() as conn:
        keys = dict(conn.execute(text("SELECT name, scopes FROM api_keys")).all())
        client_scope = conn.execute(text("SELECT scope FROM oauth_clients")).scalar_one()
        grant_scopes = conn.execute(text("SELECT scopes FROM oauth_grants")).scalar_one()
    engine.dispose()
    assert keys == {
        "writer": ["memory:read", "memory:write", "memory:forget", "account:manage"],  # it could delete and manage
        "reader": ["memory:read"],
    }
    assert client_scope == "memory:read memory:write memory:forget"  # so it may step up to forget
    assert grant_scopes == ["memory:read", "memory:write", "memory:forget"]  # OAuth never managed keys
