"""A whole account in one go: the ZIP of every space, exported from the page
or the command line, imported into the spaces of the same names (made when
missing), all or nothing, twice adding nothing."""

from __future__ import annotations

import io
import json
import os
import time
import uuid
import zipfile

from sqlalchemy import func, select

from core import audit
from memory import spaces
from models import Observation, Space
from oauth_models import User
from tests.fakes import github_profile
from tests.support import (
    browser_login,
    call,
    found,
    mcp_client,
    new_key,
    new_user,
    run_cli,
    session_scope,
    subprocess_env,
)


def _signed_in(server, github, new_browser, github_id: int):
    github.next_profile = github_profile(github_id, f"whole{github_id}")
    browser, _ = browser_login(server.url, "github", new_browser())
    page = browser.get(server.url + "/dashboard")
    with session_scope() as db:
        user_id = db.scalars(select(User.id).where(User.email == f"whole{github_id}@example.com")).one()
    return browser, found(r'name="csrf_token" value="([0-9a-f]{64})"', page.text), user_id


def _env() -> dict[str, str]:
    return subprocess_env(DATABASE_URL=os.environ["MEMORYGATE_TEST_DATABASE_URL"])


def _make(owner: uuid.UUID, *names: str) -> None:
    with session_scope() as db:
        for name in names:
            spaces.create(db, user_id=owner, name=name)


def _held(owner: uuid.UUID) -> dict[str, list[str]]:
    """Each of the account's spaces by name, with its observations' texts."""
    with session_scope() as db:
        rows = db.execute(
            select(Space.name, Observation.observation)
            .outerjoin(Observation, Observation.owner_id == Space.id)
            .where(Space.owner_user_id == owner)
        ).all()
    held: dict[str, list[str]] = {}
    for name, text in rows:
        held.setdefault(name, [])
        if text is not None:
            held[name].append(text)
    return {name: sorted(texts) for name, texts in held.items()}


async def _fill(server_url: str, owner: uuid.UUID) -> None:
    _make(owner, "Client work", "Travel")
    async with mcp_client(server_url, new_key(owner)) as client:
        await call(client, "memory_store", observation="Plays the cello on Sundays")
        await call(client, "memory_store", observation="The Acme contract renews in June", space="client work")
        await call(client, "memory_store", observation="Prefers a window seat", space="Travel")


def _upload(server, browser, csrf: str, archive: bytes) -> tuple[str, dict]:
    staged = browser.post(
        server.url + "/dashboard/import",
        files={"file": ("memorygate.zip", archive, "application/zip")},
        data={"csrf_token": csrf},
    )
    assert staged.status_code == 303, staged.text
    job_url = server.url + staged.headers["location"]
    return job_url, browser.get(job_url, headers={"accept": "application/json"}).json()


def _run(browser, job_url: str, csrf: str) -> dict:
    browser.post(job_url + "/start", data={"csrf_token": csrf})
    for _ in range(400):  # a bounded wait for the background import, never a fixed one
        state = browser.get(job_url, headers={"accept": "application/json"}).json()
        if state["state"] != "running":
            return state
        time.sleep(0.05)
    raise AssertionError(f"the import did not finish: {state}")


async def test_every_space_goes_back_into_the_spaces_of_its_names(auth_server, github, new_browser):
    mover, _, source = _signed_in(auth_server, github, new_browser, 9970)
    await _fill(auth_server.url, source)
    download = mover.get(auth_server.url + "/dashboard/export", params={"space": "*"})
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        headers = {name: json.loads(archive.open(name).readline()) for name in archive.namelist()}
    assert {name: (h["space"], h["default_space"]) for name, h in headers.items()} == {
        "personal.jsonl": ("personal", True),
        "Client-work.jsonl": ("Client work", False),
        "Travel.jsonl": ("Travel", False),
    }

    # Another account: its default is called something else, and it has a space that reads the same as one.
    browser, csrf, owner = _signed_in(auth_server, github, new_browser, 9971)
    with session_scope() as db:
        spaces.rename(db, user_id=owner, space_id=owner, name="home")
    _make(owner, "CLIENT  work")
    job_url, preview = _upload(auth_server, browser, csrf, download.content)
    assert preview["source"] == "memorygate-spaces" and preview["uploaded"] == {"count": 3, "unit": "space"}
    # Each space's file has the AI that stored there (AI instances are per space).
    assert preview["plan"]["added"] == {"space": 1, "ai_instance": 3, "observation": 3}
    assert [(each["name"], each["new"], each["added"]) for each in preview["plan"]["spaces"]] == [
        ("home", False, {"ai_instance": 1, "observation": 1}),
        ("CLIENT work", False, {"ai_instance": 1, "observation": 1}),
        ("Travel", True, {"space": 1, "ai_instance": 1, "observation": 1}),
    ]
    assert _held(owner) == {"home": [], "CLIENT work": []}  # a preview changes nothing
    page = browser.get(job_url).text
    assert "<strong>Travel</strong> (new): its file adds 1 space, 1 AI instance, 1 observation." in page

    done = _run(browser, job_url, csrf)
    assert done["state"] == "done" and done["plan"]["added"] == preview["plan"]["added"], done
    assert _held(owner) == {
        "home": ["Plays the cello on Sundays"],
        "CLIENT work": ["The Acme contract renews in June"],
        "Travel": ["Prefers a window seat"],
    }
    with session_scope() as db:
        imported = audit.events_of_kind(db, user_id=owner, event=audit.MEMORY_IMPORTED)
        made = db.scalars(select(Space.id).where(Space.owner_user_id == owner)).all()
    assert sorted(str(event["space"]) for event in imported) == sorted(map(str, made))  # one for each space

    # The same file again adds nothing, and makes no space.
    again_url, again = _upload(auth_server, browser, csrf, download.content)
    assert again["plan"]["added"] == {} and again["plan"]["present"] == {"ai_instance": 3, "observation": 3}
    assert "There is nothing to import." in browser.get(again_url).text


async def test_a_bundle_with_mistakes_is_refused_whole_naming_each_file(auth_server, github, new_browser):
    browser, csrf, owner = _signed_in(auth_server, github, new_browser, 9972)
    header = {"format": "memorygate", "version": 1}
    good = (
        json.dumps({**header, "space": "Work"})
        + "\n"
        + json.dumps({"kind": "observation", "id": 1, "observation": "x", "confidence": 0.5})
    )
    bad = json.dumps(header) + "\n" + json.dumps({"kind": "observation", "id": 1, "observation": "y", "confidence": 2})
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("work.jsonl", good)
        archive.writestr("other/WORK.jsonl", json.dumps({**header, "space": "work"}) + "\n")  # the same space
        archive.writestr("Travel.jsonl", bad)  # named after its file: no space in its header
        archive.writestr("notes/readme.txt", "not an export")
    refused = browser.post(
        auth_server.url + "/dashboard/import",
        files={"file": ("all.zip", packed.getvalue(), "application/zip")},
        data={"csrf_token": csrf},
    )
    assert refused.status_code == 400
    assert "Travel.jsonl: line 2: observation.confidence must be between 0 and 1 (got 2)" in refused.text
    assert "other/WORK.jsonl and work.jsonl are both for the space &#39;Work&#39;" in refused.text
    assert _held(owner) == {"personal": []}


async def test_a_failure_while_importing_leaves_no_space_and_no_memory(auth_server, github, new_browser, tmp_path):
    browser, csrf, owner = _signed_in(auth_server, github, new_browser, 9973)
    source, email = new_user("bundled")
    await _fill(auth_server.url, source)
    archive = tmp_path / "all.zip"
    exported = run_cli("export", "--email", email, "--space", "*", "--output", str(archive), env=_env())
    assert exported.returncode == 0, exported.stderr
    job_url, preview = _upload(auth_server, browser, csrf, archive.read_bytes())
    assert preview["plan"]["added"]["space"] == 2
    # Before it is confirmed, the account fills up its spaces: the import cannot make its two.
    _make(owner, *(f"s{i}" for i in range(spaces.MAX_SPACES - 2)))
    failed = _run(browser, job_url, csrf)
    assert failed["state"] == "failed" and "it needs 2 new spaces" in failed["error"], failed
    held = _held(owner)
    assert len(held) == spaces.MAX_SPACES - 1 and not any(held.values())  # nothing added, nothing made


async def test_the_command_line_exports_every_space_and_imports_it_whole(server, tmp_path):
    env = _env()
    source, source_email = new_user("clisource")
    await _fill(server.url, source)
    archive = tmp_path / "all.zip"
    assert run_cli("export", "--email", source_email, "--space", "*", env=env).returncode == 1  # needs --output
    with_vectors = run_cli(
        "export", "--email", source_email, "--space", "*", "-o", str(archive), "--embeddings", env=env
    )
    assert with_vectors.returncode == 1 and "--embeddings" in with_vectors.stderr and not archive.exists()
    exported = run_cli("export", "--email", source_email, "--space", "*", "--output", str(archive), env=env)
    assert exported.returncode == 0, exported.stderr
    with zipfile.ZipFile(archive) as files:
        assert sorted(files.namelist()) == ["Client-work.jsonl", "Travel.jsonl", "personal.jsonl"]

    owner, email = new_user("clitarget")
    refused = run_cli("import", str(archive), "--email", email, "--space", "personal", env=env)
    assert refused.returncode == 1 and "--space" in refused.stderr and "every space" in refused.stderr
    dry = run_cli("import", str(archive), "--email", email, "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would add 2 spaces, 3 AI instances, 3 observations" in dry.stderr
    assert "Travel (new: the import makes it): its file would add 1 space, 1 AI instance, 1 observation." in dry.stderr
    assert _held(owner) == {"personal": []}
    done = run_cli("import", str(archive), "--email", email, env=env)
    assert done.returncode == 0, done.stderr
    assert _held(owner) == _held(source)
    again = run_cli("import", str(archive), "--email", email, env=env)
    assert "adds nothing new" in again.stderr and _held(owner) == _held(source)
    with session_scope() as db:
        count = db.execute(select(func.count()).select_from(Space).where(Space.owner_user_id == owner)).scalar_one()
    assert count == 3
