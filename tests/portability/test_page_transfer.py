"""Export and import over HTTP with a browser session: who may, how big, what the answers say."""

from __future__ import annotations

import json
import time

from sqlalchemy import func, select

from models import Observation
from oauth_models import User
from tests.fakes import github_profile
from tests.support import browser_login, call, found, mcp_client, new_key, session_scope


def _signed_in(server, github, new_browser, github_id: int):
    github.next_profile = github_profile(github_id, f"mover{github_id}")
    browser, _ = browser_login(server.url, "github", new_browser())
    page = browser.get(server.url + "/dashboard")
    return browser, found(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)


def _owner(email: str):
    with session_scope() as db:
        return db.scalars(select(User.id).where(User.email == email)).one()


def _observations(owner) -> int:
    with session_scope() as db:
        return db.execute(select(func.count()).where(Observation.owner_id == owner)).scalar_one()


def _file(count: int, padding: int = 0) -> bytes:
    lines: list[dict] = [{"format": "memorygate", "version": 1}]
    lines += [
        # U+2028 is a line break to str.splitlines, but not to JSON Lines.
        {"kind": "observation", "id": i, "observation": f"Fact {i}\u2028" + "x" * padding, "confidence": 0.5}
        for i in range(1, count + 1)
    ]
    return ("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n").encode()


async def test_export_needs_the_session_and_holds_only_its_owners_memory(auth_server, github, new_browser):
    browser, _ = _signed_in(auth_server, github, new_browser, 9950)
    _signed_in(auth_server, github, new_browser, 9951)
    async with mcp_client(auth_server.url, new_key(_owner("mover9950@example.com"))) as client:
        await call(client, "memory_store", observation="Mine alone")
    async with mcp_client(auth_server.url, new_key(_owner("mover9951@example.com"))) as client:
        await call(client, "memory_store", observation="Someone else's")

    download = browser.get(auth_server.url + "/dashboard/export")
    assert download.status_code == 200 and download.headers["cache-control"] == "no-store"
    assert download.headers["content-disposition"].startswith('attachment; filename="memorygate-')
    records = [json.loads(line) for line in download.text.splitlines()]
    assert records[0]["counts"]["observation"] == 1
    assert [r["observation"] for r in records[1:] if r["kind"] == "observation"] == ["Mine alone"]
    anonymous = new_browser().get(auth_server.url + "/dashboard/export")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/dashboard"


def test_an_upload_is_previewed_confirmed_and_run_only_by_its_owner(auth_server, github, new_browser):
    browser, csrf = _signed_in(auth_server, github, new_browser, 9952)
    intruder, intruder_csrf = _signed_in(auth_server, github, new_browser, 9953)
    owner = _owner("mover9952@example.com")
    upload = {"file": ("memory.jsonl", _file(3), "application/x-ndjson")}

    refused = browser.post(auth_server.url + "/dashboard/import", files=upload, data={"csrf_token": intruder_csrf})
    assert refused.status_code == 403  # another session's token
    staged = browser.post(auth_server.url + "/dashboard/import", files=upload, data={"csrf_token": csrf})
    assert staged.status_code == 303
    job_url = auth_server.url + staged.headers["location"]
    preview = browser.get(job_url, headers={"accept": "application/json"}).json()
    assert preview["state"] == "previewed" and preview["plan"]["added"] == {"observation": 3}
    assert _observations(owner) == 0  # a preview adds nothing

    assert intruder.get(job_url).status_code == 404
    assert intruder.post(job_url + "/start", data={"csrf_token": intruder_csrf}).status_code == 404
    assert intruder.post(job_url + "/cancel", data={"csrf_token": intruder_csrf}).status_code == 404
    assert _observations(owner) == 0 and browser.get(job_url).status_code == 200  # still there, untouched

    started = browser.post(job_url + "/start", data={"csrf_token": csrf})
    assert started.status_code == 303 and started.headers["location"] == staged.headers["location"]
    for _ in range(400):  # a bounded wait for the background import, never a fixed one
        state = browser.get(job_url, headers={"accept": "application/json"}).json()
        if state["state"] != "running":
            break
        time.sleep(0.05)
    assert state["state"] == "done" and state["done"] == 3, state
    assert _observations(owner) == 3
    browser.post(job_url + "/start", data={"csrf_token": csrf})  # a second click on a done import does nothing
    assert _observations(owner) == 3


def test_uploads_may_be_larger_than_other_requests_but_are_bounded(auth_server, github, new_browser):
    browser, csrf = _signed_in(auth_server, github, new_browser, 9954)
    big = _file(300, padding=5000)  # about 1.5 MB: over the 1 MB every other request is held to
    assert len(big) > auth_server.app.state.settings.max_request_bytes
    staged = browser.post(
        auth_server.url + "/dashboard/import", files={"file": ("big.jsonl", big)}, data={"csrf_token": csrf}
    )
    assert staged.status_code == 303
    elsewhere = browser.post(auth_server.url + "/dashboard/keys", content=big)
    assert elsewhere.status_code == 413


def test_the_import_page_counts_what_the_person_uploaded(auth_server, github, new_browser):
    """Five lines of the reference server's memory.jsonl are nine records
    (two concepts, six observations, a relationship); the page says five lines."""
    browser, csrf = _signed_in(auth_server, github, new_browser, 9954)
    graph = [
        {"type": "entity", "name": "Ann", "entityType": "person", "observations": ["Likes tea", "Lives in Porto"]},
        {"type": "entity", "name": "Porto", "entityType": "place", "observations": ["By the Douro"]},
        {"type": "entity", "name": "Bob", "entityType": "person", "observations": ["Plays chess", "Cycles"]},
        {"type": "entity", "name": "Chess club", "entityType": "organization", "observations": ["Meets Tuesdays"]},
        {"type": "relation", "from": "Bob", "to": "Chess club", "relationType": "member_of"},
    ]
    body = "\n".join(json.dumps(line) for line in graph) + "\n"
    upload = {"file": ("memory.jsonl", body.encode(), "application/x-ndjson")}
    staged = browser.post(auth_server.url + "/dashboard/import", files=upload, data={"csrf_token": csrf})
    job_url = auth_server.url + staged.headers["location"]
    preview = browser.get(job_url, headers={"accept": "application/json"}).json()
    assert preview["uploaded"] == {"count": 5, "unit": "line"} and preview["total"] > 5
    assert "memory.jsonl, 5 lines.</p>" in browser.get(job_url).text  # not 9 records
    browser.post(job_url + "/start", data={"csrf_token": csrf})
    for _ in range(400):  # a bounded wait for the background import, never a fixed one
        state = browser.get(job_url, headers={"accept": "application/json"}).json()
        if state["state"] != "running":
            break
        time.sleep(0.05)
    assert state["state"] == "done" and state["uploaded"] == {"count": 5, "unit": "line"}  # kept when it ran
    assert state["plan"]["added"]["concept"] == 4
