"""MCP OAuth 2.1: remote clients connect by signing in, not by pasting keys."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from sqlalchemy import func, select, update

from core.crypto import sha256_hex
from identity import oauth_records as records
from oauth_models import OAuthClient, OAuthGrant, OAuthToken
from server import create_app
from tests.conftest import provider_settings
from tests.fakes import github_profile
from tests.oauth_support import (
    CLIENT_REDIRECT,
    MemoryTokenStorage,
    OAuthBrowser,
    authorize_url,
    code_exchange_form,
    consent_rights,
    exchange_code,
    form_fields,
    pkce_pair,
    redirect_params,
    refresh,
    register_client,
    sdk_oauth,
)
from tests.support import ServerProcess, call, call_error, mcp_client, serve, session_scope, subprocess_env


async def test_sdk_client_completes_the_flow_and_shares_memory_with_the_users_api_key(auth_server, github, new_browser):
    github.next_profile = github_profile(7001, "connector")
    person = OAuthBrowser(auth_server.url, new_browser())
    storage = MemoryTokenStorage()
    transport = StreamableHttpTransport(auth_server.url + "/mcp", auth=sdk_oauth(auth_server.url, person, storage))
    async with Client(transport) as client:
        stored = await call(client, "memory_store", observation="Connected through OAuth and remembered this")
        found = await call(client, "memory_search", query="connected through OAuth")
        assert found["results"][0]["ref"] == stored["ref"]
    assert storage.tokens.access_token.startswith("mg_oat_")
    assert any("Connect <strong>Test MCP Client</strong>" in page for page in person.pages)

    key = person.browser.post(auth_server.url + "/auth/api-keys", json={"name": "same user"}).json()["api_key"]
    async with mcp_client(auth_server.url, key) as client:
        assert (await call(client, "memory_get", ref=stored["ref"]))["text"].startswith("Connected")

    github.next_profile = github_profile(7002, "stranger")
    stranger = OAuthBrowser(auth_server.url, new_browser())
    transport = StreamableHttpTransport(auth_server.url + "/mcp", auth=sdk_oauth(auth_server.url, stranger))
    async with Client(transport) as client:
        assert "No memory found" in await call_error(client, "memory_get", ref=stored["ref"])
        assert (await call(client, "memory_search", query="connected through OAuth"))["results"] == []


async def test_the_sdk_client_steps_up_when_a_person_granted_less_than_a_call_needs(auth_server, github, new_browser):
    github.next_profile = github_profile(7003, "stepper")
    person = OAuthBrowser(auth_server.url, new_browser(), grant={"memory:read"})  # unticks write and forget
    storage = MemoryTokenStorage()
    transport = StreamableHttpTransport(auth_server.url + "/mcp", auth=sdk_oauth(auth_server.url, person, storage))
    async with Client(transport) as client:
        assert storage.tokens.scope == "memory:read"
        listed = {tool.name for tool in await client.list_tools()}
        assert "memory_search" in listed and "memory_store" not in listed and "memory_delete" not in listed

        # The call needs write: 403 insufficient_scope; the SDK asks the person again (all it asked for before
        # and what the call lacks, SEP-2350), who now allows writing but still not forgetting; it retries.
        person.grant = {"memory:read", "memory:write"}
        stored = await call(client, "memory_store", observation="Stored after stepping up to write")
        assert stored["stored"]
        assert set(storage.tokens.scope.split()) == {"memory:read", "memory:write"}
        consents = [page for page in person.pages if 'action="/oauth/consent"' in page]
        assert len(consents) == 2 and 'value="memory:write" checked' in consents[1]
        listed = {tool.name for tool in await client.list_tools()}
        assert "memory_store" in listed and "memory_delete" not in listed


# --- shared setup ------------------------------------------------------------------

_ids = itertools.count(7100)


@pytest.fixture
def person(auth_server, github, new_browser) -> OAuthBrowser:
    number = next(_ids)
    github.next_profile = github_profile(number, f"person{number}")
    return OAuthBrowser(auth_server.url, new_browser())


def _tokens_for(client_id: str) -> int:
    with session_scope() as session:
        return session.execute(select(func.count()).where(OAuthToken.client_id == client_id)).scalar_one()


def _code_for(server, person, client_id: str, challenge: str, **extra) -> str:
    location = person.authorize(authorize_url(server.url, client_id, challenge, **extra))
    return redirect_params(location)["code"]


def _mcp_status(server, token: str) -> httpx.Response:
    return httpx.post(
        server.url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
    )


def _full_grant(server, person, **extra) -> tuple[str, dict]:
    client_id = register_client(server.url).json()["client_id"]
    verifier, challenge = pkce_pair()
    code = _code_for(server, person, client_id, challenge, **extra)
    response = exchange_code(server.url, client_id, code, verifier)
    assert response.status_code == 200, response.text
    return client_id, response.json()


# --- discovery ---------------------------------------------------------------------


def test_protected_resource_and_authorization_server_metadata(auth_server):
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        prm = httpx.get(auth_server.url + path).json()
        assert prm == {
            "resource": auth_server.url + "/mcp",
            "authorization_servers": [auth_server.url],
            "scopes_supported": ["memory:read", "memory:write", "memory:forget"],
            "bearer_methods_supported": ["header"],
            "resource_name": "MemoryGate",
        }
    asm = httpx.get(auth_server.url + "/.well-known/oauth-authorization-server").json()
    assert asm["issuer"] == auth_server.url
    assert asm["authorization_endpoint"] == auth_server.url + "/oauth/authorize"
    assert asm["token_endpoint"] == auth_server.url + "/oauth/token"
    assert asm["registration_endpoint"] == auth_server.url + "/oauth/register"
    assert asm["revocation_endpoint"] == auth_server.url + "/oauth/revoke"
    assert asm["response_types_supported"] == ["code"]
    assert asm["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert asm["code_challenge_methods_supported"] == ["S256"]
    assert set(asm["token_endpoint_auth_methods_supported"]) == {"none", "client_secret_post", "client_secret_basic"}
    assert asm["authorization_response_iss_parameter_supported"] is True
    assert asm["scopes_supported"] == ["memory:read", "memory:write", "memory:forget"]


def test_browser_clients_on_any_origin_may_call_discovery_and_token_endpoints(auth_server):
    preflight = httpx.options(
        auth_server.url + "/oauth/token",
        headers={"Origin": "http://localhost:6274", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "*"
    metadata = httpx.get(
        auth_server.url + "/.well-known/oauth-authorization-server", headers={"Origin": "http://localhost:6274"}
    )
    assert metadata.headers["access-control-allow-origin"] == "*"
    private = httpx.options(
        auth_server.url + "/auth/api-keys",
        headers={"Origin": "http://localhost:6274", "Access-Control-Request-Method": "POST"},
    )
    assert private.status_code == 400


def test_every_401_points_at_the_resource_metadata(auth_server):
    expected = (
        f'Bearer resource_metadata="{auth_server.url}/.well-known/oauth-protected-resource/mcp", '
        'scope="memory:read memory:write memory:forget"'
    )
    missing = httpx.post(auth_server.url + "/mcp", json={})
    assert missing.headers["www-authenticate"] == expected
    invalid = _mcp_status(auth_server, "mg_oat_" + "x" * 43)
    assert invalid.status_code == 401
    assert invalid.headers["www-authenticate"] == expected + ', error="invalid_token"'
    assert invalid.json()["error"] == "Unauthorized"


# --- tokens ------------------------------------------------------------------------


def test_refresh_rotates_and_reuse_of_a_spent_refresh_token_kills_the_grant(auth_server, person):
    client_id, tokens = _full_grant(auth_server, person)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert _mcp_status(auth_server, tokens["access_token"]).status_code == 200

    rotated = refresh(auth_server.url, client_id, tokens["refresh_token"])
    assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
    fresh = rotated.json()
    assert fresh["refresh_token"] != tokens["refresh_token"] and fresh["access_token"] != tokens["access_token"]
    assert _mcp_status(auth_server, fresh["access_token"]).status_code == 200

    replay = refresh(auth_server.url, client_id, tokens["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert _mcp_status(auth_server, fresh["access_token"]).status_code == 401
    assert refresh(auth_server.url, client_id, fresh["refresh_token"]).json()["error"] == "invalid_grant"


def test_expired_access_token_gets_invalid_token(auth_server, person):
    _, tokens = _full_grant(auth_server, person)
    with session_scope() as session:
        session.execute(
            update(OAuthToken)
            .where(OAuthToken.kind == "access")
            .where(OAuthToken.token_hash == sha256_hex(tokens["access_token"]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = _mcp_status(auth_server, tokens["access_token"])
    assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["www-authenticate"]


def test_revocation_and_disconnect_take_effect_on_the_next_call(auth_server, person):
    client_id, tokens = _full_grant(auth_server, person)
    revoked = httpx.post(
        auth_server.url + "/oauth/revoke", data={"token": tokens["access_token"], "client_id": client_id}
    )
    assert revoked.status_code == 200, revoked.text
    assert _mcp_status(auth_server, tokens["access_token"]).status_code == 401

    client_id, tokens = _full_grant(auth_server, person)
    connections = person.browser.get(auth_server.url + "/auth/connections").json()["connections"]
    mine = next(c for c in connections if c["client_id"] == client_id)
    assert mine["client_name"] == "Raw Client" and mine["scopes"] == ["memory:read", "memory:write", "memory:forget"]
    assert person.browser.delete(f"{auth_server.url}/auth/connections/{mine['id']}").json()["disconnected"]
    assert _mcp_status(auth_server, tokens["access_token"]).status_code == 401
    assert refresh(auth_server.url, client_id, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert client_id not in {
        c["client_id"] for c in person.browser.get(auth_server.url + "/auth/connections").json()["connections"]
    }


async def test_a_call_beyond_a_tokens_rights_is_refused_with_403_insufficient_scope(auth_server, person):
    _, tokens = _full_grant(auth_server, person, scope="memory:read")
    assert tokens["scope"] == "memory:read"
    call_store = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "memory_store", "arguments": {"observation": "should not be stored"}},
    }
    refused = httpx.post(
        auth_server.url + "/mcp",
        json=call_store,
        headers={"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json, text/event-stream"},
    )
    # MCP authorization, scope challenge: 403 naming what to ask the person for (all it holds, and the right lacking).
    assert refused.status_code == 403
    assert refused.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="memory:read memory:write", '
        f'resource_metadata="{auth_server.url}/.well-known/oauth-protected-resource/mcp", '
        'error_description="this token lacks memory:write"'
    )
    assert refused.json()["error"] == "insufficient_scope"
    async with mcp_client(auth_server.url, tokens["access_token"]) as client:
        listed = {tool.name for tool in await client.list_tools()}
        assert "memory_search" in listed and not listed & {"memory_store", "memory_delete", "memory_archive"}
        assert (await call(client, "memory_stats"))["counts"]["observations"] == 0


def test_token_for_another_audience_is_refused(auth_server, person):
    _, tokens = _full_grant(auth_server, person)
    with session_scope() as session:
        session.execute(
            update(OAuthToken)
            .where(OAuthToken.token_hash == sha256_hex(tokens["access_token"]))
            .values(audience="https://other.example/mcp")
        )
    assert _mcp_status(auth_server, tokens["access_token"]).status_code == 401


def test_oauth_tokens_are_not_accepted_by_the_account_routes(auth_server, person):
    _, tokens = _full_grant(auth_server, person)
    response = httpx.get(
        auth_server.url + "/auth/api-keys", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert response.status_code == 401


# --- negative cases: none of them creates a token -------------------------------------


def test_wrong_pkce_verifier_is_refused(auth_server, person):
    client_id = register_client(auth_server.url).json()["client_id"]
    _, challenge = pkce_pair()
    code = _code_for(auth_server, person, client_id, challenge)
    response = exchange_code(auth_server.url, client_id, code, "not-the-verifier-" + "x" * 30)
    assert response.json()["error"] == "invalid_grant"
    assert _tokens_for(client_id) == 0


@pytest.mark.parametrize("variant", ["missing", "plain"])
def test_missing_or_plain_pkce_is_refused_at_authorize(auth_server, person, variant):
    client_id = register_client(auth_server.url).json()["client_id"]
    if variant == "missing":
        url = authorize_url(auth_server.url, client_id, None)
    else:
        url = authorize_url(auth_server.url, client_id, "x" * 43, code_challenge_method="plain")
    response = person.browser.get(url)
    assert response.status_code == 302
    assert redirect_params(response.headers["location"])["error"] == "invalid_request"
    assert _tokens_for(client_id) == 0


def test_unregistered_redirect_uri_is_refused_without_redirecting(auth_server, person):
    client_id = register_client(auth_server.url).json()["client_id"]
    _, challenge = pkce_pair()
    response = person.browser.get(
        authorize_url(auth_server.url, client_id, challenge, redirect_uri="https://evil.example/callback")
    )
    assert response.status_code == 400
    assert "evil.example" not in response.headers.get("location", "")
    assert _tokens_for(client_id) == 0


def test_loopback_redirect_port_may_vary(auth_server, person):
    client_id = register_client(auth_server.url).json()["client_id"]
    verifier, challenge = pkce_pair()
    other_port = "http://127.0.0.1:50123/callback"
    person.redirect_uri = other_port
    location = person.authorize(authorize_url(auth_server.url, client_id, challenge, redirect_uri=other_port))
    code = redirect_params(location)["code"]
    response = exchange_code(auth_server.url, client_id, code, verifier, redirect_uri=other_port)
    assert response.status_code == 200


def test_code_reuse_is_refused(auth_server, person):
    client_id = register_client(auth_server.url).json()["client_id"]
    verifier, challenge = pkce_pair()
    code = _code_for(auth_server, person, client_id, challenge)
    assert exchange_code(auth_server.url, client_id, code, verifier).status_code == 200
    again = exchange_code(auth_server.url, client_id, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert _tokens_for(client_id) == 2  # one access + one refresh, from the first exchange only


async def test_concurrent_redemptions_of_one_code_yield_exactly_one_token(auth_server, person):
    client_id = register_client(auth_server.url).json()["client_id"]
    verifier, challenge = pkce_pair()
    code = _code_for(auth_server, person, client_id, challenge)
    data = code_exchange_form(client_id, code, verifier)
    async with httpx.AsyncClient(timeout=30) as client:
        responses = await asyncio.gather(*[client.post(auth_server.url + "/oauth/token", data=data) for _ in range(10)])
    assert sorted(r.status_code for r in responses) == [200] + [400] * 9
    assert _tokens_for(client_id) == 2


def test_code_from_another_client_is_refused(auth_server, person):
    first = register_client(auth_server.url).json()["client_id"]
    second = register_client(auth_server.url).json()["client_id"]
    verifier, challenge = pkce_pair()
    code = _code_for(auth_server, person, first, challenge)
    response = exchange_code(auth_server.url, second, code, verifier)
    assert response.json()["error"] == "invalid_grant"
    assert _tokens_for(first) == 0 and _tokens_for(second) == 0


def test_wrong_resource_is_refused_at_authorize_and_token(auth_server, person):
    client_id = register_client(auth_server.url).json()["client_id"]
    verifier, challenge = pkce_pair()
    response = person.browser.get(
        authorize_url(auth_server.url, client_id, challenge, resource="https://other.example/mcp")
    )
    assert redirect_params(response.headers["location"])["error"] == "invalid_target"
    code = _code_for(auth_server, person, client_id, challenge)
    token = exchange_code(auth_server.url, client_id, code, verifier, resource="https://other.example/mcp")
    assert token.status_code == 400 and token.json()["error"] == "invalid_target"
    assert _tokens_for(client_id) == 0


@pytest.mark.parametrize(
    "uri",
    [
        "http://evil.example/callback",
        "ftp://127.0.0.1/cb",
        "https://ok.example/cb#frag",
        "https://claude.ai@evil.example/cb",
        "https://user:pass@ok.example/cb",
        "https://ok.example/" + "x" * 2_000,
    ],
)
def test_registration_refuses_non_https_non_loopback_redirects(auth_server, uri):
    response = register_client(auth_server.url, redirect_uris=[uri])
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata")


def test_registration_stores_no_plaintext_secret_and_confidential_clients_authenticate(auth_server, person):
    registered = register_client(auth_server.url, token_endpoint_auth_method="client_secret_basic").json()
    secret = registered["client_secret"]
    with session_scope() as session:
        stored = session.get(OAuthClient, registered["client_id"])
        assert stored.client_secret_hash != secret and secret not in str(stored.metadata_)
    verifier, challenge = pkce_pair()
    code = _code_for(auth_server, person, registered["client_id"], challenge)
    wrong = exchange_code(auth_server.url, registered["client_id"], code, verifier, client_secret="nope")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    basic = httpx.post(
        auth_server.url + "/oauth/token",
        auth=(registered["client_id"], secret),
        data=code_exchange_form(registered["client_id"], code, verifier),
    )
    assert basic.status_code == 200


def test_consent_post_without_or_with_anothers_csrf_token_is_refused(auth_server, person, github, new_browser):
    client_id = register_client(auth_server.url).json()["client_id"]
    _, challenge = pkce_pair()
    consent = person.browser.get(authorize_url(auth_server.url, client_id, challenge), follow_redirects=True)
    while 'action="/oauth/consent"' not in consent.text:  # sign in first
        link = re.search(r'href="(/auth/login/[^"]+)"', consent.text).group(1).replace("&amp;", "&")
        consent = person.browser.get(auth_server.url + link, follow_redirects=True)
    fields = form_fields(consent.text)
    no_csrf = person.browser.post(
        auth_server.url + "/oauth/consent", data={"request": fields["request"], "decision": "approve"}
    )
    assert no_csrf.status_code == 403
    github.next_profile = github_profile(next(_ids), "intruder")
    intruder = OAuthBrowser(auth_server.url, new_browser())
    intruder.authorize(
        authorize_url(auth_server.url, register_client(auth_server.url).json()["client_id"], pkce_pair()[1])
    )
    rights = consent_rights(consent.text)
    foreign = intruder.browser.post(
        auth_server.url + "/oauth/consent", data={**fields, "decision": "approve", "scope": rights}
    )
    assert foreign.status_code == 403
    assert _tokens_for(client_id) == 0
    nothing = person.browser.post(auth_server.url + "/oauth/consent", data={**fields, "decision": "approve"})
    assert nothing.status_code == 400 and "Tick at least one" in nothing.text  # asked again, still open
    fields = form_fields(nothing.text)
    approved = person.browser.post(
        auth_server.url + "/oauth/consent", data={**fields, "decision": "approve", "scope": rights}
    )
    assert approved.status_code == 303 and "code=" in approved.headers["location"]


def test_markup_in_state_and_client_name_is_escaped(auth_server, person):
    client_id = register_client(auth_server.url, client_name="<img src=x onerror=alert(1)>").json()["client_id"]
    _, challenge = pkce_pair()
    state = '"><script>alert(1)</script>'
    location = person.authorize(authorize_url(auth_server.url, client_id, challenge, state=state))
    page = person.pages[-1]
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert redirect_params(location)["state"] == state


def test_deny_sends_access_denied_with_state_and_issuer(auth_server, person):
    client_id = register_client(auth_server.url).json()["client_id"]
    _, challenge = pkce_pair()
    person.decision = "deny"
    params = redirect_params(person.authorize(authorize_url(auth_server.url, client_id, challenge)))
    assert params == {"error": "access_denied", "state": "st-1", "iss": auth_server.url}
    assert _tokens_for(client_id) == 0


def test_registration_is_rate_limited():
    with serve(create_app, oauth_registrations_per_hour=2) as served:
        statuses = [register_client(served.url).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]


def test_pre_registered_desktop_client_uses_its_fixed_credentials(google, github, new_browser):
    settings = {**provider_settings(google, github), "desktop_redirect_uris": [CLIENT_REDIRECT]}
    with serve(create_app, **settings) as served:
        github.next_profile = github_profile(next(_ids), "desktop")
        desktop = OAuthBrowser(served.url, new_browser())
        verifier, challenge = pkce_pair()
        code = _code_for(served, desktop, "pstryder-desktop", challenge)
        wrong = exchange_code(served.url, "pstryder-desktop", code, verifier, client_secret="wrong")
        assert wrong.status_code == 401
        ok = exchange_code(served.url, "pstryder-desktop", code, verifier, client_secret="desktop-secret-0123456789")
        assert ok.status_code == 200 and _mcp_status(served, ok.json()["access_token"]).status_code == 200


@pytest.mark.slow
async def test_local_mode_newcomer_connects_a_loopback_client_as_the_local_owner(tmp_path, new_browser):
    server = ServerProcess(subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path), EMBEDDING_PROVIDER="none")).start()
    try:
        person = OAuthBrowser(server.url, new_browser())
        page = person.browser.get(
            authorize_url(server.url, register_client(server.url).json()["client_id"], pkce_pair()[1]),
            follow_redirects=True,
        )
        assert "Continue as the local owner" in page.text and "/auth/login/" not in page.text

        person.choose_local_owner = True
        transport = StreamableHttpTransport(server.url + "/mcp", auth=sdk_oauth(server.url, person))
        async with Client(transport) as client:
            stored = await call(client, "memory_store", observation="First memory from a local client")
        me = person.browser.get(server.url + "/auth/me").json()
        assert me["email"] == "local@memorygate.internal"
        assert stored["stored"] is True
    finally:
        assert server.terminate()


def test_registration_metadata_is_bounded(auth_server):
    too_many = register_client(auth_server.url, redirect_uris=[f"http://127.0.0.1/cb{n}" for n in range(11)])
    long_name = register_client(auth_server.url, client_name="n" * 201)
    long_uri = register_client(auth_server.url, client_uri="https://ok.example/" + "x" * 2_000)
    assert [r.status_code for r in (too_many, long_name, long_uri)] == [400, 400, 400]


def test_stale_registrations_are_pruned_and_used_ones_kept(auth_server, person):
    never_used = register_client(auth_server.url).json()["client_id"]
    fresh = register_client(auth_server.url).json()["client_id"]
    connected = register_client(auth_server.url).json()["client_id"]
    verifier, challenge = pkce_pair()
    exchange_code(auth_server.url, connected, _code_for(auth_server, person, connected, challenge), verifier)
    _backdate_client(never_used, days=2)
    _backdate_client(connected, days=2)
    with session_scope() as session:
        pruned = records.prune_clients(session)
    assert never_used in pruned and fresh not in pruned and connected not in pruned
    # Six months without use: the registration goes, and its tokens with it.
    with session_scope() as session:
        session.execute(update(OAuthGrant).where(OAuthGrant.client_id == connected).values(last_used=None))
        session.execute(
            update(OAuthGrant)
            .where(OAuthGrant.client_id == connected)
            .values(created_at=datetime.now(UTC) - timedelta(days=200))
        )
    _backdate_client(connected, days=200)
    with session_scope() as session:
        assert connected in records.prune_clients(session)
        assert session.get(OAuthClient, connected) is None
        live = select(func.count()).where(OAuthToken.client_id == connected, OAuthToken.revoked.is_(False))
        assert session.execute(live).scalar_one() == 0


def _backdate_client(client_id: str, *, days: int) -> None:
    with session_scope() as session:
        session.execute(
            update(OAuthClient)
            .where(OAuthClient.client_id == client_id)
            .values(created_at=datetime.now(UTC) - timedelta(days=days))
        )


def test_authorize_is_rate_limited_per_address_and_state_is_capped():
    with serve(create_app, oauth_authorize_rate_limit="3/minute") as served:
        client_id = register_client(served.url).json()["client_id"]
        _, challenge = pkce_pair()
        huge = httpx.get(authorize_url(served.url, client_id, challenge, state="s" * 1_001))
        assert huge.status_code == 400 and "state" in huge.json()["error_description"]
        statuses = [httpx.get(authorize_url(served.url, client_id, challenge)).status_code for _ in range(3)]
        assert statuses == [302, 302, 429]


def test_an_access_token_for_mcp_also_reads_the_memory_api(auth_server, person):
    """The HTTP API takes the credentials the tools take: a token a person
    granted to a client works there, and stops when the grant ends."""
    client_id, tokens = _full_grant(auth_server, person)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(auth_server.url + "/api/v1/search", params={"query": "x"}, headers=bearer).status_code == 200
    refresh(auth_server.url, client_id, tokens["refresh_token"])  # rotated once
    refresh(auth_server.url, client_id, tokens["refresh_token"])  # the spent refresh token replayed: the grant ends
    assert httpx.get(auth_server.url + "/api/v1/search", params={"query": "x"}, headers=bearer).status_code == 401
