"""The pure-ASGI auth gate in front of /mcp."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import anyio
import httpx
import pytest
from sqlalchemy import event, select, update

from auth_middleware import AuthState
from core.principal import SCOPE_KEY
from mcp_auth_gate import MCPAuthGateASGI
from models import AuditEvent
from oauth_models import APIKey
from server import create_app
from tests.fakes import github_profile
from tests.support import (
    TEST_DATABASE,
    base_settings,
    browser_login,
    call,
    call_error,
    mcp_client,
    new_key,
    new_user,
    serve,
    serve_asgi,
    session_scope,
    user_with_key,
)

UNAUTHORIZED = {
    "error": "Unauthorized",
    "message": "Valid API key required. Use Authorization: Bearer mg_... or X-API-Key: mg_...",
}
A_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


@contextmanager
def counted_queries():
    counter = {"n": 0}

    def count(*_args, **_kwargs):
        counter["n"] += 1

    engine = TEST_DATABASE.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _post(server, headers) -> httpx.Response:
    return httpx.post(
        server.url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream", **headers},
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer mg_" + "x" * 43},
        {"X-API-Key": "mg_nope"},
        {"Authorization": "Basic dXNlcjpw"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {A_JWT}"},
    ],
    ids=["none", "unknown-key", "short-key", "basic", "empty-bearer", "jwt"],
)
def test_refusal_has_the_exact_body_and_header(server, headers):
    response = _post(server, headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    challenge = (
        f'Bearer resource_metadata="{server.url}/.well-known/oauth-protected-resource/mcp", '
        'scope="memory:read memory:write memory:forget"'
    )
    if headers:  # a credential was presented, and it was wrong
        challenge += ', error="invalid_token"'
    assert response.headers["www-authenticate"] == challenge
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("token", [A_JWT, "mg_" + "a" * 70, "sk-" + "a" * 40, "mg_\u00e9" + "a" * 40])
def test_tokens_that_are_not_our_keys_are_refused_without_a_database_query(server, token):
    with counted_queries() as queries:
        response = _post(server, {"Authorization": f"Bearer {token}".encode()})
    assert response.status_code == 401
    assert queries["n"] == 0


def test_scheme_is_case_insensitive_and_duplicate_or_conflicting_headers_are_refused(server):
    _, key = user_with_key()
    _, other = user_with_key()
    assert _post(server, {"Authorization": f"bearer {key}"}).status_code == 200
    assert _post(server, {"Authorization": f"BEARER {key}", "X-API-Key": key}).status_code == 200
    assert _post(server, {"Authorization": f"Bearer {key}", "X-API-Key": other}).status_code == 401
    duplicated = httpx.post(
        server.url + "/mcp", json={}, headers=[("Authorization", f"Bearer {key}"), ("Authorization", f"Bearer {key}")]
    )
    assert duplicated.status_code == 401


def test_cors_preflight_passes_the_gate(server):
    response = httpx.options(
        server.url + "/mcp",
        headers={
            "Origin": server.url,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == server.url
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    refused = httpx.post(server.url + "/mcp", json={}, headers={"Origin": server.url})
    exposed = refused.headers["access-control-expose-headers"].lower()
    assert "www-authenticate" in exposed and "mcp-session-id" in exposed
    assert refused.headers["access-control-allow-credentials"] == "true"


def test_verified_keys_are_cached_and_revocation_evicts_them(server):
    owner, key = user_with_key()
    assert _post(server, {"Authorization": f"Bearer {key}"}).status_code == 200
    # Corrupt the stored hash: a cached verification no longer needs it...
    with session_scope() as session:
        session.execute(update(APIKey).where(APIKey.user_id == owner).values(key_hash="$2b$10$" + "x" * 53))
    with counted_queries() as queries:
        assert _post(server, {"Authorization": f"Bearer {key}"}).status_code == 200
    assert queries["n"] == 0
    # ...until the key leaves the cache, after which it must verify afresh.
    server.app.state.auth_state.cache.evict_user(owner)
    assert _post(server, {"Authorization": f"Bearer {key}"}).status_code == 401


def test_repeated_failures_are_throttled_before_bcrypt():
    with serve(create_app, auth_failure_limit=3, bcrypt_rounds=12) as served:
        owner, _ = new_user()
        with session_scope() as session:
            from identity import api_keys

            _, key = api_keys.create_key(session, user_id=owner, name="slow", bcrypt_rounds=12)
        near_miss = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
        for _ in range(3):
            assert _post(served, {"Authorization": f"Bearer {near_miss}"}).status_code == 401
        started = time.monotonic()
        throttled = [_post(served, {"Authorization": f"Bearer {near_miss}"}) for _ in range(10)]
        elapsed = time.monotonic() - started
        assert {r.status_code for r in throttled} == {429}
        assert int(throttled[0].headers["retry-after"]) >= 1
        # Ten bcrypt checks at cost 12 would take seconds; refusals must not.
        assert elapsed < 1.5, elapsed
    with session_scope() as session:
        burst = session.scalars(
            select(AuditEvent).where(
                AuditEvent.event == "auth_failure_burst",
                AuditEvent.targets["throttled"].astext == f"prefix:{near_miss[:11]}",
            )
        ).one()
        assert burst.client_address == "127.0.0.1"


async def test_two_signed_in_users_cannot_reach_each_others_memories(auth_server, github, new_browser):
    keys = []
    for github_id, login in ((6001, "ann"), (6002, "ben")):
        github.next_profile = github_profile(github_id, login)
        browser, _ = browser_login(auth_server.url, "github", new_browser())
        keys.append(browser.post(auth_server.url + "/auth/api-keys", json={"name": "agent"}).json()["api_key"])
    ann, ben = keys
    async with mcp_client(auth_server.url, ann) as client:
        secret = await call(client, "memory_store", observation="Ann's passport number is X1234567")
    async with mcp_client(auth_server.url, ben) as client:
        assert (await call(client, "memory_search", query="passport number"))["results"] == []
        assert (await call(client, "memory_recall"))["observations"] == []
        assert "No memory found" in await call_error(client, "memory_get", ref=secret["ref"])
        assert "No memory found" in await call_error(client, "memory_delete", ref=secret["ref"])
    async with mcp_client(auth_server.url, ann) as client:
        assert (await call(client, "memory_get", ref=secret["ref"]))["ref"] == secret["ref"]


class StreamingApp:
    """Sends one chunk, then waits for the client to have read it before the next."""

    def __init__(self) -> None:
        self.first_chunk_read = anyio.Event()
        self.principal = None
        self.lifespan_seen = False

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            self.lifespan_seen = True
            return
        self.principal = scope.get(SCOPE_KEY)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": b"data: one\n\n", "more_body": True})
        with anyio.fail_after(10):
            await self.first_chunk_read.wait()
        await send({"type": "http.response.body", "body": b"data: two\n\n", "more_body": False})


async def test_gate_streams_responses_without_buffering():
    owner, _ = new_user()
    key = new_key(owner)
    app = StreamingApp()
    gate = MCPAuthGateASGI(app, TEST_DATABASE.sessions, state=AuthState.from_settings(base_settings()))
    loop = asyncio.get_running_loop()
    with serve_asgi(gate) as served:
        async with (
            httpx.AsyncClient(timeout=20) as client,
            client.stream("GET", served.url + "/", headers={"Authorization": f"Bearer {key}"}) as response,
        ):
            chunks = response.aiter_raw()
            first = await anext(chunks)
            assert first == b"data: one\n\n"
            # The app is still waiting: a buffering gate would never have
            # delivered the first chunk.
            loop.call_soon_threadsafe(app.first_chunk_read.set)
            assert await anext(chunks) == b"data: two\n\n"
    assert app.principal.user_id == owner and app.principal.credential_type == "api_key"
    assert app.lifespan_seen


async def test_gate_passes_options_and_lifespan_through_untouched():
    seen = []

    async def app(scope, receive, send):
        seen.append((scope["type"], scope.get("method"), SCOPE_KEY in scope))
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    gate = MCPAuthGateASGI(app, TEST_DATABASE.sessions, state=AuthState.from_settings(base_settings()))
    with serve_asgi(gate) as served:
        async with httpx.AsyncClient() as client:
            assert (await client.options(served.url + "/")).status_code == 204
    assert ("http", "OPTIONS", False) in seen
    assert seen[0][0] == "lifespan"


def _burst(server, keys: list[str]) -> list[int]:
    """Every key at once, each from its own thread, as concurrent clients do."""
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        return list(pool.map(lambda key: _post(server, {"Authorization": f"Bearer {key}"}).status_code, keys))


def test_a_concurrent_burst_of_bad_keys_gets_no_more_bcrypt_than_the_limit():
    with serve(create_app, auth_failure_limit=10, bcrypt_rounds=12) as served:
        gate = served.app.state.auth_state.bcrypt_gate
        _, legitimate = user_with_key()
        assert _post(served, {"Authorization": f"Bearer {legitimate}"}).status_code == 200  # now cached
        prefix = legitimate[:11]
        # Forty keys that share the real key's lookup prefix; the real key itself is left out, since its
        # characters 11-12 are two digits in one draw of about a hundred.
        near = (prefix + f"{n:02d}" + legitimate[13:] for n in range(41))
        forged = [key for key in near if key != legitimate][:40]
        before = gate.admitted_total
        with ThreadPoolExecutor(max_workers=1) as bystander:
            during = bystander.submit(
                lambda: [_post(served, {"Authorization": f"Bearer {legitimate}"}) for _ in range(5)]
            )
            statuses = _burst(served, forged)
            assert [r.status_code for r in during.result()] == [200] * 5
        assert gate.admitted_total - before <= 10
        assert statuses.count(401) <= 10 and statuses.count(429) >= 30 and set(statuses) <= {401, 429}


def test_concurrent_requests_with_one_uncached_key_run_bcrypt_once():
    with serve(create_app, bcrypt_rounds=12) as served:
        gate = served.app.state.auth_state.bcrypt_gate
        _, key = user_with_key()
        before = gate.admitted_total
        assert _burst(served, [key] * 16) == [200] * 16
        assert gate.admitted_total - before == 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_in_steady_use_is_refreshed_once_per_period_and_never_bcrypted_again():
    with serve(create_app, bcrypt_rounds=12) as served:
        state = served.app.state.auth_state
        state.cache.clock = clock = Clock()
        _, key = user_with_key()
        assert _burst(served, [key]) == [200]
        bcrypts = state.bcrypt_gate.admitted_total
        for period in range(1, 6):  # 5 x 50 s: well past the 60 s a verification is trusted
            clock.now += 50
            assert _burst(served, [key] * 16) == [200] * 16
            assert state.cache.refreshes == period  # one re-read per period, not one per request
        assert state.bcrypt_gate.admitted_total == bcrypts


def test_a_key_revoked_by_another_instance_is_refused_on_the_next_request():
    with serve(create_app) as served:
        user_id, key = user_with_key()
        assert _burst(served, [key]) == [200]  # verified, and cached for up to a minute
        with session_scope() as db:  # another process revokes: this one's cache is not told
            db.execute(update(APIKey).where(APIKey.user_id == user_id).values(revoked=True))
        assert _burst(served, [key]) == [401]
        assert _burst(served, [key] * 4) == [401] * 4
