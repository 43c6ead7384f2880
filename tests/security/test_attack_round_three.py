"""What the third outside attack round found, each shown fixed: uploads
read before anyone was asked who sent them, times that could not be read
back, hostile files that answered 500, uploads kept without bound."""

from __future__ import annotations

import json
import re
import socket
import tempfile
import time
import tracemalloc

import httpx
import pytest
from sqlalchemy import func, select, text

from identity import accounts, deletion
from memory import indexing
from memory.embeddings import LocalEmbeddings
from memory.validation import MAX_DESCRIPTION_CHARS
from models import Embedding, Observation
from oauth_models import User
from portability import importer
from portability.jsonl_schema import FileRejected
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


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('{"kind": "observation", "x": ' + "[" * 200_000 + "]" * 200_000 + "}", "nested too deeply"),
        ('{"kind": "observation", "id": ' + "9" * 5_000 + "}", "a number is too long"),
        ('{"kind": "observation", "id": 1, "observation": "lone \\ud800 half", "confidence": 0.5}', "surrogate"),
    ],
)
def test_hostile_files_are_refused_with_a_reason_not_an_error(line: str, said: str):
    with pytest.raises(FileRejected) as refused:
        importer.read([HEADER, line])
    assert "line 2" in str(refused.value) and said in str(refused.value)


def test_hostile_uploads_answer_400_on_the_page(auth_server, github, new_browser):
    browser, csrf = _signed_in(auth_server, github, new_browser, 9960)
    deep = f"{HEADER}\n" + '{"kind": "observation", "x": ' + "[" * 200_000 + "]" * 200_000 + "}\n"
    answer = _upload(auth_server, browser, csrf, deep.encode())
    assert answer.status_code == 400, answer.text[-3000:]
    assert "nested too deeply" in answer.text, re.findall(r"Import:[^<]*", answer.text)


def test_checking_an_upload_holds_a_fraction_of_it_in_memory():
    """Read from the spooled file a line at a time; vectors checked, not kept."""
    lines = [HEADER]
    for i in range(1, 2001):
        lines.append(
            json.dumps({"kind": "observation", "id": i, "observation": f"Fact {i} " + "word " * 30, "confidence": 0.5})
        )
        lines.append(
            json.dumps(
                {
                    "kind": "embedding",
                    "item": f"observation:{i}",
                    "model": "m",
                    "vector": [0.123456 + n / 1000 for n in range(384)],
                }
            )
        )
    data = ("\n".join(lines) + "\n").encode()
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as spooled:
        spooled.write(data)
        spooled.seek(0)
        tracemalloc.start()
        try:
            parsed = importer.read(spooled)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert parsed.total == 2000 and len(parsed.of("embedding")) == 2000
    assert peak < len(data), f"checking {len(data):,} bytes peaked at {peak:,}"


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


def test_many_relation_types_between_one_pair_import_in_linear_time_within_the_limit():
    entities = [
        json.dumps({"type": "entity", "name": name, "entityType": "person", "observations": []})
        for name in ("Ann", "Bob")
    ]

    def relations(count: int) -> list[str]:
        return [
            json.dumps({"type": "relation", "from": "Ann", "to": "Bob", "relationType": f"kind_{n}_of_tie"})
            for n in range(count)
        ]

    def seconds(count: int) -> float:
        started = time.perf_counter()
        parsed = importer.read(entities + relations(count))
        elapsed = time.perf_counter() - started
        (edge,) = parsed.of("relationship")
        assert len(edge.fields["description"]) <= MAX_DESCRIPTION_CHARS
        assert edge.fields["description"].startswith("kind_0_of_tie; kind_1_of_tie")
        return elapsed

    small, large = seconds(3_000), seconds(24_000)
    assert large < 12 * small + 0.5, (small, large)  # eight times the lines, not sixty-four times the time


def _versions(*pairs: tuple[int, int | None]) -> list[str]:
    return [HEADER] + [
        json.dumps(
            {"kind": "observation", "id": i, "observation": f"Version {i}", "confidence": 0.5}
            | ({"supersedes": old} if old is not None else {})
        )
        for i, old in pairs
    ]


@pytest.mark.parametrize(
    ("pairs", "said"),
    [
        (((1, 2), (2, 1)), "makes a cycle of versions (1, 2)"),
        (((1, None), (2, 3), (3, 4), (4, 2)), "makes a cycle of versions (2, 3, 4)"),
        (((1, 1),), "supersedes names the observation itself"),
    ],
)
def test_version_cycles_and_self_replacement_are_refused(pairs, said):
    with pytest.raises(FileRejected) as refused:
        importer.read(_versions(*pairs))
    assert said in str(refused.value) and len(refused.value.problems) == 1


def test_a_name_or_alias_of_two_concepts_is_refused():
    concepts = [
        {"kind": "concept", "id": 1, "name": "Ann", "type": "person", "aliases": ["Annie", "Bob"]},
        {"kind": "concept", "id": 2, "name": "bob", "type": "person"},
    ]
    with pytest.raises(FileRejected) as refused:
        importer.read(
            [HEADER] + [json.dumps(c | {"created_at": "2024-01-01", "updated_at": "2024-01-01"}) for c in concepts]
        )
    assert "line 3: concept 'bob' is already a name or alias on line 2" in str(refused.value)
    assert importer.read(_versions((1, None), (2, 1), (3, 2))).total == 3  # a chain is fine


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
    deadline = time.monotonic() + 30  # the readers are gone: their downloads end and free their places
    while (again := browser.get(auth_server.url + "/dashboard/export")).status_code == 429:
        assert time.monotonic() < deadline, "a closed download kept its place"
        time.sleep(0.1)
    assert again.status_code == 200 and again.text.count("Exported fact") == 10_000
