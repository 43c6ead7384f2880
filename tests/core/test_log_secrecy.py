"""Keys, tokens, cookies and client secrets never reach the logs."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fakes import github_profile
from tests.oauth_support import (
    OAuthBrowser,
    authorize_url,
    exchange_code,
    pkce_pair,
    redirect_params,
    register_client,
)
from tests.support import ServerProcess, browser_login, call, mcp_client, subprocess_env

pytestmark = pytest.mark.slow


async def test_no_secret_reaches_the_logs_even_at_debug(tmp_path, github, new_browser):
    server = ServerProcess(
        subprocess_env(
            MEMORYGATE_DATA_DIR=str(tmp_path),
            EMBEDDING_PROVIDER="none",
            LOG_LEVEL="DEBUG",
            **github.server_env(),
            PSTRYDER_DESKTOP="desktop-app",
            PSTRYDER_DESKTOP_SECRET="desktop-secret-value-7781",
        )
    ).start()
    secrets: list[str] = ["desktop-secret-value-7781", github.client_secret]
    try:
        github.next_profile = github_profile(9301, "quiet")
        browser, _ = browser_login(server.url, "github", new_browser())
        secrets.append(browser.cookies["mg_session"])
        key = browser.post(server.url + "/auth/api-keys", json={"name": "log test"}).json()["api_key"]
        secrets.append(key)
        async with mcp_client(server.url, key) as client:
            await call(client, "memory_store", observation="logged nowhere")
        httpx.post(server.url + "/mcp", json={}, headers={"Authorization": f"Bearer {key[:-3]}zzz"})
        traded = httpx.post(
            server.url + "/auth/client", json={"client_id": "desktop-app", "client_secret": "desktop-secret-value-7781"}
        )
        secrets.append(traded.json()["api_key"])
        httpx.post(server.url + "/auth/client", json={"client_id": "desktop-app", "client_secret": "wrong-guess-3321"})
        secrets.append("wrong-guess-3321")

        registered = register_client(server.url, token_endpoint_auth_method="client_secret_post").json()
        secrets.append(registered["client_secret"])
        verifier, challenge = pkce_pair()
        person = OAuthBrowser(server.url, browser)
        code = redirect_params(person.authorize(authorize_url(server.url, registered["client_id"], challenge)))["code"]
        secrets += [code, verifier]
        tokens = exchange_code(
            server.url, registered["client_id"], code, verifier, client_secret=registered["client_secret"]
        ).json()
        secrets += [tokens["access_token"], tokens["refresh_token"]]
        httpx.post(server.url + "/mcp", json={}, headers={"Authorization": f"Bearer {tokens['access_token']}"})
        refreshed = httpx.post(
            server.url + "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": registered["client_id"],
                "client_secret": registered["client_secret"],
            },
        ).json()
        secrets += [refreshed["access_token"], refreshed["refresh_token"]]
        secrets += list(github.tokens)  # GitHub access tokens the server received
    finally:
        assert server.terminate()

    lines = server.log.splitlines()
    assert len(lines) > 20 and any('"level": "DEBUG"' in line for line in lines)
    json_lines = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(entry.get("request_id") for entry in json_lines)
    leaked = [secret for secret in secrets if secret and secret in server.log]
    assert leaked == []
