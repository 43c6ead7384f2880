"""Session fixtures: one embedded PostgreSQL + pgvector for the whole run.

Tests isolate themselves by owner (each makes its own users), which is also
the product's own guarantee; nothing is mocked.
"""

from __future__ import annotations

import os

import httpx
import pytest

from core import db, embedded_postgres
from memory.embeddings import LocalEmbeddings
from server import create_app
from tests.fakes import FakeGitHub, FakeGoogle
from tests.support import PROOF_COUNTS, TEST_DATABASE, serve, serve_asgi


def pytest_terminal_summary(terminalreporter) -> None:
    if not PROOF_COUNTS:
        return
    terminalreporter.section("proof under bad input")
    for name, counts in PROOF_COUNTS.items():
        terminalreporter.write_line(f"{name}: " + ", ".join(f"{n} {label}" for label, n in counts.items()))


@pytest.fixture(scope="session", autouse=True)
def database(tmp_path_factory: pytest.TempPathFactory):
    embedded = embedded_postgres.EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    url = embedded.start()
    os.environ["MEMORYGATE_TEST_DATABASE_URL"] = url
    db.init_db(TEST_DATABASE.connect(url))
    yield url
    TEST_DATABASE.dispose()
    embedded.stop()


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbeddings:
    """The bundled model, for tools called in memory (tests.support.tool_client)."""
    return LocalEmbeddings()


@pytest.fixture(scope="module")
def server():
    """A MemoryGate with the local embedding model and authentication on."""
    with serve(create_app) as served:
        yield served


@pytest.fixture(scope="module")
def keyword_server():
    with serve(create_app, embedding_provider="none") as served:
        yield served


@pytest.fixture
def new_browser():
    """Make cookie-keeping HTTP clients (browsers); all closed after the test."""
    made: list[httpx.Client] = []

    def make() -> httpx.Client:
        made.append(httpx.Client(timeout=30))
        return made[-1]

    yield make
    for browser in made:
        browser.close()


@pytest.fixture(scope="module")
def google():
    fake = FakeGoogle()
    with serve_asgi(fake.app()) as served:
        fake.base_url = served.url
        yield fake


@pytest.fixture(scope="module")
def github():
    fake = FakeGitHub()
    with serve_asgi(fake.app()) as served:
        fake.base_url = served.url
        yield fake


def provider_settings(google: FakeGoogle, github: FakeGitHub) -> dict:
    return {
        "google_client_id": google.client_id,
        "google_client_secret": google.client_secret,
        "google_discovery_url": google.base_url + "/.well-known/openid-configuration",
        "github_client_id": github.client_id,
        "github_client_secret": github.client_secret,
        "github_base_url": github.base_url,
        "github_api_url": github.base_url + "/api",
        "desktop_client_id": "pstryder-desktop",
        "desktop_client_secret": "desktop-secret-0123456789",
    }


@pytest.fixture(scope="module")
def auth_server(google, github):
    """MemoryGate wired to the fake Google and GitHub and to client credentials."""
    with serve(create_app, **provider_settings(google, github)) as served:
        yield served
