"""Spaces as a boundary, over HTTP with the MCP client and the /api routes:
what a space holds stays in it; a key limited to some spaces reaches those
and nothing else, by name or by ref; another account's space of the same
name is not reached; names that read the same collide; deleting a space
takes its memories and cuts the keys that reached only it."""

from __future__ import annotations

import os
import uuid

import httpx
import pytest
from sqlalchemy import func, select, text

from core.errors import InvalidInput
from core.principal import ALL_SCOPES
from memory import archive, space_access, spaces
from models import Observation, Space
from oauth_models import APIKey
from tests.support import call, call_error, mcp_client, new_key, new_user, run_cli, session_scope, subprocess_env


def make_space(owner: uuid.UUID, name: str) -> uuid.UUID:
    with session_scope() as session:
        return spaces.create(session, user_id=owner, name=name).id


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_what_a_space_holds_stays_in_it_and_reads_span_every_space(server):
    owner, _ = new_user("spaces")
    make_space(owner, "Work")
    async with mcp_client(server.url, new_key(owner)) as client:
        work = await call(client, "memory_store", observation="Project Falcon ships in March", space="work")
        home = await call(client, "memory_store", observation="Drinks green tea in the afternoon")
        # The same words in two spaces are two memories: duplicates are per space.
        again = await call(client, "memory_store", observation="Drinks green tea in the afternoon", space="Work")
        assert again["stored"] is True and again["ref"] != home["ref"]

        listed = await call(client, "memory_bootstrap")
        assert listed["spaces"] == [{"name": "personal", "default": True}, {"name": "Work"}]

        only_home = await call(client, "memory_search", query="Project Falcon ships", space="personal")
        assert work["ref"] not in [hit["ref"] for hit in only_home["results"]]
        only_work = await call(client, "memory_search", query="Project Falcon ships", space="work")
        assert [hit["ref"] for hit in only_work["results"]][:1] == [work["ref"]]
        assert "space" not in only_work["results"][0]  # one space: nothing to tell apart
        everywhere = await call(client, "memory_search", query="Project Falcon ships")
        first = everywhere["results"][0]
        assert (first["ref"], first["space"]) == (work["ref"], "Work")

        recalled = await call(client, "memory_recall")
        assert {(o["ref"], o["space"]) for o in recalled["observations"]} == {
            (work["ref"], "Work"),
            (home["ref"], "personal"),
            (again["ref"], "Work"),
        }
        assert {o["ref"] for o in (await call(client, "memory_recall", space="personal"))["observations"]} == {
            home["ref"]
        }
        brief = await call(client, "memory_brief")
        assert f"[{work['ref']} · Work · " in brief["text"] and f"[{home['ref']} · personal · " in brief["text"]

        # Concepts are per space: one name, two concepts.
        made = [
            await call(client, "memory_store_concept", name="Ann", concept_type="person", space=where)
            for where in ("work", "personal")
        ]
        assert [answer["created"] for answer in made] == [True, True] and made[0]["ref"] != made[1]["ref"]
        assert (await call(client, "memory_stats", space="work"))["space"] == "Work"

        # A ref is acted on where it is, and a call names one space.
        assert (await call(client, "memory_get", ref=work["ref"]))["text"] == "Project Falcon ships in March"
        problem = await call_error(client, "memory_archive", refs=[work["ref"], home["ref"]])
        assert problem == "Invalid refs: must all be in one space; call once per space"
        problem = await call_error(client, "memory_archive", refs=[work["ref"]], space="personal")
        assert problem == "Invalid refs: is not in space 'personal'"
        problem = await call_error(client, "memory_store", observation="Somewhere", space="*")
        assert problem == "Invalid space: '*' (every space) is only for reads; name one space"


async def test_a_key_limited_to_one_space_reaches_that_space_only(server):
    owner, _ = new_user("spaces-limited")
    work_id = make_space(owner, "work")
    async with mcp_client(server.url, new_key(owner)) as client:
        private = await call(client, "memory_store", observation="The diagnosis came back on Tuesday")
    limited = new_key(owner, space_ids=[work_id])
    async with mcp_client(server.url, limited) as client:
        assert (await call(client, "memory_bootstrap"))["spaces"] == [{"name": "work", "default": True}]
        stored = await call(client, "memory_store", observation="The standup moved to 9:30")  # into work
        assert stored["stored"] is True
        found = await call(client, "memory_search", query="diagnosis Tuesday", min_similarity=0)
        assert private["ref"] not in [hit["ref"] for hit in found["results"]]
        problem = await call_error(client, "memory_search", query="diagnosis", space="personal")
        assert problem == "Invalid space: no space named 'personal' that this credential reaches (it reaches 'work')"
        # By ref, another space's memory is as unknown as one that does not exist.
        unknown = await call_error(client, "memory_get", ref="observation:999999999")
        assert await call_error(client, "memory_get", ref=private["ref"]) == unknown.replace(
            "999999999", private["ref"].split(":")[1]
        )
        await call_error(client, "memory_delete", ref=private["ref"])
        await call_error(client, "memory_store", observation="Replaces it", supersedes=private["ref"])
        assert private["ref"] not in (await call(client, "memory_brief"))["text"]
    with session_scope() as session:
        kept = session.scalars(select(Observation).where(Observation.id == int(private["ref"].split(":")[1]))).one()
        assert kept.owner_id == owner and kept.superseded_by_id is None  # untouched
        assert session.scalars(select(Observation.owner_id).where(Observation.id == stored["id"])).one() == work_id

    answer = httpx.get(server.url + "/api/v1/search?query=diagnosis&space=personal", headers=_bearer(limited))
    assert answer.status_code == 400 and "no space named 'personal'" in answer.json()["detail"]
    posted = httpx.post(
        server.url + "/api/v1/memories",
        json={"observation": "Posted to work", "space": "work"},
        headers=_bearer(limited),
    )
    assert posted.status_code == 200 and posted.json()["stored"] is True


async def test_another_accounts_space_of_the_same_name_is_not_reached(server):
    mine, _ = new_user("spaces-mine")
    theirs, _ = new_user("spaces-theirs")
    make_space(mine, "work")
    their_work = make_space(theirs, "work")
    async with mcp_client(server.url, new_key(theirs, space_ids=[their_work])) as client:
        secret = await call(client, "memory_store", observation="Acquisition of Blue Harbor closes Friday")
    async with mcp_client(server.url, new_key(mine)) as client:
        found = await call(client, "memory_search", query="Blue Harbor acquisition", space="work", min_similarity=0)
        assert secret["ref"] not in [hit["ref"] for hit in found["results"]]
        assert "No memory found" in await call_error(client, "memory_get", ref=secret["ref"])
        await call_error(client, "memory_archive", refs=[secret["ref"]], space="work")
    with session_scope() as session:  # their memory is untouched by both tries
        assert session.get(Observation, secret["id"]).archived_at is None
    # A key listing another account's space reaches nothing through it.
    forged = new_key(mine, space_ids=[their_work])
    async with mcp_client(server.url, forged) as client:
        problem = await call_error(client, "memory_store", observation="Into their space?")
        assert "reaches no space" in problem
        assert "reaches no space" in await call_error(client, "memory_get", ref=secret["ref"])


def test_names_that_read_the_same_are_one_name():
    owner, _ = new_user("spaces-names")
    make_space(owner, "Work Notes")
    with session_scope() as session:
        for clash in ("work notes", "  WORK   notes ", "Ｗｏｒｋ Ｎｏｔｅｓ"):  # case, spacing, full-width forms
            with pytest.raises(InvalidInput, match="reads the same as a space this account already has"):
                spaces.create(session, user_id=owner, name=clash)
        for bad, rule in (("", "must not be empty"), ("*", "letter or digit"), ("a\u200bb", "invisible")):
            with pytest.raises(InvalidInput, match=rule):
                spaces.create(session, user_id=owner, name=bad)
        with pytest.raises(InvalidInput, match="at most 64"):
            spaces.create(session, user_id=owner, name="x" * 65)
        with pytest.raises(InvalidInput, match="reads the same"):
            spaces.rename(session, user_id=owner, space_id=owner, name="WORK NOTES")
        # Another account may use the name.
        other, _ = new_user("spaces-names-other")
        assert spaces.create(session, user_id=other, name="work notes").name == "work notes"


async def test_deleting_a_space_takes_its_memories_and_cuts_keys_that_reached_only_it(server):
    owner, _ = new_user("spaces-delete")
    work_id = make_space(owner, "work")
    limited = new_key(owner, space_ids=[work_id])
    async with mcp_client(server.url, limited) as client:
        await call(client, "memory_store", observation="Quarterly review is in the big room")
    async with mcp_client(server.url, new_key(owner)) as client:
        home = await call(client, "memory_store", observation="Sister's birthday is in May")
    with session_scope() as session:
        with pytest.raises(InvalidInput, match="default space cannot be deleted"):
            spaces.delete_space(session, user_id=owner, space_id=owner)
        deleted = spaces.delete_space(session, user_id=owner, space_id=work_id)
        assert deleted["observation"] == 1
    with session_scope() as session:
        assert session.scalar(select(func.count()).where(Observation.owner_id == work_id)) == 0
        assert session.scalar(select(func.count()).where(Observation.owner_id == owner)) == 1
    async with mcp_client(server.url, limited) as client:  # the next request, in this or any process
        assert "reaches no space" in await call_error(client, "memory_store", observation="Still here?")
        assert "reaches no space" in await call_error(client, "memory_search", query="review")
    async with mcp_client(server.url, new_key(owner)) as client:
        assert (await call(client, "memory_get", ref=home["ref"]))["text"] == "Sister's birthday is in May"


async def test_retention_is_set_per_space(server):
    owner, _ = new_user("spaces-retention")
    work_id = make_space(owner, "work")
    async with mcp_client(server.url, new_key(owner)) as client:
        old_work = await call(client, "memory_store", observation="Old sprint goal", space="work")
        old_home = await call(client, "memory_store", observation="Old hobby")
    with session_scope() as session:
        session.execute(
            text(
                "UPDATE observations SET created_at = now() - interval '400 days', last_seen_at = NULL, "
                "last_accessed = NULL WHERE id = ANY(:ids)"
            ),
            {"ids": [old_work["id"], old_home["id"]]},
        )
        spaces.set_retention(session, user_id=owner, space_id=work_id, days=30)
    with session_scope() as session:
        counts = archive.apply_retention(session)
        assert counts.get(work_id) == 1 and owner not in counts
        archived = dict(session.execute(select(Observation.id, Observation.archived_at.is_not(None))).all())
        assert archived[old_work["id"]] is True and archived[old_home["id"]] is False
        assert session.scalar(select(Space.retention_days).where(Space.id == owner)) is None


def test_a_key_limited_to_a_space_mints_keys_limited_to_it(server):
    owner, _ = new_user("spaces-mint")
    work_id = make_space(owner, "work")
    manager = new_key(owner, space_ids=[work_id])
    made = httpx.post(server.url + "/auth/api-keys", json={"name": "minted"}, headers=_bearer(manager))
    assert made.status_code == 201 and made.json()["space_ids"] == [str(work_id)]
    whole = httpx.post(server.url + "/auth/api-keys", json={"name": "whole"}, headers=_bearer(new_key(owner)))
    assert whole.json()["space_ids"] is None  # every space, as its creator


async def test_a_key_may_hold_fewer_rights_in_some_spaces(server):
    owner, _ = new_user("spaces-rights")
    work_id = make_space(owner, "work")
    with session_scope() as session:  # as the account page's "reads only" in personal, "all it may" in work
        reach, held = space_access.reach_and_rights(session, owner, [f"{owner}:read", f"{work_id}:all", "*:none"])
    assert sorted(map(str, reach or [])) == sorted([str(owner), str(work_id)])
    async with mcp_client(server.url, new_key(owner)) as client:
        diary = await call(client, "memory_store", observation="Diary: ran 10 km on Sunday")
    key = new_key(owner, space_ids=reach, space_scopes=held)
    async with mcp_client(server.url, key) as client:
        assert (await call(client, "memory_bootstrap"))["spaces"] == [
            {"name": "personal", "read_only": True},
            {"name": "work", "default": True},  # where it may write
        ]
        refused = await call_error(client, "memory_store", observation="Into personal", space="personal")
        assert refused == (
            "Not allowed: this credential may not store or change memories in space 'personal'; nothing changed."
        )
        assert "may not store" in await call_error(client, "memory_archive", refs=[diary["ref"]])
        stored = await call(client, "memory_store", observation="Standup at 9:30")  # no space named: work
        found = await call(client, "memory_search", query="running on Sunday", min_similarity=0)
        assert diary["ref"] in [hit["ref"] for hit in found["results"]]  # it may read personal
    with session_scope() as session:
        assert session.get(Observation, diary["id"]).archived_at is None
        assert session.get(Observation, stored["id"]).owner_id == work_id
    # A space that was given nothing, and the spaces made later, are out of reach.
    with session_scope() as session:
        reach, held = space_access.reach_and_rights(session, owner, [f"{owner}:none", f"{work_id}:read", "*:none"])
    assert reach == [work_id] and held == {str(work_id): ["memory:read"]}
    with session_scope() as session:
        assert space_access.reach_and_rights(session, owner, [f"{owner}:none", f"{work_id}:none", "*:none"])[0] == []
        assert space_access.reach_and_rights(session, owner, []) == (None, None)  # not asked: every space, every right


async def test_a_key_may_store_but_never_delete_in_a_space(server):
    """A client that may store but never forget, in one space: its deletes
    there are refused and change nothing; where it holds every right, they work."""
    owner, _ = new_user("spaces-nodelete")
    work_id = make_space(owner, "work")
    with session_scope() as session:  # the account page's "reads and writes, never deletes" in work
        reach, held = space_access.reach_and_rights(session, owner, [f"{work_id}:write", f"{owner}:all", "*:none"])
    assert held == {str(work_id): ["memory:read", "memory:write"], str(owner): sorted(ALL_SCOPES)}
    key = new_key(owner, space_ids=reach, space_scopes=held)
    async with mcp_client(server.url, key) as client:
        kept = await call(client, "memory_store", observation="Quarterly plan drafted", space="work")
        refused = await call_error(client, "memory_delete", ref=kept["ref"])
        assert refused == "Not allowed: this credential may not delete memories in space 'work'; nothing changed."
        assert (await call(client, "memory_archive", refs=[kept["ref"]]))["archived"] == [kept["ref"]]  # writing
        mine = await call(client, "memory_store", observation="Buy oat milk")  # the default space: every right
        assert (await call(client, "memory_delete", ref=mine["ref"]))["deleted"] is True
    with session_scope() as session:
        assert session.get(Observation, kept["id"]) is not None and session.get(Observation, mine["id"]) is None


def test_create_key_names_its_spaces_and_where_it_only_reads():
    owner, email = new_user("spaces-cli")
    make_space(owner, "work")
    env = subprocess_env(DATABASE_URL=os.environ["MEMORYGATE_TEST_DATABASE_URL"])
    made = run_cli("create-key", "--email", email, "--spaces", "work:write,personal:read", env=env)
    assert made.returncode == 0, made.stderr
    with session_scope() as session:
        key = session.scalars(select(APIKey).where(APIKey.user_id == owner)).one()
        work_id = make_space_id(owner, "work")
        assert sorted(map(str, key.space_ids or [])) == sorted([str(owner), str(work_id)])
        assert key.space_scopes == {str(owner): ["memory:read"], str(work_id): ["memory:read", "memory:write"]}
    wrong = run_cli("create-key", "--email", email, "--spaces", "holidays", env=env)
    assert wrong.returncode == 2 and "--spaces takes names of this account's spaces (personal, work)" in wrong.stderr


def make_space_id(owner: uuid.UUID, name: str) -> uuid.UUID:
    with session_scope() as session:
        return next(space.id for space in spaces.of_account(session, owner) if space.name == name)
