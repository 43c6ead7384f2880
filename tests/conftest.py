"""Session fixtures: one embedded PostgreSQL + pgvector for the whole run.

Tests isolate themselves by owner (each makes its own users), which is also
the product's own guarantee; nothing is mocked.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import db  # noqa: E402
from server import create_app  # noqa: E402
from tests.support import serve  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def database(tmp_path_factory: pytest.TempPathFactory):
    embedded = db.EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    url = embedded.start()
    os.environ["MEMORYGATE_TEST_DATABASE_URL"] = url
    db.configure_engine(url)
    db.init_db()
    yield url
    db.dispose_engine()
    embedded.stop()


@pytest.fixture(autouse=True)
def bound_engine(database: str):
    """Servers dispose the shared engine when they stop; rebind it per test."""
    db.configure_engine(database)
    yield


@pytest.fixture(scope="module")
def server():
    """A MemoryGate with the local embedding model and authentication on."""
    with serve(create_app) as served:
        yield served


@pytest.fixture(scope="module")
def keyword_server():
    with serve(create_app, embedding_provider="none") as served:
        yield served
