"""Abuse limits (429 with Retry-After), body and header limits, security headers."""

from __future__ import annotations

import httpx
import pytest

from server import create_app
from tests.conftest import provider_settings
from tests.fakes import github_profile
from tests.oauth_support import (
    OAuthBrowser,
    authorize_url,
    code_exchange_form,
    pkce_pair,
    redirect_params,
    register_client,
)
from tests.support import serve, serve_asgi, user_with_key
from web.guards import SecurityHeaders

MCP_HEADERS = {"Accept": "application/json, text/event-stream"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def test_mcp_requests_are_limited_per_credential():
    with serve(create_app, mcp_rate_limit="3/minute") as served:
        _, key = user_with_key()
        _, other = user_with_key()
        statuses = [
            httpx.post(served.url + "/mcp", json=TOOLS_LIST, headers={**MCP_HEADERS, "Authorization": f"Bearer {key}"})
            for _ in range(4)
        ]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429]
        assert int(statuses[-1].headers["retry-after"]) >= 1
        assert (
            httpx.post(
                served.url + "/mcp", json=TOOLS_LIST, headers={**MCP_HEADERS, "Authorization": f"Bearer {other}"}
            ).status_code
            == 200
        )


def test_client_credentials_and_token_endpoints_are_limited():
    with serve(
        create_app,
        client_credentials_rate_limit="2/minute",
        oauth_token_rate_limit="2/minute",
        desktop_client_id="desk",
        desktop_client_secret="desk-secret-0123456789",
    ) as served:
        body = {"client_id": "desk", "client_secret": "wrong-secret"}
        client = [httpx.post(served.url + "/auth/client", json=body).status_code for _ in range(3)]
        assert client == [401, 401, 429]
        token = [
            httpx.post(
                served.url + "/oauth/token",
                data={"grant_type": "authorization_code", "client_id": "nobody", "code": "x"},
            )
            for _ in range(3)
        ]
        assert [r.status_code for r in token] == [401, 401, 429]
        assert token[-1].json()["error"] == "too_many_requests" and "retry-after" in token[-1].headers


def test_oversized_bodies_get_413_before_the_app_reads_them(server):
    big = b"x" * (1024 * 1024 + 1)
    declared = httpx.post(server.url + "/auth/client", content=big, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and "limited" in declared.json()["message"]

    def chunks():
        for _ in range(20):
            yield b"y" * 65536

    streamed = httpx.post(server.url + "/auth/client", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413


def test_security_headers_on_every_response(server):
    for response in (
        httpx.get(server.url + "/health"),
        httpx.post(server.url + "/mcp", json={}),
        httpx.get(server.url + "/auth/login/nowhere"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers  # plain http here
        assert len(response.headers["x-request-id"]) >= 8


def test_hsts_when_served_over_https():
    async def app(scope, receive, send):
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    with serve_asgi(SecurityHeaders(app, hsts=True)) as served:
        assert "max-age=" in httpx.get(served.url).headers["strict-transport-security"]


def test_dns_rebinding_is_refused_on_mcp(server):
    _, key = user_with_key()
    auth = {**MCP_HEADERS, "Authorization": f"Bearer {key}"}
    rebound = httpx.post(server.url + "/mcp", json=TOOLS_LIST, headers={**auth, "Host": "evil.example"})
    assert rebound.status_code == 403
    foreign = httpx.post(server.url + "/mcp", json=TOOLS_LIST, headers={**auth, "Origin": "https://evil.example"})
    assert foreign.status_code == 403
    for origin in (server.url, "http://localhost:6274", "http://[::1]:3000"):
        ok = httpx.post(server.url + "/mcp", json=TOOLS_LIST, headers={**auth, "Origin": origin})
        assert ok.status_code == 200, origin
    assert httpx.post(server.url + "/mcp", json=TOOLS_LIST, headers={**auth, "Host": "localhost:9"}).status_code == 200


@pytest.mark.slow
def test_strangers_cannot_spend_a_clients_token_or_credential_budget(google, github, new_browser):
    """62 junk token requests with a victim's public client_id, and 11 wrong
    desktop secrets, from other addresses: the victim still gets through."""
    settings = {
        **provider_settings(google, github),
        "trusted_proxies": "127.0.0.1",
        "oauth_token_rate_limit": "60/minute",
        "client_credentials_rate_limit": "10/minute",
        "auth_failure_limit": 10,
    }
    with serve(create_app, **settings) as served:
        client_id = register_client(served.url).json()["client_id"]
        verifier, challenge = pkce_pair()
        github.next_profile = github_profile(7701, "victim")
        person = OAuthBrowser(served.url, new_browser())
        code = redirect_params(person.authorize(authorize_url(served.url, client_id, challenge)))["code"]
        for stranger in range(62):
            junk = code_exchange_form(client_id, f"junk-{stranger}", "v" * 50)
            httpx.post(served.url + "/oauth/token", data=junk, headers=_from(f"198.51.100.{stranger}"))
        exchanged = httpx.post(
            served.url + "/oauth/token", data=code_exchange_form(client_id, code, verifier), headers=_from("192.0.2.1")
        )
        assert exchanged.status_code == 200, exchanged.text

        wrong = {"client_id": "pstryder-desktop", "client_secret": "not-the-secret"}
        guesses = [
            httpx.post(served.url + "/auth/client", json=wrong, headers=_from(f"203.0.113.{n}")).status_code
            for n in range(11)
        ]
        assert set(guesses) == {401}
        right = {"client_id": "pstryder-desktop", "client_secret": "desktop-secret-0123456789"}
        assert httpx.post(served.url + "/auth/client", json=right, headers=_from("192.0.2.1")).status_code == 200
        # One address that keeps guessing is still stopped.
        same = [httpx.post(served.url + "/auth/client", json=wrong, headers=_from("203.0.113.200")) for _ in range(11)]
        assert same[-1].status_code == 429


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}
