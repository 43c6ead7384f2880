"""Browser sign-in with Google and GitHub against fake providers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from oauth_models import OAuthState, User, UserSession
from server import create_app
from tests.conftest import provider_settings
from tests.fakes import github_profile
from tests.support import browser_login, callback_url_for_login, serve, session_scope


def _users(provider: str, subject: str) -> int:
    with session_scope() as session:
        return session.execute(
            select(func.count()).where(User.oauth_provider == provider, User.oauth_subject == subject)
        ).scalar_one()


def _sessions_of(provider: str, subject: str) -> int:
    with session_scope() as session:
        return session.execute(
            select(func.count())
            .select_from(UserSession)
            .join(User, User.id == UserSession.user_id)
            .where(User.oauth_provider == provider, User.oauth_subject == subject)
        ).scalar_one()


def test_google_login_creates_user_and_session_cookie(new_browser, auth_server, google):
    google.next_profile = {**google.next_profile, "sub": "g-100", "email": "Ada@Example.com"}
    browser, done = browser_login(auth_server.url, "google", new_browser())
    assert done.status_code == 302
    assert done.headers["location"] == auth_server.url + "/dashboard"
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("mg_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=604800" in cookie
    assert "Secure" not in cookie  # plain-http local deployment

    me = browser.get(auth_server.url + "/auth/me").json()
    assert me["email"] == "ada@example.com" and me["provider"] == "google" and me["name"] == "Ada Lovelace"
    sent = google.authorize_requests[-1]
    assert sent["code_challenge_method"] == "S256" and sent["nonce"] and sent["scope"] == "openid email profile"
    with session_scope() as session:
        stored = session.scalars(select(UserSession).join(User).where(User.oauth_subject == "g-100")).one()
        assert stored.token_hash != browser.cookies["mg_session"]


def test_github_login_uses_numeric_id_and_primary_verified_private_email(new_browser, auth_server, github):
    github.next_profile = github_profile(777, "hopper")
    browser, done = browser_login(auth_server.url, "github", new_browser())
    assert done.status_code == 302
    me = browser.get(auth_server.url + "/auth/me").json()
    assert me["email"] == "hopper@example.com" and me["provider"] == "github"
    assert _users("github", "777") == 1
    assert github.authorize_requests[-1]["code_challenge_method"] == "S256"

    # Same GitHub id with a new login and e-mail is the same account.
    github.next_profile = {**github_profile(777, "grace"), "login": "grace"}
    browser_login(auth_server.url, "github", new_browser())
    assert _users("github", "777") == 1


def test_github_user_without_a_verified_primary_email_is_refused(new_browser, auth_server, github):
    github.next_profile = github_profile(778, "unverified", verified=False)
    _, done = browser_login(auth_server.url, "github", new_browser())
    assert done.status_code == 400
    assert "verified primary e-mail" in done.text
    assert _users("github", "778") == 0


@pytest.mark.parametrize("next_path", ["/dashboard", "/dashboard?tab=keys#new"])
def test_next_is_honoured_for_same_site_paths(new_browser, auth_server, github, next_path):
    github.next_profile = github_profile(801, "nexter")
    _, done = browser_login(auth_server.url, "github", new_browser(), next_path=next_path)
    assert done.headers["location"] == next_path


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "/%252F%252Fevil.example",
        "javascript:alert(1)",
        "/\tevil",
        "///evil.example",
    ],
)
def test_next_is_refused_for_other_sites(new_browser, auth_server, github, next_path):
    github.next_profile = github_profile(802, "redirected")
    _, done = browser_login(auth_server.url, "github", new_browser(), next_path=next_path)
    assert done.status_code == 302
    assert done.headers["location"] == auth_server.url + "/dashboard"


def test_callback_without_state_is_refused(auth_server):
    response = httpx.get(auth_server.url + "/auth/callback/github", params={"code": "abc"})
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]


def test_expired_state_is_refused_and_creates_nothing(new_browser, auth_server, github):
    github.next_profile = github_profile(803, "late")
    browser = new_browser()
    callback = callback_url_for_login(auth_server.url, "github", browser)
    state = httpx.URL(callback).params["state"]
    with session_scope() as session:
        session.execute(
            update(OAuthState)
            .where(OAuthState.state == state)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert browser.get(callback).status_code == 400
    assert _users("github", "803") == 0


def test_reused_state_is_refused(new_browser, auth_server, github):
    github.next_profile = github_profile(804, "twice")
    browser = new_browser()
    callback = callback_url_for_login(auth_server.url, "github", browser)
    assert browser.get(callback).status_code == 302
    assert browser.get(callback).status_code == 400
    assert _sessions_of("github", "804") == 1


def test_state_from_another_browser_is_refused(new_browser, auth_server, github):
    github.next_profile = github_profile(805, "victim")
    callback = callback_url_for_login(auth_server.url, "github", new_browser())
    attacker = new_browser()
    refused = attacker.get(callback)
    assert refused.status_code == 400 and "different browser" in refused.text
    attacker.cookies.set("mg_login_binding", "guessed-value")
    assert attacker.get(callback).status_code == 400
    assert _users("github", "805") == 0


def test_state_from_the_other_provider_is_refused(new_browser, auth_server, github):
    github.next_profile = github_profile(806, "crossed")
    browser = new_browser()
    callback = callback_url_for_login(auth_server.url, "github", browser)
    crossed = callback.replace("/auth/callback/github", "/auth/callback/google")
    assert browser.get(crossed).status_code == 400
    assert _users("github", "806") == 0 and _users("google", "806") == 0


async def test_twenty_concurrent_callbacks_with_one_state_make_exactly_one_session(new_browser, auth_server, github):
    github.next_profile = github_profile(807, "racer")
    browser = new_browser()
    callback = callback_url_for_login(auth_server.url, "github", browser)
    async with httpx.AsyncClient(cookies=browser.cookies, timeout=30) as client:
        responses = await asyncio.gather(*[client.get(callback) for _ in range(20)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [302] + [400] * 19
    assert _sessions_of("github", "807") == 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"aud": "someone-else"}, "did not verify"),
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"exp": 1_000_000_000}, "did not verify"),
        ({"email_verified": False}, "not verified"),
        ({"nonce": "replayed-nonce"}, "does not belong"),
    ],
)
def test_google_id_tokens_that_fail_checks_are_refused(new_browser, auth_server, google, override, message):
    google.next_profile = {**google.next_profile, "sub": f"bad-{sorted(override)[0]}"}
    google.token_overrides = override
    try:
        _, done = browser_login(auth_server.url, "google", new_browser())
    finally:
        google.token_overrides = {}
    assert done.status_code == 400
    assert message in done.text
    assert _users("google", google.next_profile["sub"]) == 0


def test_token_endpoint_failure_keeps_state_so_a_retry_works(new_browser, auth_server, github):
    github.next_profile = github_profile(808, "retrier")
    browser = new_browser()
    callback = callback_url_for_login(auth_server.url, "github", browser)
    github.token_failures = 1
    first = browser.get(callback)
    assert first.status_code == 400 and _users("github", "808") == 0
    assert browser.get(callback).status_code == 302
    assert _sessions_of("github", "808") == 1


def test_access_denied_shows_a_readable_page_and_creates_nothing(new_browser, auth_server, github):
    browser = new_browser()
    start = browser.get(auth_server.url + "/auth/login/github")
    state = dict(httpx.URL(start.headers["location"]).params)["state"]
    denied = browser.get(auth_server.url + "/auth/callback/github", params={"error": "access_denied", "state": state})
    assert denied.status_code == 400
    assert "cancelled" in denied.text and "<h1>Sign-in failed</h1>" in denied.text


def test_unknown_or_unconfigured_provider_is_404(auth_server):
    assert httpx.get(auth_server.url + "/auth/login/facebook").status_code == 404
    with serve(create_app) as bare:
        response = httpx.get(bare.url + "/auth/login/google")
        assert response.status_code == 404
        assert "unconfigured" in response.json()["detail"]


def test_logout_revokes_the_session(new_browser, auth_server, github):
    github.next_profile = github_profile(809, "leaver")
    browser, _ = browser_login(auth_server.url, "github", new_browser())
    assert browser.get(auth_server.url + "/auth/me").status_code == 200
    token = browser.cookies["mg_session"]
    logged_out = browser.post(auth_server.url + "/auth/logout")
    assert logged_out.json() == {"logged_out": True}
    replay = httpx.get(auth_server.url + "/auth/me", cookies={"mg_session": token})
    assert replay.status_code == 401


def test_samesite_none_cookies_are_secure(google, github, new_browser):
    github.next_profile = github_profile(810, "embedded")
    with serve(create_app, session_cookie_samesite="none", **provider_settings(google, github)) as served:
        _, done = browser_login(served.url, "github", new_browser())
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("mg_session="))
    assert "SameSite=none" in cookie and "Secure" in cookie and "HttpOnly" in cookie


def test_a_planted_binding_cookie_is_replaced_at_every_sign_in(new_browser, auth_server, github):
    github.next_profile = github_profile(808, "planted")
    browser = new_browser()
    browser.cookies.set("mg_login_binding", "planted-by-someone-else-0123456789", path="/auth")
    start = browser.get(f"{auth_server.url}/auth/login/github")
    fresh = start.cookies["mg_login_binding"]
    assert fresh != "planted-by-someone-else-0123456789" and len(fresh) >= 43
    second = browser.get(f"{auth_server.url}/auth/login/github").cookies["mg_login_binding"]
    assert second != fresh


def test_logout_refuses_a_cross_site_post(new_browser, auth_server, github):
    github.next_profile = github_profile(809, "stayin")
    browser, _ = browser_login(auth_server.url, "github", new_browser())
    foreign = browser.post(auth_server.url + "/auth/logout", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert browser.get(auth_server.url + "/auth/me").status_code == 200
    own = browser.post(auth_server.url + "/auth/logout", headers={"Origin": auth_server.url})
    assert own.status_code == 200 and own.json() == {"logged_out": True}
