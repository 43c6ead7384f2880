"""Abuse limits (429 with Retry-After), body and header limits, security headers."""

from __future__ import annotations

import httpx

from http_guards import SecurityHeaders
from server import create_app
from tests.support import serve, serve_asgi, user_with_key

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
