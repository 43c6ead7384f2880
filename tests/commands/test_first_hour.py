"""The first hour on a fresh machine, with no accounts: the start-up banner,
one local account shared by `create-key` and the dashboard, the service
index, and MCP over stdio beside the HTTP server on one data directory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from commands.cli import PORT_TAKEN
from core.settings import VERSION
from server import create_app, this_command
from tests.conftest import provider_settings
from tests.support import (
    ROOT,
    ServerProcess,
    bound_socket,
    call,
    found,
    mcp_client,
    run_cli,
    serve,
    subprocess_env,
)

pytestmark = pytest.mark.slow


def _local_sign_in(server_url: str, browser: httpx.Client) -> None:
    page = browser.get(server_url + "/dashboard")
    token = found(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    signed_in = browser.post(server_url + "/dashboard/local-login", data={"csrf_token": token})
    assert signed_in.status_code == 303


async def test_a_key_from_create_key_stores_what_the_local_dashboard_shows(tmp_path):
    env = subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path), EMBEDDING_PROVIDER="none")
    server = ServerProcess(env).start()
    try:
        # While the server runs, as the README says: one database, shared.
        created = run_cli("create-key", env=env)
        assert created.returncode == 0, created.stderr
        assert "the local owner (local@memorygate.internal)" in created.stderr
        async with mcp_client(server.url, created.stdout.strip()) as client:
            await call(client, "memory_store", observation="Stored with a key from create-key")
        with httpx.Client(timeout=30) as browser:
            _local_sign_in(server.url, browser)
            assert "Stored with a key from create-key" in browser.get(server.url + "/dashboard").text
    finally:
        assert server.terminate()


def test_the_banner_says_where_everything_is_and_what_to_do_next(tmp_path):
    server = ServerProcess(subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path), EMBEDDING_PROVIDER="local")).start()
    try:
        banner = server.log[server.log.index("MemoryGate 0.") :]
        assert f"MCP endpoint:  {server.url}/mcp" in banner
        assert f"Dashboard:     {server.url}/dashboard" in banner
        assert f"Database:      embedded PostgreSQL in {(tmp_path / 'pgdata').resolve()}" in banner
        assert "Embeddings:    local (bge-small-en-v1.5)" in banner
        assert "Auth:          required" in banner
        assert "Sign-in:       the local owner (this computer only)" in banner
        assert f"Next: open {server.url}/dashboard" in banner and "create-key" in banner
    finally:
        assert server.terminate()


def test_the_index_lists_only_configured_sign_in_providers(google, github):
    with serve(create_app) as bare:
        endpoints = httpx.get(bare.url + "/").json()["endpoints"]
        assert not any(name.startswith("login_") for name in endpoints)
    with serve(create_app, **provider_settings(google, github)) as full:
        endpoints = httpx.get(full.url + "/").json()["endpoints"]
        assert {"login_google", "login_github"} <= set(endpoints)


async def test_stdio_serves_the_local_owner_beside_the_http_server(tmp_path):
    env = subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path), EMBEDDING_PROVIDER="none", LOG_LEVEL="INFO")
    server = ServerProcess(env).start()
    transport = StdioTransport(command=sys.executable, args=["server.py", "stdio"], env=env, cwd=str(ROOT))
    try:
        started = time.perf_counter()
        async with Client(transport) as client:
            ready = time.perf_counter() - started
            assert client.server_info.name == "MemoryGate"
            stored = await call(client, "memory_store", observation="Remembered over stdio")
            # The HTTP server stops; the database stays up for the stdio client.
            assert server.terminate()
            again = await call(client, "memory_get", ref=stored["ref"])
            assert again["text"] == "Remembered over stdio"
        # About 2 s on an idle machine, nearly all of it importing FastMCP and
        # FastAPI; the bound leaves room for a loaded CI box but still fails a
        # start that waits on the database's schema work or on a model.
        assert ready < 6.0, f"stdio took {ready:.2f} s to answer initialize"
        restarted = ServerProcess(env).start()
        try:
            with httpx.Client(timeout=30) as browser:
                _local_sign_in(restarted.url, browser)
                assert "Remembered over stdio" in browser.get(restarted.url + "/dashboard").text
        finally:
            assert restarted.terminate()
    finally:
        if server.process.poll() is None:
            server.terminate()


def test_stdio_writes_nothing_but_protocol_on_stdout(tmp_path):
    env = subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path), EMBEDDING_PROVIDER="none", LOG_LEVEL="DEBUG")
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    result = _run_stdio(env, [initialize, {"jsonrpc": "2.0", "method": "notifications/initialized"}])
    lines = [json.loads(line) for line in result.stdout.splitlines()]  # every line is JSON-RPC
    assert [line["id"] for line in lines] == [1]
    assert lines[0]["result"]["serverInfo"]["name"] == "MemoryGate"
    assert "DEBUG" in result.stderr  # the logs went to stderr


def _run_stdio(env: dict[str, str], messages: list[dict]) -> subprocess.CompletedProcess:
    payload = "".join(json.dumps(message) + "\n" for message in messages)
    return subprocess.run(
        [sys.executable, "server.py", "stdio"],
        cwd=ROOT,
        env=env,
        input=payload,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_a_port_already_served_is_refused_in_one_line_naming_the_setting(tmp_path):
    first = ServerProcess(subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path / "a"), EMBEDDING_PROVIDER="none")).start()
    try:
        second = run_cli(env={**first.env, "MEMORYGATE_DATA_DIR": str(tmp_path / "b")})
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [PORT_TAKEN.format(host="127.0.0.1", port=first.port)]
        assert "Traceback" not in second.stdout + second.stderr
    finally:
        assert first.terminate()
    with bound_socket() as other_program:  # taken by something that is not MemoryGate at all
        port = other_program.getsockname()[1]
        env = subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path / "c"), EMBEDDING_PROVIDER="none", PORT=str(port))
        refused = run_cli(env={**env, "HOST": "127.0.0.1"})
        assert refused.returncode == 2 and "set PORT to a free port" in refused.stderr


def test_the_banner_names_the_interpreter_that_runs_the_server(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    interpreter = Path(sys.executable)
    shown = interpreter.relative_to(ROOT) if interpreter.is_relative_to(ROOT) else interpreter
    assert this_command() == f"{shown} server.py"


@pytest.mark.slow
def test_the_banner_comes_after_every_process_is_ready(tmp_path):
    env = subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path), EMBEDDING_PROVIDER="none", WORKERS="2")
    server = ServerProcess(env).start()
    try:
        before, _, banner = server.log.partition(f"MemoryGate {VERSION} is running.")
        assert before.count("Application startup complete") == 2  # both processes, before it
        assert banner.rstrip().endswith("create-key`.") and "startup complete" not in banner
        assert httpx.get(server.url + "/health").status_code == 200
    finally:
        assert server.terminate()
