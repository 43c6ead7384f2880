"""Two app instances on one PostgreSQL serve one client alternately."""

from __future__ import annotations

import os

import httpx
import pytest

from tests.fakes import github_profile
from tests.oauth_support import (
    authorize_url,
    code_exchange_form,
    consent_rights,
    form_fields,
    pkce_pair,
    redirect_params,
    register_client,
)
from tests.support import ServerProcess, browser_login, call, mcp_client, subprocess_env

pytestmark = pytest.mark.slow


def _instances(github) -> tuple[ServerProcess, ServerProcess]:
    first = ServerProcess(
        subprocess_env(
            DATABASE_URL=os.environ["MEMORYGATE_TEST_DATABASE_URL"],
            EMBEDDING_PROVIDER="none",
            **github.server_env(),
        )
    )
    second = ServerProcess(dict(first.env))
    # One public base URL for both, as behind a load balancer.
    for instance in (first, second):
        instance.env["OAUTH_REDIRECT_BASE"] = first.url
    return first.start(), second.start()


async def test_two_instances_share_sessions_keys_oauth_and_revocation(github, new_browser):
    a, b = _instances(github)
    try:
        github.next_profile = github_profile(9501, "balanced")
        browser, _ = browser_login(a.url, "github", new_browser())
        assert browser.get(b.url + "/auth/me").json()["email"] == "balanced@example.com"
        key = browser.post(b.url + "/auth/api-keys", json={"name": "two"}).json()

        async with mcp_client(a.url, key["api_key"]) as on_a, mcp_client(b.url, key["api_key"]) as on_b:
            stored = await call(on_a, "memory_store", observation="Stored through instance A")
            assert (await call(on_b, "memory_get", ref=stored["ref"]))["text"] == "Stored through instance A"
            found = await call(on_b, "memory_search", query="instance A")
            assert found["results"][0]["ref"] == stored["ref"]

        # OAuth: register on A, authorize on B, consent on B, token on A, use on B.
        client_id = register_client(a.url).json()["client_id"]
        verifier, challenge = pkce_pair()
        to_consent = browser.get(authorize_url(a.url, client_id, challenge).replace(a.url, b.url))
        consent_url = to_consent.headers["location"].replace(a.url, b.url)
        consent = browser.get(consent_url).text
        fields = form_fields(consent)
        answered = browser.post(
            b.url + "/oauth/consent", data={**fields, "decision": "approve", "scope": consent_rights(consent)}
        )
        code = redirect_params(answered.headers["location"])["code"]
        tokens = httpx.post(
            a.url + "/oauth/token",
            data=code_exchange_form(client_id, code, verifier),
        ).json()
        async with mcp_client(b.url, tokens["access_token"]) as on_b:
            assert (await call(on_b, "memory_get", ref=stored["ref"]))["ref"] == stored["ref"]
        httpx.post(a.url + "/oauth/revoke", data={"token": tokens["access_token"], "client_id": client_id})
        assert _status(b, tokens["access_token"]) == 401

        # An API key revoked on A is refused by B on the very next request,
        # though B verified it a moment ago and would trust it for a minute.
        me = {"Authorization": f"Bearer {key['api_key']}"}
        assert _status(b, key["api_key"]) == 200 and httpx.get(b.url + "/auth/me", headers=me).status_code == 200
        assert browser.delete(f"{a.url}/auth/api-keys/{key['id']}").status_code == 200
        assert _status(b, key["api_key"]) == 401
        assert httpx.get(b.url + "/auth/me", headers=me).status_code == 401
    finally:
        assert a.terminate() and b.terminate()


def _status(instance: ServerProcess, credential: str) -> int:
    return httpx.post(
        instance.url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {credential}", "Accept": "application/json, text/event-stream"},
    ).status_code
