"""Alembic environment: MemoryGate's models are the target schema.

The URL comes from the connection core/db.py hands over (``config.attributes
["connection"]``, used when the app migrates itself on start) or from
DATABASE_URL (the `alembic` command line and Fly's release command).
Per-model HNSW indexes are managed by memory/search_indexes.py in the migrations
themselves, so comparisons leave them out.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

import models
import oauth_models  # noqa: F401  (registers the account tables)
from core.db import normalize_url

config = context.config
target_metadata = models.Base.metadata


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "index" and name and name.startswith("ix_embeddings_hnsw_"))


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=True,
        compare_server_default=False,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("Set DATABASE_URL to the database to migrate.")
    engine = create_engine(normalize_url(url), poolclass=pool.NullPool)
    with engine.connect() as conn:
        run(conn)
