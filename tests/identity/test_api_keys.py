"""API keys and client credentials over HTTP, used from a real MCP client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bcrypt
import httpx
import pytest
from sqlalchemy import select, update

from oauth_models import APIKey, User
from server import create_app
from tests.fakes import github_profile
from tests.support import (
    browser_login,
    call,
    call_error,
    mcp_client,
    run_cli,
    serve,
    session_scope,
    subprocess_env,
    user_with_key,
)


@pytest.fixture
def signed_in(auth_server, github, new_browser):
    """A browser signed in through the fake GitHub, as a fresh user."""
    signed_in.counter = getattr(signed_in, "counter", 9000) + 1
    github.next_profile = github_profile(signed_in.counter, f"keyholder{signed_in.counter}")
    browser, done = browser_login(auth_server.url, "github", new_browser())
    assert done.status_code == 302
    return browser


def _new_key(server, browser, **body) -> dict:
    response = browser.post(server.url + "/auth/api-keys", json={"name": "laptop", **body})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"].startswith("no-store")
    return response.json()


async def test_key_lifecycle_create_list_use_and_revoke(auth_server, signed_in):
    created = _new_key(auth_server, signed_in)
    key = created["api_key"]
    assert key.startswith("mg_") and len(key) >= 46 and created["key_prefix"] == key[:11]

    listed = signed_in.get(auth_server.url + "/auth/api-keys").json()["api_keys"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert set(listed[0]) == {
        "id",
        "name",
        "key_prefix",
        "scopes",
        "created_at",
        "last_used",
        "usage_count",
        "expires_at",
        "revoked",
        "space_ids",
        "space_scopes",
    }
    assert listed[0]["space_ids"] is None and listed[0]["space_scopes"] is None  # every space, every right
    assert key not in str(listed)

    with session_scope() as session:
        stored = session.get(APIKey, created["id"])
        assert stored.key_hash.startswith("$2b$") and bcrypt.checkpw(key.encode(), stored.key_hash.encode())

    for header in ("authorization", "x-api-key"):
        async with mcp_client(auth_server.url, key, header=header) as client:
            assert (await call(client, "memory_store", observation=f"via {header}"))["stored"]

    me = httpx.get(auth_server.url + "/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.json()["provider"] == "github"

    async with mcp_client(auth_server.url, key) as client:
        revoked = signed_in.delete(f"{auth_server.url}/auth/api-keys/{created['id']}")
        assert revoked.json() == {"revoked": True, "id": created["id"]}
        with pytest.raises(Exception):  # noqa: B017  (the SDK wraps the HTTP 401)
            await call(client, "memory_stats")
    refused = httpx.post(auth_server.url + "/mcp", json={}, headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 401
    assert signed_in.get(auth_server.url + "/auth/api-keys").json()["api_keys"][0]["revoked"] is True


async def test_usage_is_counted_in_memory_and_flushed_in_one_batch(auth_server, signed_in):
    key = _new_key(auth_server, signed_in)["api_key"]
    async with mcp_client(auth_server.url, key) as client:
        for _ in range(3):
            await call(client, "memory_stats")
    with session_scope() as session:
        before = session.scalars(select(APIKey.usage_count).where(APIKey.key_prefix == key[:11])).one()
    assert before == 0  # no write per request
    with session_scope() as session:
        written = auth_server.app.state.auth_state.usage.flush(session)
    assert written >= 3
    listed = signed_in.get(auth_server.url + "/auth/api-keys").json()["api_keys"][0]
    assert listed["usage_count"] >= 3 and listed["last_used"] is not None


async def test_expired_key_is_refused_even_when_cached(auth_server):
    owner, key = user_with_key(expires_at=datetime.now(UTC) + timedelta(hours=1))
    async with mcp_client(auth_server.url, key) as client:
        await call(client, "memory_stats")
    with session_scope() as session:
        session.execute(
            update(APIKey).where(APIKey.user_id == owner).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    auth_server.app.state.auth_state.cache.evict_user(owner)
    response = httpx.post(auth_server.url + "/mcp", json={}, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401

    _, short_lived = user_with_key(expires_at=datetime.now(UTC) - timedelta(minutes=1))
    response = httpx.post(auth_server.url + "/mcp", json={}, headers={"X-API-Key": short_lived})
    assert response.status_code == 401


def test_inactive_user_is_refused(auth_server):
    owner, key = user_with_key()
    with session_scope() as session:
        session.execute(update(User).where(User.id == owner).values(is_active=False))
    response = httpx.post(auth_server.url + "/mcp", json={}, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401


def test_revoking_someone_elses_or_an_unknown_key_is_404(auth_server, signed_in):
    owner, _ = user_with_key()
    with session_scope() as session:
        theirs = session.scalars(select(APIKey.id).where(APIKey.user_id == owner)).one()
    for key_id in (str(theirs), "00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        assert signed_in.delete(f"{auth_server.url}/auth/api-keys/{key_id}").status_code == 404
    with session_scope() as session:
        assert session.get(APIKey, theirs).revoked is False


async def test_read_only_key_cannot_write_or_mint_broader_keys(auth_server, signed_in):
    read_only = _new_key(auth_server, signed_in, scopes=["memory:read"])
    assert read_only["scopes"] == ["memory:read"]
    async with mcp_client(auth_server.url, read_only["api_key"]) as client:
        assert "Insufficient scope" in await call_error(client, "memory_store", observation="nope")
        assert (await call(client, "memory_stats"))["counts"]["observations"] == 0
    escalate = httpx.post(
        auth_server.url + "/auth/api-keys",
        json={"name": "x"},
        headers={"Authorization": f"Bearer {read_only['api_key']}"},
    )
    assert escalate.status_code == 403


def test_key_routes_need_a_caller_and_validate_input(auth_server, signed_in):
    assert httpx.get(auth_server.url + "/auth/api-keys").status_code == 401
    assert httpx.get(auth_server.url + "/auth/me").status_code == 401
    bad = signed_in.post(auth_server.url + "/auth/api-keys", json={"name": "", "expires_in_days": 0})
    assert bad.status_code == 422
    fields = {tuple(error["loc"])[-1] for error in bad.json()["detail"]}
    assert fields == {"name", "expires_in_days"}


def test_cookie_requests_from_foreign_origins_are_refused(auth_server, signed_in):
    response = signed_in.post(
        auth_server.url + "/auth/api-keys", json={"name": "csrf"}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert signed_in.get(auth_server.url + "/auth/api-keys").json()["api_keys"] == []


async def test_client_credentials_trade_for_a_working_key(auth_server):
    body = {"client_id": "pstryder-desktop", "client_secret": "desktop-secret-0123456789"}
    response = httpx.post(auth_server.url + "/auth/client", json=body)
    assert response.status_code == 200
    assert response.headers["cache-control"].startswith("no-store")
    issued = response.json()
    assert set(issued) == {"api_key", "key_prefix", "user_id", "expires_at"}
    async with mcp_client(auth_server.url, issued["api_key"]) as client:
        assert (await call(client, "memory_store", observation="from the desktop app"))["stored"]
    me = httpx.get(auth_server.url + "/auth/me", headers={"X-API-Key": issued["api_key"]}).json()
    assert me["email"] == "pstryder-desktop@client.memorygate.internal"
    assert me["provider"] == "client_credentials" and me["id"] == issued["user_id"]

    again = httpx.post(auth_server.url + "/auth/client", json=body).json()
    assert again["user_id"] == issued["user_id"] and again["api_key"] != issued["api_key"]


@pytest.mark.parametrize(
    "body",
    [
        {"client_id": "pstryder-desktop", "client_secret": "wrong"},
        {"client_id": "someone-else", "client_secret": "desktop-secret-0123456789"},
    ],
)
def test_client_credentials_wrong_is_401(auth_server, body):
    assert httpx.post(auth_server.url + "/auth/client", json=body).status_code == 401


def test_client_credentials_missing_is_422_naming_the_field(auth_server):
    response = httpx.post(auth_server.url + "/auth/client", json={"client_id": "pstryder-desktop"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "client_secret"


def test_client_credentials_not_configured_is_404():
    with serve(create_app) as bare:
        response = httpx.post(bare.url + "/auth/client", json={"client_id": "a", "client_secret": "b"})
        assert response.status_code == 404


@pytest.mark.slow
def test_create_key_cli_prints_a_key_for_a_new_account(tmp_path):
    result = run_cli(
        "create-key",
        "--email",
        "cli@example.com",
        "--name",
        "laptop",
        "--read-only",
        env=subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path)),
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert result.stdout == key + "\n" and key.startswith("mg_")  # stdout holds the key alone
    assert "An API key for cli@example.com that may read;" in result.stderr
    # Routine chatter stays out of sight at the default log level.
    assert "alembic" not in result.stderr and "XDG_RUNTIME_DIR" not in result.stderr
    refused = run_cli("create-key", "--email", "not-an-email", env=subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path)))
    assert refused.returncode == 2 and "--email" in refused.stderr and refused.stdout == ""


async def test_usage_counters_are_flushed_at_shutdown():
    owner, key = user_with_key()
    with serve(create_app) as served:
        async with mcp_client(served.url, key) as client:
            for _ in range(4):
                await call(client, "memory_stats")
    with session_scope() as session:
        stored = session.scalars(select(APIKey).where(APIKey.user_id == owner)).one()
        assert stored.usage_count >= 4 and stored.last_used is not None
