"""The account page over HTTP: CSRF, escaping, headers, errors in the page."""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest

from core.principal import MEMORY_SCOPES
from identity import accounts
from tests.fakes import github_profile
from tests.oauth_support import (
    OAuthBrowser,
    authorize_url,
    exchange_code,
    pkce_pair,
    redirect_params,
    register_client,
)
from tests.support import ServerProcess, browser_login, call, found, mcp_client, subprocess_env


def _signed_in(auth_server, github, new_browser, github_id: int):
    github.next_profile = github_profile(github_id, f"page{github_id}")
    browser, done = browser_login(auth_server.url, "github", new_browser())
    assert done.headers["location"] == auth_server.url + "/dashboard"
    page = browser.get(auth_server.url + "/dashboard")
    csrf = found(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    return browser, page, csrf


def _key_from_the_page(server_url: str, browser: httpx.Client, csrf: str, name: str) -> str:
    """Create a key on the account page, as a person does, and read it off the page."""
    form = {"name": name, "csrf_token": csrf, "rights": list(MEMORY_SCOPES), "reach": ["*"]}  # as the page comes
    page = browser.post(server_url + "/dashboard/keys", data=form, follow_redirects=True)
    return found(r'<code id="new-key-value">(mg_[^<]+)</code>', page.text)


def test_signed_out_visitors_see_the_sign_in_choices(auth_server):
    page = httpx.get(auth_server.url + "/dashboard")
    assert page.status_code == 200
    assert 'href="/auth/login/github?next=/dashboard"' in page.text
    assert 'href="/auth/login/google?next=/dashboard"' in page.text
    assert "local owner" not in page.text  # a managed database is not local mode


def test_forms_need_this_sessions_csrf_token(auth_server, github, new_browser):
    browser, page, csrf = _signed_in(auth_server, github, new_browser, 9701)
    other, _, other_csrf = _signed_in(auth_server, github, new_browser, 9702)
    assert other_csrf != csrf
    for data in ({"name": "no token"}, {"name": "foreign token", "csrf_token": other_csrf}):
        refused = browser.post(auth_server.url + "/dashboard/keys", data=data)
        assert refused.status_code == 403 and "not issued to you" in refused.text
    assert "No keys yet." in browser.get(auth_server.url + "/dashboard/keys").text

    created = browser.post(
        auth_server.url + "/dashboard/keys",
        data={"name": "laptop", "csrf_token": csrf, "rights": ["memory:read"], "reach": ["*"]},
    )
    # Post/redirect/get: reloading the page that follows cannot create a second key.
    assert created.status_code == 303 and created.headers["location"] == "/dashboard/keys?notice=key-created#new-key"
    sealed = created.cookies["mg_new_key"]
    shown = browser.get(auth_server.url + created.headers["location"])
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    key = found(r'<code id="new-key-value">(mg_[^<]+)</code>', shown.text)
    assert "shown only this once" in shown.text and "API key created." in shown.text
    assert key not in sealed  # the key crosses the redirect encrypted
    assert key not in browser.get(auth_server.url + "/dashboard/keys").text
    # The sealed key opens only for the session that created it.
    other.cookies.set("mg_new_key", sealed)
    assert key not in other.get(auth_server.url + "/dashboard/keys").text


def test_notices_come_from_a_fixed_list(auth_server, github, new_browser):
    browser, _, _ = _signed_in(auth_server, github, new_browser, 9707)
    page = browser.get(auth_server.url + "/dashboard", params={"notice": "Your account is locked, call 555"})
    assert "call 555" not in page.text
    assert "Key revoked." in browser.get(auth_server.url + "/dashboard/keys?notice=key-revoked").text


def test_bad_form_input_is_explained_in_the_page(auth_server, github, new_browser):
    browser, _, csrf = _signed_in(auth_server, github, new_browser, 9703)
    response = browser.post(
        auth_server.url + "/dashboard/keys", data={"name": "x", "expires_days": "-4", "csrf_token": csrf}
    )
    assert response.status_code == 400 and "text/html" in response.headers["content-type"]
    assert "Expires after:" in response.text
    unticked = browser.post(auth_server.url + "/dashboard/keys", data={"name": "x", "csrf_token": csrf})
    assert unticked.status_code == 400 and "Rights: tick at least one" in unticked.text
    assert "No keys yet." in browser.get(auth_server.url + "/dashboard/keys").text


async def test_memory_markup_is_shown_as_text(auth_server, github, new_browser):
    browser, _, csrf = _signed_in(auth_server, github, new_browser, 9704)
    key = _key_from_the_page(auth_server.url, browser, csrf, "agent")
    markup = '<img src=x onerror=alert(1)><script>alert("x")</script> & <b>bold</b>'
    async with mcp_client(auth_server.url, key) as client:
        await call(client, "memory_store", observation=markup)
    page = browser.get(auth_server.url + "/dashboard").text
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>bold</b>" not in page
    assert html.escape(markup).replace("&quot;", "&#34;") in page


async def test_a_patterns_edit_is_a_new_version_and_markup_stays_text_on_memory_pages(auth_server, github, new_browser):
    browser, _, csrf = _signed_in(auth_server, github, new_browser, 9708)
    key = _key_from_the_page(auth_server.url, browser, csrf, "agent")
    markup = '<script>alert("x")</script> & <b>bold</b>'
    async with mcp_client(auth_server.url, key) as client:
        made = await call(
            client, "memory_update_pattern", category="work", pattern_name="mornings", pattern_text="Codes early"
        )
        concept = await call(client, "memory_store_concept", name="Ann", concept_type="person", description=markup)
        tea = await call(client, "memory_store", observation="Drinks tea.")
        coffee = await call(client, "memory_store", observation="Drinks coffee.")
    onto = browser.post(  # edited into what another current observation says: that one replaces it
        f"{auth_server.url}/dashboard/memories/{tea['ref']}/edit", data={"csrf_token": csrf, "text": "Drinks coffee."}
    )
    assert onto.status_code == 303 and onto.headers["location"].startswith(f"/dashboard/memories/{coffee['ref']}?")
    edited = browser.post(
        f"{auth_server.url}/dashboard/memories/{made['ref']}/edit", data={"csrf_token": csrf, "text": "Codes late"}
    )
    assert edited.status_code == 303
    newer = edited.headers["location"].split("?")[0].rsplit("/", 1)[1]
    assert newer.startswith("pattern:") and newer != made["ref"]
    page = browser.get(auth_server.url + edited.headers["location"]).text
    assert "Codes late" in page and f'href="/dashboard/memories/{made["ref"]}">Codes early' in page
    refused = browser.post(
        f"{auth_server.url}/dashboard/memories/{concept['ref']}/edit", data={"csrf_token": csrf, "text": "x"}
    )
    assert refused.status_code == 400 and "only observations and patterns have versions" in refused.text
    shown = browser.get(f"{auth_server.url}/dashboard/memories/{concept['ref']}").text
    assert "<script>alert" not in shown and "<b>bold</b>" not in shown
    assert browser.get(f"{auth_server.url}/dashboard/memories/observation:999999999").status_code == 404
    foreign = browser.post(f"{auth_server.url}/dashboard/memories/{made['ref']}/edit", data={"text": "no token"})
    assert foreign.status_code == 403


async def test_the_graph_page_carries_the_signed_in_persons_concepts_escaped(auth_server, github, new_browser):
    assert httpx.get(auth_server.url + "/dashboard/graph", follow_redirects=False).status_code == 303
    browser, _, csrf = _signed_in(auth_server, github, new_browser, 9709)
    key = _key_from_the_page(auth_server.url, browser, csrf, "agent")
    async with mcp_client(auth_server.url, key) as client:
        await call(client, "memory_store_concept", name="</script><b>x</b>", concept_type="test", description="y")
    page = browser.get(auth_server.url + "/dashboard/graph")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    carried = found(r'<script type="application/json" id="graph-data">(.*?)</script>', page.text)
    assert "</script>" not in carried and "<b>" not in carried  # cannot end the data block or become markup
    assert json.loads(carried)["nodes"][0]["name"] == "</script><b>x</b>"


def test_page_headers_forbid_inline_scripts_and_framing(auth_server, github, new_browser):
    _, page, _ = _signed_in(auth_server, github, new_browser, 9705)
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert "<script>" not in page.text  # only the external /static/dashboard.js


def _local_login_token(page: httpx.Response) -> str:
    return found(
        r'action="/dashboard/local-login"><input type="hidden" name="csrf_token" value="([0-9a-f]{64})"', page.text
    )


@pytest.mark.slow
def test_local_mode_offers_the_local_owner_on_this_computer(tmp_path):
    env = subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path), EMBEDDING_PROVIDER="none", TRUSTED_PROXIES="127.0.0.1")
    server = ServerProcess(env).start()
    login = server.url + "/dashboard/local-login"
    try:
        with httpx.Client(timeout=30) as browser, httpx.Client(timeout=30) as stranger:
            page = browser.get(server.url + "/dashboard")
            assert "Continue as the local owner" in page.text
            token = _local_login_token(page)
            # The form's token is bound to the browser it was shown to.
            assert browser.post(login, data={}).status_code == 403
            assert stranger.post(login, data={"csrf_token": token}).status_code == 403
            stranger.get(server.url + "/dashboard")
            assert stranger.post(login, data={"csrf_token": token}).status_code == 403
            # Pages on other sites are refused even with a token; other machines never get the choice.
            foreign = browser.post(login, data={"csrf_token": token}, headers={"Origin": "https://evil.example"})
            assert foreign.status_code == 403
            # DNS rebinding: a foreign name resolving to this machine is refused on every route.
            rebound = {"Host": "attacker.example"}
            for path in ("/dashboard", "/auth/me", "/", "/dashboard/export"):
                assert browser.get(server.url + path, headers=rebound).status_code == 403
            refused = browser.post(login, data={"csrf_token": token}, headers={**rebound, "Origin": "null"})
            assert refused.status_code == 403 and accounts.SESSION_COOKIE not in refused.cookies
            assert browser.get(server.url + "/health", headers={"Host": f"localhost:{server.port}"}).status_code == 200
            remote = {"X-Forwarded-For": "203.0.113.9"}
            assert "local owner" not in stranger.get(server.url + "/dashboard", headers=remote).text
            assert browser.post(login, data={"csrf_token": token}, headers=remote).status_code == 403
            # What Chromium sends under our no-referrer policy: Origin: null.
            signed_in = browser.post(login, data={"csrf_token": token}, headers={"Origin": "null"})
            assert signed_in.status_code == 303
            assert "local@memorygate.internal" in browser.get(server.url + "/dashboard").text
    finally:
        assert server.terminate()


async def test_recent_memories_page_and_clients_disconnect_from_the_page(auth_server, github, new_browser):
    browser, _, csrf = _signed_in(auth_server, github, new_browser, 9706)
    key = _key_from_the_page(auth_server.url, browser, csrf, "pager")
    async with mcp_client(auth_server.url, key) as client:
        for number in range(12):
            await call(client, "memory_store", observation=f"numbered memory {number:02d}")
    first = browser.get(auth_server.url + "/dashboard").text
    second = browser.get(auth_server.url + "/dashboard?page=1").text
    assert first.count("numbered memory") == 10 and 'href="/dashboard?page=1#recent">Older' in first
    assert second.count("numbered memory") == 2 and "numbered memory 00" in second

    client_id = register_client(auth_server.url, client_name="Pocket Agent").json()["client_id"]
    verifier, challenge = pkce_pair()
    person = OAuthBrowser(auth_server.url, browser)
    code = redirect_params(person.authorize(authorize_url(auth_server.url, client_id, challenge)))["code"]
    assert exchange_code(auth_server.url, client_id, code, verifier).status_code == 200
    page = browser.get(auth_server.url + "/dashboard/keys").text
    assert "Pocket Agent" in page
    grant_id = found(r'action="/dashboard/connections/([0-9a-f-]+)/disconnect"', page)
    done = browser.post(
        f"{auth_server.url}/dashboard/connections/{grant_id}/disconnect",
        data={"csrf_token": csrf},
        follow_redirects=True,
    )
    assert done.url.path == "/dashboard/keys"
    assert 'role="status"><p>Client disconnected.' in done.text and "Pocket Agent" not in done.text


async def test_search_hits_show_a_concepts_name_and_every_hit_its_score(auth_server, github, new_browser):
    browser, _, csrf = _signed_in(auth_server, github, new_browser, 9708)
    key = _key_from_the_page(auth_server.url, browser, csrf, "concepts")
    async with mcp_client(auth_server.url, key) as client:
        await call(
            client, "memory_store_concept", name="Heliograph", concept_type="project", description="A sun clock app"
        )
    page = browser.get(auth_server.url + "/dashboard", params={"q": "Heliograph sun clock"}).text
    assert '<strong class="memory-title">Heliograph</strong>' in page
    assert re.search(r"concept · score 0\.\d{3}", page)


def test_absurd_page_numbers_are_a_normal_page_not_an_error(auth_server, github, new_browser):
    browser, _, _ = _signed_in(auth_server, github, new_browser, 9709)
    for page in ("99999999999999999999", "-1", "abc", "1e9"):
        response = browser.get(auth_server.url + "/dashboard", params={"page": page})
        assert response.status_code == 200 and "Recent observations" in response.text


def test_audit_paging_rejects_ids_beyond_bigint(auth_server, github, new_browser):
    browser, _, _ = _signed_in(auth_server, github, new_browser, 9710)
    assert browser.get(auth_server.url + "/auth/audit", params={"before": 2**63}).status_code == 422
    assert browser.get(auth_server.url + "/auth/audit", params={"before": 5}).status_code == 200
