"""Deleting an account: from the CLI here (the account page in the browser tests)."""

from __future__ import annotations

import os
import uuid

import httpx
from sqlalchemy import select

from models import AuditEvent
from oauth_models import OAuthClient, User
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
from tests.support import (
    browser_login,
    call,
    mcp_client,
    new_key,
    run_cli,
    session_scope,
    subprocess_env,
    traces_of,
)


async def _fill(server_url: str, key: str) -> None:
    async with mcp_client(server_url, key) as client:
        await call(client, "memory_init_session", conversation_id="c1", title="t", ai_name="Claude", ai_platform="x")
        stored = await call(client, "memory_store", observation="Leaves no trace", conversation_id="c1")
        await call(client, "memory_store", observation="Replaced", supersedes=stored["ref"])
        await call(client, "memory_store_concept", name="Garden", concept_type="project")
        await call(client, "memory_store_concept", name="Shed", concept_type="thing")
        await call(client, "memory_add_concept_alias", concept_name="Garden", alias="Yard")
        await call(
            client, "memory_add_concept_relationship", from_concept="Garden", to_concept="Shed", rel_type="part_of"
        )
        await call(client, "memory_update_pattern", category="c", pattern_name="p", pattern_text="t")
        await call(client, "memory_store_document", title="d", doc_type="note", content_summary="s")
        await call(client, "memory_archive", refs=[stored["ref"]])
        said = [{"speaker": "user", "text": "Plant the tulips in October"}]
        await call(client, "memory_append_turns", conversation_id="garden-chat", turns=said)


def _connect_a_client(server_url: str, browser) -> str:
    """Register a client and grant it access through consent and the token endpoint."""
    client_id = register_client(server_url, client_name="Leaver's agent").json()["client_id"]
    verifier, challenge = pkce_pair()
    to_consent = browser.get(authorize_url(server_url, client_id, challenge))
    consent = browser.get(to_consent.headers["location"]).text
    fields = form_fields(consent)
    answered = browser.post(
        server_url + "/oauth/consent", data={**fields, "decision": "approve", "scope": consent_rights(consent)}
    )
    code = redirect_params(answered.headers["location"])["code"]
    tokens = httpx.post(server_url + "/oauth/token", data=code_exchange_form(client_id, code, verifier))
    assert tokens.status_code == 200, tokens.text
    return client_id


def _user_id(email: str) -> uuid.UUID:
    with session_scope() as db:
        return db.scalars(select(User.id).where(User.email == email)).one()


async def test_an_operator_deletes_an_account_and_nothing_of_it_remains(auth_server, github, new_browser):
    github.next_profile = github_profile(9901, "leaver")
    browser, _ = browser_login(auth_server.url, "github", new_browser())
    github.next_profile = github_profile(9902, "stayer")
    browser_login(auth_server.url, "github", new_browser())
    user_id, stayer_id = _user_id("leaver@example.com"), _user_id("stayer@example.com")
    await _fill(auth_server.url, new_key(user_id))
    await _fill(auth_server.url, new_key(stayer_id))
    client_id = _connect_a_client(auth_server.url, browser)
    before = traces_of(user_id)
    assert {"observations", "concepts", "turns", "api_keys", "user_sessions", "oauth_grants", "embeddings"} <= set(
        before
    )

    env = subprocess_env(DATABASE_URL=os.environ["MEMORYGATE_TEST_DATABASE_URL"])
    refused = run_cli("delete-account", "--email", "leaver@example.com", env=env)  # no confirmation on stdin
    assert refused.returncode == 2 and traces_of(user_id) == before
    done = run_cli("delete-account", "--email", "Leaver@Example.com", "--yes", env=env)
    assert done.returncode == 0, done.stderr
    deleted_line = (
        "Deleted leaver@example.com: observations 2, patterns 1, concepts 2, documents 1, turns 1, spaces 1, api keys 1"
    )
    assert deleted_line in done.stderr

    assert traces_of(user_id) == {}  # every table, every column that names an account
    assert set(traces_of(stayer_id)) >= {"observations", "concepts", "api_keys", "user_sessions"}
    with session_scope() as db:
        assert db.get(OAuthClient, client_id) is None  # a registration only the leaver used
        deleted = db.scalars(select(AuditEvent).where(AuditEvent.event == "account_deleted")).all()
    record = next(event for event in deleted if event.targets["account"] == str(user_id))
    assert record.targets["by"] == "operator" and record.actor_user_id is None
    assert "leaver" not in str(record.targets)  # no e-mail, no content
    assert browser.get(auth_server.url + "/auth/me").status_code == 401  # the session died with it
