"""Test helpers: real servers on loopback sockets, MCP clients, accounts.

``ServedApp`` runs any ASGI app under uvicorn in a background thread on a
socket bound before the thread starts, so the address is known at once and
early requests simply wait in the listen backlog — no polling, no sleeps.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO, Any, Self

import httpx
import uvicorn
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from jsonschema import Draft202012Validator
from mcp.types import TextContent
from sqlalchemy.orm import Session

from core import db
from core.principal import ALL_SCOPES, Principal
from core.settings import Settings
from identity import accounts, api_keys
from memory.access import TRACKER_KEY, AccessTracker
from memory.embeddings import EmbeddingProvider
from memory.mcp_tools import build_mcp_server

ROOT = Path(__file__).resolve().parent.parent

# The tests' own database (conftest connects it to the embedded server once
# per run); apps under test make and own theirs, on the same URL.
TEST_DATABASE = db.Database()


def session_scope() -> AbstractContextManager[Session]:
    """One committed unit of work on the tests' database."""
    return TEST_DATABASE.session_scope()


# name -> {label: count}; filled by the proof tests, printed in the run's
# terminal summary and quoted in the README.
PROOF_COUNTS: dict[str, dict[str, int]] = {}
TEST_BCRYPT_ROUNDS = 10


def bound_socket() -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on such sockets,
    # and without it keep-alive requests stall ~40 ms on delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


class ServedApp:
    def __init__(self, app: Any, sock: socket.socket, *, tls: tuple[str, str] | None = None) -> None:
        """``tls``: a certificate and key file, to serve https (as ``https://localhost:port``)."""
        self.app = app
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.url = f"https://localhost:{self.port}" if tls else f"http://127.0.0.1:{self.port}"
        certificate, key = tls or (None, None)
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=5,
            ssl_certfile=certificate,
            ssl_keyfile=key,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def start(self) -> ServedApp:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
        if self.error is not None:
            raise self.error


@contextmanager
def serve(app_factory, **settings_overrides: Any) -> Iterator[ServedApp]:
    """Serve create_app(settings) where settings know their own public URL."""
    sock = bound_socket()
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    settings = base_settings(
        **{"port": port, "public_base_url": base, "frontend_url": base + "/dashboard", **settings_overrides}
    )
    try:
        app = app_factory(settings)
    except BaseException:
        sock.close()
        raise
    served = ServedApp(app, sock).start()
    try:
        yield served
    finally:
        served.stop()


def base_settings(**overrides: Any) -> Settings:
    """The tests' settings, with ``overrides`` (field names), validated."""
    defaults: dict[str, Any] = dict(
        database_url=os.environ["MEMORYGATE_TEST_DATABASE_URL"],
        embedding_provider="local",
        bcrypt_rounds=TEST_BCRYPT_ROUNDS,
        embedding_backfill_interval_seconds=3600,
        usage_flush_interval_seconds=3600,
        # Counters per test server (tests of shared limits ask for "database").
        rate_limit_storage_uri="memory://",
        # Every test request comes from 127.0.0.1; the limits have their own tests.
        auth_failure_limit=100_000,
        oauth_registrations_per_hour=100_000,
        mcp_rate_limit="100000/minute",
        oauth_token_rate_limit="100000/minute",
        client_credentials_rate_limit="100000/minute",
        oauth_authorize_rate_limit="100000/minute",
        key_creation_rate_limit="100000/minute",
    )
    return Settings(**{**defaults, **overrides})


@contextmanager
def serve_asgi(app: Any, *, tls: tuple[str, str] | None = None) -> Iterator[ServedApp]:
    served = ServedApp(app, bound_socket(), tls=tls).start()
    try:
        yield served
    finally:
        served.stop()


# --- accounts -------------------------------------------------------------------


def new_user(label: str = "user") -> tuple[uuid.UUID, str]:
    email = f"{label}-{uuid.uuid4().hex[:10]}@example.com"
    with session_scope() as session:
        user = accounts.user_for_email(session, email)
        return user.id, email


def new_key(
    user_id: uuid.UUID,
    *,
    scopes: tuple[str, ...] = ALL_SCOPES,
    expires_at=None,
    name: str = "test",
    space_ids: list[uuid.UUID] | None = None,
    space_scopes: dict[str, list[str]] | None = None,
) -> str:
    with session_scope() as session:
        _, raw = api_keys.create_key(
            session,
            user_id=user_id,
            name=name,
            scopes=scopes,
            space_ids=space_ids,
            space_scopes=space_scopes,
            expires_at=expires_at,
            bcrypt_rounds=TEST_BCRYPT_ROUNDS,
        )
        return raw


def user_with_key(label: str = "user", **key_options: Any) -> tuple[uuid.UUID, str]:
    user_id, _ = new_user(label)
    return user_id, new_key(user_id, **key_options)


# --- MCP ------------------------------------------------------------------------


@asynccontextmanager
async def mcp_client(base_url: str, key: str | None = None, *, path: str = "/mcp", header: str = "authorization"):
    headers = {}
    if key is not None:
        headers = {"Authorization": f"Bearer {key}"} if header == "authorization" else {"X-API-Key": key}
    async with Client(StreamableHttpTransport(base_url + path, headers=headers)) as client:
        yield client


@asynccontextmanager
async def tool_client(
    owner: uuid.UUID,
    *,
    embedder: EmbeddingProvider,
    scopes: tuple[str, ...] = ALL_SCOPES,
    tracker: AccessTracker | None = None,
):
    """The MCP tools through FastMCP's in-memory client, called as ``owner``
    holding one credential: no HTTP and no auth gate (tests/test_gate.py and
    the server tests cover those), the real services and database."""
    principal = Principal(
        user_id=owner, email="", scopes=frozenset(scopes), credential_type="api_key", credential_id=uuid.uuid4()
    )
    sessions: Any = TEST_DATABASE.sessions
    if tracker is not None:  # reads counted as a server counts them, flushed by the test
        sessions = functools.partial(TEST_DATABASE.sessions, info={TRACKER_KEY: tracker})
    server = build_mcp_server(session_factory=sessions, embedder=embedder, principal_source=lambda: principal)
    async with Client(server) as client:
        yield client


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """The tool's answer, checked against the output schema its server
    publishes in tools/list (so every call in the suite checks it)."""
    result = await client.call_tool(tool, arguments)
    assert result.structured_content is not None, f"{tool} returned no structured content"
    Draft202012Validator(await output_schema(client, tool)).validate(result.structured_content)
    return result.structured_content


async def output_schema(client: Client, tool: str) -> dict[str, Any]:
    schemas = getattr(client, "_output_schemas", None)
    if schemas is None:
        schemas = {listed.name: listed.output_schema for listed in await client.list_tools()}
        client._output_schemas = schemas  # type: ignore[attr-defined]
    return schemas[tool]


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments, raise_on_error=False)
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    message = result.content[0]
    assert isinstance(message, TextContent)
    return message.text


# --- subprocess servers -----------------------------------------------------------


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python server.py ARGS` to completion (no args: serve, for start-up refusals)."""
    return subprocess.run(
        [sys.executable, "server.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def key_from_cli_output(output: str) -> str:
    return next(line.strip() for line in output.splitlines() if line.startswith(api_keys.KEY_MARKER))


class ServerProcess:
    """`python server.py` in a child process, on a port we picked."""

    def __init__(self, env: dict[str, str], *, open_files: int | None = None) -> None:
        self.open_files = open_files  # start the child with this soft RLIMIT_NOFILE
        sock = bound_socket()
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "PORT": str(self.port), "HOST": "127.0.0.1", "OAUTH_REDIRECT_BASE": self.url}
        self.process: subprocess.Popen[str]  # set by start()
        self._stdout: IO[str]
        self._drainer: threading.Thread | None = None
        self.log = ""

    def _argv(self) -> list[str]:
        return [sys.executable, "-u", "server.py"]

    def _popen_env(self) -> dict[str, str]:
        return self.env

    def start(self) -> Self:
        self.process = subprocess.Popen(
            self._argv(),
            cwd=ROOT,
            env=self._popen_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=self._limit_open_files if self.open_files else None,
        )
        assert self.process.stdout is not None
        self._stdout = self.process.stdout
        # Block on the server's own log until its banner ends: every process serves.
        for line in self._stdout:
            self.log += line
            if line.startswith("Next: "):
                self._drainer = threading.Thread(target=self._drain, daemon=True)
                self._drainer.start()
                return self
        self.process.wait(timeout=60)
        self._close()
        raise RuntimeError(f"server exited before listening:\n{self.log}")

    def _limit_open_files(self) -> None:
        assert self.open_files is not None
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, hard))

    def _drain(self) -> None:
        for line in self._stdout:
            self.log += line

    def terminate(self) -> bool:
        """SIGTERM; True when the app ran its shutdown to completion.

        (uvicorn re-raises the signal after a graceful shutdown, so the exit
        status is -15 either way; the log says whether shutdown finished.)"""
        self.process.terminate()
        return self.finish()

    def finish(self) -> bool:
        """Wait for the process to end; True when its shutdown completed."""
        self.process.wait(timeout=60)
        self._close()
        return "Application shutdown complete" in self.log

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=60)
        self._close()

    def _close(self) -> None:
        if self._drainer is not None:
            self._drainer.join(timeout=10)
        self._stdout.close()


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMORYGATE_TEST", "DATABASE_URL"))}
    # One server process, and rate-limit counters of its own (as in
    # base_settings), unless a test asks otherwise.
    env.update(
        {
            "BCRYPT_ROUNDS": str(TEST_BCRYPT_ROUNDS),
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
            "WORKERS": "1",
            "RATE_LIMIT_STORAGE_URI": "memory://",
        }
    )
    env.update(extra)
    return env


def found(pattern: str, text: str) -> str:
    """The first group of ``pattern`` in ``text``; fails the test if absent."""
    match = re.search(pattern, text)
    assert match is not None, f"{pattern!r} not found"
    return match.group(1)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# --- browser sign-in ----------------------------------------------------------------


def browser_login(
    server_url: str, provider: str, browser: httpx.Client, *, next_path: str | None = None
) -> tuple[httpx.Client, httpx.Response]:
    """Follow the redirects a browser would: us -> provider -> our callback.

    Returns the browser (with its cookies) and the callback's response."""
    params = {"next": next_path} if next_path is not None else None
    start = browser.get(f"{server_url}/auth/login/{provider}", params=params)
    assert start.status_code == 302, start.text
    consent = browser.get(start.headers["location"])
    assert consent.status_code == 302, consent.text
    return browser, browser.get(consent.headers["location"])


def callback_url_for_login(server_url: str, provider: str, browser: httpx.Client) -> str:
    """Start a sign-in and stop at the provider's redirect back to us."""
    start = browser.get(f"{server_url}/auth/login/{provider}")
    return browser.get(start.headers["location"]).headers["location"]


def traces_of(user_id: uuid.UUID) -> dict[str, int]:
    """Rows in every table that name this user (as owner, user or actor); an
    entry only where some remain."""
    from sqlalchemy import func, or_, select

    from models import Base

    found = {}
    with session_scope() as db:
        for table in Base.metadata.sorted_tables:
            columns = [table.c[name] for name in ("owner_id", "user_id", "actor_user_id", "id") if name in table.c]
            columns = [c for c in columns if c.name != "id" or table.name == "users"]
            if not columns:
                continue
            count = db.execute(
                select(func.count()).select_from(table).where(or_(*(c == user_id for c in columns)))
            ).scalar_one()
            if count:
                found[table.name] = count
    return found
