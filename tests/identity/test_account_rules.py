"""Who may manage an account over /auth: every route against a read-only API
key, a read-write API key, an OAuth access token and a browser session.

The rule (README, Security): a browser session manages everything; a
read-write API key manages keys, connections and reads the audit trail; a
read-only key only says who it is; OAuth access tokens are for /mcp alone;
ending every browser session needs a browser session.
"""

from __future__ import annotations

import itertools
import uuid

import httpx
import pytest

from core.principal import ALL_SCOPES, READ_SCOPE
from identity import api_keys
from oauth_models import APIKey
from tests.fakes import github_profile
from tests.oauth_support import OAuthBrowser, authorize_url, exchange_code, pkce_pair, redirect_params, register_client
from tests.support import new_key, session_scope

pytestmark = pytest.mark.slow

_ids = itertools.count(7600)


class Account:
    """One GitHub user, signed in in a browser, with keys and an OAuth client."""

    def __init__(self, server_url: str, github, browser: httpx.Client) -> None:
        self.url = server_url
        number = next(_ids)
        github.next_profile = github_profile(number, f"rules{number}")
        self.person = OAuthBrowser(server_url, browser)
        self.access_token = self.connect()  # signs the browser in on the way
        self.user_id = uuid.UUID(self.person.browser.get(server_url + "/auth/me").json()["id"])

    def connect(self) -> str:
        client_id = register_client(self.url).json()["client_id"]
        verifier, challenge = pkce_pair()
        code = redirect_params(self.person.authorize(authorize_url(self.url, client_id, challenge)))["code"]
        return exchange_code(self.url, client_id, code, verifier).json()["access_token"]

    def newest_grant(self) -> str:
        self.connect()
        return self.person.browser.get(self.url + "/auth/connections").json()["connections"][0]["id"]

    def headers(self, credential: str) -> tuple[dict[str, str], httpx.Client | None]:
        """Request headers, and the browser to send them from (session only)."""
        if credential == "session":
            return {}, self.person.browser
        if credential == "oauth token":
            return {"Authorization": f"Bearer {self.access_token}"}, None
        scopes = (READ_SCOPE,) if credential == "read-only key" else ALL_SCOPES
        return {"Authorization": f"Bearer {new_key(self.user_id, scopes=scopes)}"}, None


CREDENTIALS = ("read-only key", "read-write key", "oauth token", "session")
# route -> the status each credential gets, in CREDENTIALS order.
RULES = {
    ("GET", "/auth/me"): (200, 200, 401, 200),
    ("GET", "/auth/api-keys"): (403, 200, 401, 200),
    ("POST", "/auth/api-keys"): (403, 201, 401, 201),
    ("DELETE", "/auth/api-keys/{key}"): (403, 200, 401, 200),
    ("GET", "/auth/connections"): (403, 200, 401, 200),
    ("DELETE", "/auth/connections/{grant}"): (403, 200, 401, 200),
    ("GET", "/auth/audit"): (403, 200, 401, 200),
    ("POST", "/auth/logout-everywhere"): (403, 403, 401, 200),
}


@pytest.mark.parametrize(("method", "path"), list(RULES), ids=[f"{m} {p}" for m, p in RULES])
def test_each_credential_gets_exactly_what_the_rule_allows(auth_server, github, new_browser, method, path):
    for credential, expected in zip(CREDENTIALS, RULES[(method, path)], strict=True):
        account = Account(auth_server.url, github, new_browser())
        victim_key = new_key(account.user_id, name="the read-write key")
        headers, browser = account.headers(credential)
        grant = account.newest_grant() if "{grant}" in path else None
        target = path.format(key=_key_id(victim_key), grant=grant)
        body = {"name": "minted"} if method == "POST" and path == "/auth/api-keys" else None
        response = (browser or httpx).request(method, auth_server.url + target, headers=headers, json=body)
        assert response.status_code == expected, (credential, method, path, response.text)
        if expected == 403:
            _assert_nothing_changed(account, victim_key, grant)


def test_a_read_write_key_cannot_mint_a_key_with_more_than_it_has(auth_server, github, new_browser):
    account = Account(auth_server.url, github, new_browser())
    read_only = new_key(account.user_id, scopes=(READ_SCOPE,))
    refused = httpx.post(
        auth_server.url + "/auth/api-keys",
        json={"name": "escalate", "scopes": ["memory:read", "memory:write"]},
        headers={"Authorization": f"Bearer {read_only}"},
    )
    assert refused.status_code == 403


def test_key_minting_is_capped_per_account(auth_server, github, new_browser):
    account = Account(auth_server.url, github, new_browser())
    settings = auth_server.app.state.settings
    limit = settings.max_active_keys
    for number in range(limit - _active_keys(account.user_id)):
        new_key(account.user_id, name=f"filler {number}")
    refused = account.person.browser.post(auth_server.url + "/auth/api-keys", json={"name": "one too many"})
    assert refused.status_code == 409 and f"{limit} active API keys" in refused.json()["detail"]
    assert _active_keys(account.user_id) == limit


def _key_id(raw: str) -> uuid.UUID:
    with session_scope() as session:
        return session.query(APIKey).filter(APIKey.key_prefix == raw[: api_keys.PREFIX_CHARS]).one().id


def _active_keys(user_id: uuid.UUID) -> int:
    with session_scope() as session:
        return session.query(APIKey).filter(APIKey.user_id == user_id, APIKey.revoked.is_(False)).count()


def _assert_nothing_changed(account: Account, victim_key: str, grant: str | None) -> None:
    session = account.person.browser
    assert session.get(account.url + "/auth/me").status_code == 200  # still signed in
    keys = {key["id"]: key for key in session.get(account.url + "/auth/api-keys").json()["api_keys"]}
    assert keys[str(_key_id(victim_key))]["revoked"] is False
    assert all(key["name"] != "minted" for key in keys.values())
    if grant is not None:
        connections = session.get(account.url + "/auth/connections").json()["connections"]
        assert grant in {connection["id"] for connection in connections}
