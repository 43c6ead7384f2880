"""The HTTP surface, and the real `python server.py` process end to end."""

from __future__ import annotations

import asyncio
import json
import os
import secrets

import httpx
import psutil
import pytest

from core import embedded_postgres
from core.settings import Settings
from models import Observation
from oauth_models import User
from server import create_app
from tests.fakes import FAKE_OPENAI_KEY, FakeOpenAI
from tests.support import (
    ServerProcess,
    call,
    key_from_cli_output,
    mcp_client,
    run_cli,
    serve,
    serve_asgi,
    session_scope,
    subprocess_env,
    user_with_key,
)

pytestmark = pytest.mark.slow

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def test_health_reports_database_pgvector_and_embedding_provider(server):
    response = httpx.get(server.url + "/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["pgvector"] == "0.8.5"
    assert body["embedding"] == {"provider": "local", "model": "bge-small-en-v1.5", "enabled": True}


def test_index_lists_the_endpoints(server):
    body = httpx.get(server.url + "/").json()
    assert body["service"] == "MemoryGate"
    assert body["endpoints"]["mcp"] == server.url + "/mcp"
    assert body["endpoints"]["health"] == server.url + "/health"
    assert body["endpoints"]["client_credentials"] == server.url + "/auth/client"


def test_both_mcp_paths_answer_without_a_redirect(server):
    _, key = user_with_key()
    for path in ("/mcp", "/mcp/"):
        response = httpx.post(
            server.url + path, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 200, (path, response.status_code)
        assert response.json()["result"]["serverInfo"]["name"] == "MemoryGate"


async def test_trailing_slash_url_works_with_a_real_client(server):
    _, key = user_with_key()
    async with mcp_client(server.url, key, path="/mcp/") as client:
        stored = await call(client, "memory_store", observation="Reached through /mcp/")
        assert stored["stored"] is True


async def test_without_required_auth_requests_act_as_the_local_owner():
    # Test servers use DATABASE_URL (production mode), where this must be forced.
    with serve(create_app, require_mcp_auth=False, allow_unauthenticated_mcp=True) as served:
        async with mcp_client(served.url) as client:
            stored = await call(client, "memory_store", observation="Local mode note")
        with session_scope() as session:
            owner = session.get(Observation, stored["id"]).owner_id
            assert session.get(User, owner).email == "local@memorygate.internal"


async def test_memories_survive_clean_restart_and_hard_kill(tmp_path):
    env = subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path / "data"))
    created = run_cli("create-key", "--email", "persist@example.com", env=env)
    assert created.returncode == 0, created.stdout + created.stderr
    key = key_from_cli_output(created.stdout)

    first = ServerProcess(env).start()
    async with mcp_client(first.url, key) as client:
        kept = await call(client, "memory_store", observation="Written before a clean restart")
    assert first.terminate()
    pgdata = str(tmp_path / "data" / "pgdata")
    assert not _postgres_running(pgdata), "clean shutdown must stop the embedded PostgreSQL"

    second = ServerProcess(env).start()
    async with mcp_client(second.url, key) as client:
        assert (await call(client, "memory_get", ref=kept["ref"]))["text"] == "Written before a clean restart"
        acknowledged = await call(client, "memory_store", observation="Acknowledged just before a crash")
    second.kill()

    third = ServerProcess(env).start()
    try:
        async with mcp_client(third.url, key) as client:
            assert (await call(client, "memory_get", ref=acknowledged["ref"]))["text"].startswith("Acknow")
            assert (await call(client, "memory_stats"))["counts"]["observations"] == 2
    finally:
        assert third.terminate()
    assert not _postgres_running(pgdata)


def test_health_turns_503_while_the_database_is_down_and_recovers(tmp_path):
    outside = embedded_postgres.EmbeddedPostgres(tmp_path)
    url = outside.start()
    assert run_cli("migrate", env=subprocess_env(DATABASE_URL=url)).returncode == 0
    key = key_from_cli_output(
        run_cli("create-key", "--email", "outage@example.com", env=subprocess_env(DATABASE_URL=url)).stdout
    )
    # Rate limits in the database too (production's default): they must not turn the outage into 500s.
    env = subprocess_env(DATABASE_URL=url, EMBEDDING_PROVIDER="none", RATE_LIMIT_STORAGE_URI="database")
    server = ServerProcess(env).start()
    try:
        assert httpx.get(server.url + "/health").status_code == 200
        assert _tool_call(server, key).status_code == 200  # the key is now cached
        outside.stop()
        # A cached key is still confirmed against its row, which cannot be read now: try again soon.
        during = _tool_call(server, key)
        assert during.status_code == 503 and during.headers["retry-after"] == "5"
        down = httpx.get(server.url + "/health", timeout=30)
        assert down.status_code == 503
        assert down.json()["database"] == "unreachable"
        gated = httpx.post(server.url + "/mcp", json={}, headers={"Authorization": "Bearer mg_" + "q" * 43}, timeout=30)
        assert gated.status_code == 503 and gated.headers["retry-after"] == "5"
        outside.start()
        assert httpx.get(server.url + "/health", timeout=30).status_code == 200
    finally:
        server.terminate()
        outside.stop()


def _postgres_running(pgdata: str) -> bool:
    for process in psutil.process_iter(attrs=("name", "cmdline")):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and pgdata in " ".join(cmdline):
            return True
    return False


def test_access_log_never_records_query_strings(tmp_path):
    server = ServerProcess(subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path), EMBEDDING_PROVIDER="none")).start()
    try:
        httpx.get(server.url + "/auth/callback/github", params={"code": "SECRETCODE123", "state": "SECRETSTATE456"})
        httpx.get(server.url + "/health")
    finally:
        assert server.terminate()
    access = [json.loads(line) for line in server.log.splitlines() if '"logger": "uvicorn.access"' in line]
    assert any("GET /auth/callback/github HTTP/1.1" in entry["message"] for entry in access)
    assert "SECRETCODE123" not in server.log and "SECRETSTATE456" not in server.log


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"REQUIRE_MCP_AUTH": "false"}, "ALLOW_UNAUTHENTICATED_MCP"),
        ({"OAUTH_REDIRECT_BASE": "http://memory.example.com"}, "OAUTH_REDIRECT_BASE"),
        ({"GITHUB_CLIENT_ID": "Iv1.abc", "GITHUB_CLIENT_SECRET": "your-github-secret"}, "GITHUB_CLIENT_SECRET"),
        ({"GOOGLE_CLIENT_ID": "123.apps.googleusercontent.com"}, "GOOGLE_CLIENT_SECRET"),
        ({"PSTRYDER_DESKTOP": "desk", "PSTRYDER_DESKTOP_SECRET": "changeme"}, "PSTRYDER_DESKTOP_SECRET"),
    ],
)
def test_production_refuses_to_start_unsafely_and_says_why(env, reason):
    base = {
        "DATABASE_URL": "postgresql://user:pw@db.internal:5432/memorygate",
        "OAUTH_REDIRECT_BASE": "https://memory.example.com",
    }
    result = run_cli(env=subprocess_env(**{**base, **env}))
    assert result.returncode == 2
    assert "Refusing to start" in result.stderr and reason in result.stderr


def test_forced_unauthenticated_production_passes_the_checks():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://db/x",
            "OAUTH_REDIRECT_BASE": "https://m.example",
            "REQUIRE_MCP_AUTH": "false",
            "ALLOW_UNAUTHENTICATED_MCP": "true",
        }
    )
    assert settings.production_problems() == []


def _tool_call(server: ServerProcess, key: str) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "memory_stats", "arguments": {}}}
    return httpx.post(
        server.url + "/mcp",
        json=body,
        timeout=30,
        headers={"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"},
    )


FLY = {"TRUSTED_PROXIES": "*", "CLIENT_IP_HEADER": "Fly-Client-IP"}
ADDRESSES = ("198.51.100.1", "198.51.100.1", "198.51.100.2", "198.51.100.2")
ONE_ADDRESS = [401, 401, 429, 429]  # AUTH_FAILURE_LIMIT=2 per address
TWO_ADDRESSES = [401, 401, 401, 401]


@pytest.mark.parametrize(
    ("env", "forwarding", "expected"),
    [
        # No proxy trusted: every request counts against the connecting address.
        ({}, lambda address: {"X-Forwarded-For": address}, ONE_ADDRESS),
        ({"TRUSTED_PROXIES": "127.0.0.1"}, lambda address: {"X-Forwarded-For": address}, TWO_ADDRESSES),
        # A proxy appends the address it saw; what the client wrote before it is not believed.
        ({"TRUSTED_PROXIES": "127.0.0.0/8"}, lambda spoof: {"X-Forwarded-For": f"{spoof}, 203.0.113.9"}, ONE_ADDRESS),
        # Behind Fly only the header Fly's proxy writes counts; X-Forwarded-For is ignored.
        (FLY, lambda address: {"Fly-Client-IP": address, "X-Forwarded-For": "203.0.113.9"}, TWO_ADDRESSES),
        (FLY, lambda spoof: {"Fly-Client-IP": "203.0.113.9", "X-Forwarded-For": spoof}, ONE_ADDRESS),
        # From an untrusted peer even Fly-Client-IP is the client's own invention.
        ({**FLY, "TRUSTED_PROXIES": "10.0.0.0/8"}, lambda address: {"Fly-Client-IP": address}, ONE_ADDRESS),
    ],
    ids=["untrusted", "trusted", "appended", "fly", "fly-spoofed-xff", "fly-header-from-stranger"],
)
def test_forwarded_addresses_are_believed_only_from_trusted_proxies(env, forwarding, expected):
    server = ServerProcess(
        subprocess_env(
            DATABASE_URL=os.environ["MEMORYGATE_TEST_DATABASE_URL"],
            EMBEDDING_PROVIDER="none",
            AUTH_FAILURE_LIMIT="2",
            **env,
        )
    ).start()
    try:
        statuses = [
            httpx.post(
                server.url + "/mcp",
                json={},
                # Well-formed but unknown keys, each with its own prefix, so
                # only the per-address failure count can throttle them.
                headers={**forwarding(address), "Authorization": f"Bearer mg_{secrets.token_urlsafe(32)}"},
            ).status_code
            for address in ADDRESSES
        ]
        oversized = httpx.get(server.url + "/health", headers={"X-Padding": "p" * 20_000})
    finally:
        assert server.terminate()
    assert statuses == expected
    assert oversized.status_code in (400, 431)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TRUSTED_PROXIES": "10.0.0.0/33"}, "TRUSTED_PROXIES"),
        ({"CLIENT_IP_HEADER": "Fly Client IP"}, "CLIENT_IP_HEADER"),
    ],
)
def test_malformed_proxy_settings_stop_the_start_and_name_the_variable(env, named):
    result = run_cli(env=subprocess_env(**env))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and named in result.stderr and "Traceback" not in result.stderr


async def test_graceful_shutdown_finishes_the_request_in_flight(tmp_path):
    fake = FakeOpenAI(hold=True)
    with serve_asgi(fake.app()) as openai:
        env = subprocess_env(
            MEMORYGATE_DATA_DIR=str(tmp_path),
            EMBEDDING_PROVIDER="openai",
            OPENAI_API_KEY=FAKE_OPENAI_KEY,
            OPENAI_BASE_URL=openai.url + "/v1",
        )
        key = key_from_cli_output(run_cli("create-key", "--email", "inflight@example.com", env=env).stdout)
        server = ServerProcess(env).start()
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "memory_store", "arguments": {"observation": "Written while shutting down"}},
        }
        async with httpx.AsyncClient(timeout=60) as client:
            in_flight = asyncio.create_task(
                client.post(
                    server.url + "/mcp",
                    json=body,
                    headers={"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"},
                )
            )
            await asyncio.to_thread(fake.received.wait, 30)  # the store is now waiting on its embedding
            server.process.terminate()  # SIGTERM while the request is in flight
            fake.release.set()
            response = await in_flight
        assert server.finish()
        assert response.status_code == 200 and '"stored":true' in response.text.replace(" ", "")

        fake.hold = False
        again = ServerProcess(env).start()
        try:
            async with mcp_client(again.url, key) as client:
                recalled = await call(client, "memory_recall")
            assert [o["text"] for o in recalled["observations"]] == ["Written while shutting down"]
        finally:
            assert again.terminate()


async def test_two_apps_in_one_process_share_no_state():
    with serve(create_app) as first, serve(create_app) as second:
        assert httpx.get(first.url + "/health").status_code == httpx.get(second.url + "/health").status_code == 200
        one, two = first.app.state, second.app.state
        assert one.database is not two.database and one.database.engine is not two.database.engine
        assert one.auth_state is not two.auth_state and one.auth_state.cache is not two.auth_state.cache
        _, key = user_with_key()
        first.stop()  # disposes the first app's engine only
        async with mcp_client(second.url, key) as client:
            assert (await call(client, "memory_store", observation="Still served by the second app"))["stored"]
