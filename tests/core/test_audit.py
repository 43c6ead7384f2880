"""The audit trail and session lifetimes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select, update

from core.crypto import sha256_hex
from oauth_models import UserSession
from tests.fakes import github_profile
from tests.oauth_support import (
    OAuthBrowser,
    authorize_url,
    exchange_code,
    pkce_pair,
    redirect_params,
    register_client,
)
from tests.support import browser_login, call, mcp_client, session_scope


def _events(browser: httpx.Client, server) -> list[dict]:
    return browser.get(server.url + "/auth/audit").json()["events"]


async def test_security_events_are_recorded_for_the_actor_without_secrets(auth_server, github, new_browser):
    github.next_profile = github_profile(8101, "audited")
    browser, _ = browser_login(auth_server.url, "github", new_browser())
    created = browser.post(
        auth_server.url + "/auth/api-keys", json={"name": "audit"}, headers={"X-Request-ID": "req-audit-0001"}
    ).json()
    async with mcp_client(auth_server.url, created["api_key"]) as client:
        stored = await call(client, "memory_store", observation="Secret diary entry: the combination is 1234")
        await call(client, "memory_delete", ref=stored["ref"])
    browser.delete(f"{auth_server.url}/auth/api-keys/{created['id']}")

    person = OAuthBrowser(auth_server.url, browser)
    client_id = register_client(auth_server.url).json()["client_id"]
    verifier, challenge = pkce_pair()
    code = redirect_params(person.authorize(authorize_url(auth_server.url, client_id, challenge)))["code"]
    tokens = exchange_code(auth_server.url, client_id, code, verifier).json()
    connection = browser.get(auth_server.url + "/auth/connections").json()["connections"][0]
    browser.delete(f"{auth_server.url}/auth/connections/{connection['id']}")

    events = _events(browser, auth_server)
    kinds = [e["event"] for e in events]
    for expected in (
        "login",
        "api_key_created",
        "memory_deleted",
        "api_key_revoked",
        "oauth_tokens_issued",
        "oauth_grant_revoked",
    ):
        assert expected in kinds, (expected, kinds)
    deleted = next(e for e in events if e["event"] == "memory_deleted")
    me = browser.get(auth_server.url + "/auth/me").json()
    # The memory's space: the account's default one, whose id is the account's.
    assert deleted["targets"] == {"ref": stored["ref"], "space": me["id"]}
    assert deleted["client_address"] == "127.0.0.1"
    assert deleted["request_id"]
    key_created = next(e for e in events if e["event"] == "api_key_created")
    assert key_created["request_id"] == "req-audit-0001"
    dumped = json.dumps(events)
    for secret in (
        created["api_key"],
        tokens["access_token"],
        tokens["refresh_token"],
        "combination is 1234",
        browser.cookies["mg_session"],
    ):
        assert secret not in dumped

    browser.post(auth_server.url + "/auth/logout")


def test_users_read_only_their_own_events(auth_server, github, new_browser):
    github.next_profile = github_profile(8102, "first")
    first, _ = browser_login(auth_server.url, "github", new_browser())
    first.post(auth_server.url + "/auth/api-keys", json={"name": "mine"})
    github.next_profile = github_profile(8103, "second")
    second, _ = browser_login(auth_server.url, "github", new_browser())
    assert [e["event"] for e in _events(second, auth_server)] == ["login"]
    assert httpx.get(auth_server.url + "/auth/audit").status_code == 401


def test_log_out_everywhere_ends_every_session(auth_server, github, new_browser):
    github.next_profile = github_profile(8104, "traveller")
    laptop, _ = browser_login(auth_server.url, "github", new_browser())
    phone, _ = browser_login(auth_server.url, "github", new_browser())
    me = phone.get(auth_server.url + "/auth/me")
    assert me.status_code == 200
    user_id = uuid.UUID(me.json()["id"])
    response = laptop.post(auth_server.url + "/auth/logout-everywhere")
    assert response.status_code == 200, (response.status_code, response.text)
    ended = response.json()
    assert ended["sessions_ended"] == 2
    # Committed before the answer was sent, not after.
    with session_scope() as session:
        live = session.execute(
            select(func.count()).where(UserSession.user_id == user_id, UserSession.revoked.is_(False))
        ).scalar_one()
    assert live == 0
    assert phone.get(auth_server.url + "/auth/me").status_code == 401
    assert laptop.get(auth_server.url + "/auth/me").status_code == 401


def test_idle_and_absolute_session_expiry(auth_server, github, new_browser):
    for github_id, aged in (
        (8105, {"last_activity": datetime.now(UTC) - timedelta(hours=25)}),  # idle too long
        (8106, {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}),  # past its absolute expiry
    ):
        github.next_profile = github_profile(github_id, f"session{github_id}")
        browser, _ = browser_login(auth_server.url, "github", new_browser())
        assert browser.get(auth_server.url + "/auth/me").status_code == 200
        with session_scope() as session:
            session.execute(
                update(UserSession)
                .where(UserSession.token_hash == sha256_hex(browser.cookies["mg_session"]))
                .values(**aged)
            )
        assert browser.get(auth_server.url + "/auth/me").status_code == 401
