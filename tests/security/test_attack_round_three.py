"""What the third outside attack round found, each shown fixed: uploads
read before anyone was asked who sent them, times that could not be read
back, hostile files that answered 500, uploads kept without bound."""

from __future__ import annotations

import json
import re
import socket
import time

import httpx
from sqlalchemy import func, select, text

from identity import accounts, deletion
from memory import indexing
from memory.embeddings import LocalEmbeddings
from models import Embedding, Observation
from oauth_models import User
from server import create_app
from tests.conftest import provider_settings
from tests.fakes import github_profile
from tests.support import (
    TEST_DATABASE,
    browser_login,
    call,
    call_error,
    found,
    mcp_client,
    new_user,
    serve,
    session_scope,
    user_with_key,
)

HEADER = json.dumps({"format": "memorygate", "version": 1})


def _signed_in(server, github, new_browser, github_id: int):
    github.next_profile = github_profile(github_id, f"attacker{github_id}")
    browser, _ = browser_login(server.url, "github", new_browser())
    page = browser.get(server.url + "/dashboard")
    return browser, found(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)


def _upload(server, browser, csrf: str, content: bytes, name: str = "memory.jsonl"):
    return browser.post(server.url + "/dashboard/import", files={"file": (name, content)}, data={"csrf_token": csrf})


def _observations_file(count: int, start: int = 1) -> bytes:
    lines = [HEADER] + [
        json.dumps({"kind": "observation", "id": i, "observation": f"Staged fact {i}", "confidence": 0.5})
        for i in range(start, start + count)
    ]
    return ("\n".join(lines) + "\n").encode()


def test_an_anonymous_upload_is_refused_before_its_body_is_read(auth_server):
    announced = 50 * 1024 * 1024
    head = (
        "POST /dashboard/import HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {announced}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", auth_server.port), timeout=10) as sock:
        sock.sendall(head + b"--x\r\n" + b"a" * 65536)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            assert chunk, "the server closed the connection without answering"
            answer += chunk
        status, headers = answer.split(b"\r\n", 1)
        # Answered with 64 KiB of 50 MiB sent, and the connection is not kept for the rest.
        assert status.startswith(b"HTTP/1.1 303") and b"connection: close" in headers.lower()


async def test_a_time_that_cannot_be_read_back_is_refused_and_stores_nothing(server):
    owner_id, key = user_with_key("far-future")
    async with mcp_client(server.url, key) as client:
        message = await call_error(
            client, "memory_store", observation="From the end of time", occurred_at="9999-12-31T23:59:59-14:00"
        )
    assert "occurred_at" in message and "between 0001-01-02 and 9999-12-30" in message
    with session_scope() as db:
        assert db.scalar(select(func.count()).where(Observation.owner_id == owner_id)) == 0


def test_a_row_that_cannot_be_read_back_does_not_stop_indexing_for_others():
    """A row stored before times were checked: its neighbours still get vectors."""
    bad_owner, _ = new_user("stuck")
    other_owner, _ = new_user("waiting")
    with session_scope() as db:
        for owner, when in ((bad_owner, "9999-12-31T23:59:59-14:00"), (other_owner, "2024-05-01T00:00:00Z")):
            db.execute(
                text(
                    "INSERT INTO observations (owner_id, observation, confidence, occurred_at) "
                    "VALUES (:owner, :text, 0.5, CAST(:when AS timestamptz))"
                ),
                {"owner": owner, "text": f"Pending memory of {owner}", "when": when},
            )
    embedder = LocalEmbeddings()
    try:
        indexing.backfill_pending(TEST_DATABASE.sessions, embedder=embedder)
    finally:
        embedder.close()
    with session_scope() as db:
        vectors = db.scalar(select(func.count()).where(Embedding.owner_id == other_owner))
    assert vectors == 1


def test_hostile_uploads_answer_400_on_the_page(auth_server, github, new_browser):
    browser, csrf = _signed_in(auth_server, github, new_browser, 9960)
    deep = f"{HEADER}\n" + '{"kind": "observation", "x": ' + "[" * 200_000 + "]" * 200_000 + "}\n"
    answer = _upload(auth_server, browser, csrf, deep.encode())
    assert answer.status_code == 400, answer.text[-3000:]
    assert "nested too deeply" in answer.text, re.findall(r"Import:[^<]*", answer.text)


def test_an_account_keeps_few_unconfirmed_uploads_and_uploads_at_a_bounded_rate(google, github, new_browser):
    with serve(create_app, **provider_settings(google, github), import_rate_limit="4/hour") as served:
        browser, csrf = _signed_in(served, github, new_browser, 9961)
        staged = [_upload(served, browser, csrf, _observations_file(2, start=10 * n + 1)) for n in range(3)]
        assert [answer.status_code for answer in staged] == [303, 303, 303]
        fourth = _upload(served, browser, csrf, _observations_file(2, start=90))
        assert fourth.status_code == 409 and "3 uploads are waiting" in fourth.text
        cancel = staged[0].headers["location"] + "/cancel"
        assert browser.post(served.url + cancel, data={"csrf_token": csrf}).status_code == 303
        assert _upload(served, browser, csrf, _observations_file(2, start=90)).status_code == 303
        browser.post(served.url + staged[1].headers["location"] + "/cancel", data={"csrf_token": csrf})
        too_often = _upload(served, browser, csrf, _observations_file(2, start=95))
        assert too_often.status_code == 429 and int(too_often.headers["retry-after"]) >= 1
        assert "too many uploads" in too_often.text


async def test_without_authentication_writes_go_on_after_the_local_owner_deletes_the_account():
    with serve(create_app, require_mcp_auth=False, allow_unauthenticated_mcp=True, embedding_provider="none") as served:
        async with mcp_client(served.url) as client:
            await call(client, "memory_store", observation="Before the account was deleted")
            with session_scope() as db:
                owner = accounts.local_owner(db)
                deletion.delete_account(db, owner.id, by="self")
            await call(client, "memory_store", observation="After the account was deleted")
        with session_scope() as db:
            fresh = accounts.local_owner(db)
            kept = db.scalars(select(Observation.observation).where(Observation.owner_id == fresh.id)).all()
        assert kept == ["After the account was deleted"]


def _stalled_export(server, cookie: str) -> socket.socket:
    """An export whose reader takes the headers and then stops reading."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(f"GET /dashboard/export HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: mg_session={cookie}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


def test_a_stalled_export_holds_no_database_session_and_an_account_runs_two_at_once(auth_server, github, new_browser):
    browser, _ = _signed_in(auth_server, github, new_browser, 9962)
    with session_scope() as db:
        owner = db.scalars(select(User.id).where(User.email == "attacker9962@example.com")).one()
        # About 20 MB of memories: more than loopback's socket buffers hold.
        db.execute(
            text(
                "INSERT INTO observations (owner_id, observation, confidence) "
                "SELECT :owner, 'Exported fact ' || n || ' ' || repeat('x', 2000), 0.5 FROM generate_series(1, 10000) n"
            ),
            {"owner": owner},
        )
    cookie = browser.cookies[accounts.SESSION_COOKIE]
    pool = auth_server.app.state.database.engine.pool
    stalled = [_stalled_export(auth_server, cookie) for _ in range(2)]
    try:
        assert pool.checkedout() == 0  # the readers stalled; no transaction waits on them
        third = browser.get(auth_server.url + "/dashboard/export")
        assert third.status_code == 429 and "still running" in third.text
        assert httpx.get(auth_server.url + "/health").status_code == 200
    finally:
        for sock in stalled:
            sock.close()
    try:  # the readers are gone: their downloads end and free their places
        deadline = time.monotonic() + 30
        while (again := browser.get(auth_server.url + "/dashboard/export")).status_code == 429:
            assert time.monotonic() < deadline, "a closed download kept its place"
            time.sleep(0.1)
        assert again.status_code == 200 and again.text.count("Exported fact") == 10_000
    finally:
        with session_scope() as db:  # no vectors were made for them: leave no embedding work to later servers
            db.execute(text("DELETE FROM observations WHERE owner_id = :owner"), {"owner": owner})
