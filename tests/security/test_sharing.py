"""Sharing a space with another account, over HTTP with the MCP client: an
invitation only the invited address can accept; a reader reads and is
refused writes; a writer writes, and their memories say who stored them; a
role change, a removal and leaving take effect on the next request in both
server apps (each with its own key cache) and in two `server.py` processes; both accounts' trails record each
step; a member's memories stay when they go; an owner's deletion tells the
members and takes the space from them."""

from __future__ import annotations

import os
import uuid

import httpx
import pytest
from sqlalchemy import select

from core import audit
from core.errors import InvalidInput, NotFound
from identity import deletion
from memory import sharing, spaces
from models import AuditEvent, Observation
from oauth_models import User
from tests.support import (
    ServerProcess,
    call,
    call_error,
    mcp_client,
    new_key,
    new_user,
    session_scope,
    subprocess_env,
)


def _user(user_id: uuid.UUID) -> User:
    with session_scope() as session:
        user = session.get(User, user_id)
        assert user is not None
        session.expunge(user)
        return user


def _share(owner: uuid.UUID, member_email: str, role: str, name: str = "Team") -> uuid.UUID:
    """The owner makes a space and invites the address; the member accepts. Returns the space."""
    with session_scope() as session:
        space = spaces.create(session, user_id=owner, name=name)
        invitation = sharing.invite(session, owner=_user(owner), space_id=space.id, email=member_email, role=role)
        invitation_id = invitation.id
    member = _member_id(member_email)
    with session_scope() as session:
        sharing.accept(session, user=_user(member), invitation_id=invitation_id)
    return space.id


def _member_id(email: str) -> uuid.UUID:
    with session_scope() as session:
        return session.scalars(select(User.id).where(User.email == email)).one()


def _trail(user_id: uuid.UUID) -> list[str]:
    with session_scope() as session:
        return list(session.scalars(select(AuditEvent.event).where(AuditEvent.actor_user_id == user_id)))


async def test_a_reader_reads_a_shared_space_and_is_refused_writes(server):
    owner, owner_email = new_user("sharer")
    member, member_email = new_user("reader")
    async with mcp_client(server.url, new_key(owner)) as client:
        await call(client, "memory_store", observation="Not shared: my own notes")
    _share(owner, member_email, "reader")
    async with mcp_client(server.url, new_key(owner)) as client:
        shared = await call(client, "memory_store", observation="The launch date moved to 14 March", space="Team")
    label = f"{owner_email}/Team"
    async with mcp_client(server.url, new_key(member)) as client:
        reached = (await call(client, "memory_bootstrap"))["spaces"]
        assert reached == [{"name": "personal", "default": True}, {"name": label, "role": "reader", "read_only": True}]
        found = await call(client, "memory_search", query="when is the launch", min_similarity=0)
        hit = next(hit for hit in found["results"] if hit["ref"] == shared["ref"])
        assert hit["space"] == label
        everything = " ".join(hit["text"] for hit in found["results"])
        assert "my own notes" not in everything  # the owner's other spaces are not shared
        assert shared["ref"] in (await call(client, "memory_brief", space=label))["text"]
        assert (await call(client, "memory_stats", space=label))["space"] == label  # named as it is shared
        refused = await call_error(client, "memory_store", observation="Moved again", space=label)
        assert refused == (
            f"Not allowed: '{label}' is shared with you as reader, who may not store or change memories there; "
            "nothing changed."
        )
        assert "as reader" in await call_error(client, "memory_archive", refs=[shared["ref"]])
    answer = httpx.post(
        server.url + "/api/v1/memories",
        json={"observation": "Via HTTP", "space": label},
        headers={"Authorization": f"Bearer {new_key(member)}"},
    )
    assert answer.status_code == 403 and "as reader" in answer.json()["detail"]
    assert "insufficient_scope" not in answer.headers.get("www-authenticate", "")  # more scope would not help
    with session_scope() as session:
        assert session.get(Observation, shared["id"]).archived_at is None
    for person in (owner, member):
        assert {audit.SPACE_INVITED, audit.SPACE_JOINED} <= set(_trail(person))


async def test_a_writers_memories_say_who_stored_them_and_stay_when_they_go(server):
    owner, owner_email = new_user("team-owner")
    member, member_email = new_user("writer")
    _share(owner, member_email, "writer")
    label = f"{owner_email}/Team"
    async with mcp_client(server.url, new_key(member)) as client:
        stored = await call(client, "memory_store", observation="Retro notes live in the wiki", space=label)
        assert stored["stored"] is True
        forget = await call_error(client, "memory_delete", ref=stored["ref"])
        assert forget.startswith(f"Not allowed: '{label}' is shared with you as writer, who may not delete")
    async with mcp_client(server.url, new_key(owner)) as client:
        hit = (await call(client, "memory_search", query="where are retro notes", space="Team"))["results"][0]
        assert (hit["ref"], hit["stored_by"]) == (stored["ref"], member_email)
        recalled = (await call(client, "memory_recall", space="Team"))["observations"][0]
        assert recalled["stored_by"] == member_email
    with session_scope() as session:
        deletion.delete_account(session, member, by="self")
    async with mcp_client(server.url, new_key(owner)) as client:
        kept = (await call(client, "memory_get", ref=stored["ref"]))["text"]
        assert kept == "Retro notes live in the wiki"  # the space's, not the member's
        assert "stored_by" not in (await call(client, "memory_recall", space="Team"))["observations"][0]


async def test_role_changes_removal_and_leaving_take_effect_on_the_next_request_in_every_app(server, auth_server):
    owner, owner_email = new_user("mover")
    member, member_email = new_user("member")
    space_id = _share(owner, member_email, "reader")
    label = f"{owner_email}/Team"
    key = new_key(member)
    apps = (server, auth_server)  # two apps on one database, each with its own cache of verified keys
    for app in apps:
        async with mcp_client(app.url, key) as client:
            assert "as reader" in await call_error(client, "memory_store", observation="Try", space=label)
    with session_scope() as session:
        sharing.change_role(session, owner=_user(owner), space_id=space_id, member_id=member, role="writer")
    for app in apps:
        async with mcp_client(app.url, key) as client:
            assert (await call(client, "memory_store", observation=f"Written via {app.url}", space=label))["stored"]
    with session_scope() as session:
        sharing.remove(session, owner=_user(owner), space_id=space_id, member_id=member)
    for app in apps:
        async with mcp_client(app.url, key) as client:
            assert "no space named" in await call_error(client, "memory_search", query="written", space=label)
            found = await call(client, "memory_search", query="Written via", min_similarity=0)
            assert all("Written via" not in hit["text"] for hit in found["results"])
    with session_scope() as session:  # what they wrote stays in the space
        assert len(list(session.scalars(select(Observation.id).where(Observation.owner_id == space_id)))) == 2
    assert audit.SPACE_ROLE_CHANGED in _trail(member) and audit.SPACE_MEMBER_REMOVED in _trail(member)
    assert audit.SPACE_MEMBER_REMOVED in _trail(owner)

    # Invited again, they join and then leave on their own.
    with session_scope() as session:
        invitation = sharing.invite(session, owner=_user(owner), space_id=space_id, email=member_email, role="reader")
        sharing.accept(session, user=_user(member), invitation_id=invitation.id)
        sharing.leave(session, user=_user(member), space_id=space_id)
    async with mcp_client(server.url, key) as client:
        assert "no space named" in await call_error(client, "memory_recall", space=label)
    assert audit.SPACE_LEFT in _trail(owner) and audit.SPACE_LEFT in _trail(member)


def test_only_the_invited_address_accepts_and_only_the_owner_shares():
    owner, owner_email = new_user("inviter")
    member, member_email = new_user("invitee")
    stranger, _ = new_user("stranger")
    with session_scope() as session:
        space = spaces.create(session, user_id=owner, name="Plans")
        invitation = sharing.invite(session, owner=_user(owner), space_id=space.id, email=member_email, role="reader")
        with pytest.raises(NotFound, match="No such invitation for this account"):
            sharing.accept(session, user=_user(stranger), invitation_id=invitation.id)
        with pytest.raises(NotFound, match="No such invitation for this account"):
            sharing.decline(session, user=_user(stranger), invitation_id=invitation.id)
        with pytest.raises(NotFound):  # not theirs to share
            sharing.invite(session, owner=_user(member), space_id=space.id, email="x@example.com", role="reader")
        with pytest.raises(InvalidInput, match="your own address"):
            sharing.invite(session, owner=_user(owner), space_id=space.id, email=owner_email.upper(), role="reader")
        with pytest.raises(InvalidInput, match="Invalid role: must be 'reader' or 'writer'"):
            sharing.invite(session, owner=_user(owner), space_id=space.id, email=member_email, role="owner")
        with pytest.raises(InvalidInput, match="Invalid email"):
            sharing.invite(session, owner=_user(owner), space_id=space.id, email="two@a.com b@c.com", role="reader")
        # The invited address, in any case, accepts.
        joined = sharing.accept(session, user=_user(member), invitation_id=invitation.id)
        assert (joined.label, joined.role) == (f"{owner_email}/Plans", "reader")
        with pytest.raises(NotFound):  # used up
            sharing.accept(session, user=_user(member), invitation_id=invitation.id)


async def test_a_shared_space_never_takes_the_name_of_the_members_own(server):
    owner, owner_email = new_user("same-name-owner")
    member, member_email = new_user("same-name-member")
    _share(owner, member_email, "writer", name="Garden")
    with session_scope() as session:
        spaces.create(session, user_id=member, name="Garden")
    async with mcp_client(server.url, new_key(member)) as client:
        mine = await call(client, "memory_store", observation="Tomatoes need staking", space="garden")
        theirs = await call(client, "memory_store", observation="Shed key under the pot", space=f"{owner_email}/Garden")
    with session_scope() as session:
        homes = dict(session.execute(select(Observation.id, Observation.owner_id)).all())
        member_garden = next(s.id for s in spaces.of_account(session, member) if s.name == "Garden")
        owner_garden = next(s.id for s in spaces.of_account(session, owner) if s.name == "Garden")
    assert (homes[mine["id"]], homes[theirs["id"]]) == (member_garden, owner_garden)
    with session_scope() as session, pytest.raises(InvalidInput, match="must not contain '/'"):
        spaces.create(session, user_id=member, name=f"{owner_email}/Garden")


async def test_an_owners_deletion_tells_the_members_and_takes_the_space(server):
    owner, owner_email = new_user("leaving-owner")
    member, member_email = new_user("left-member")
    _share(owner, member_email, "reader", name="Book club")
    key = new_key(member)
    async with mcp_client(server.url, key) as client:
        assert len((await call(client, "memory_bootstrap"))["spaces"]) == 2
    with session_scope() as session:
        deletion.delete_account(session, owner, by="self")
    async with mcp_client(server.url, key) as client:
        assert (await call(client, "memory_bootstrap"))["spaces"] == [{"name": "personal", "default": True}]
    with session_scope() as session:
        gone = audit.events_of_kind(session, user_id=member, event=audit.SPACE_GONE)
    assert [(event["space_name"], event["owner"]) for event in gone] == [("Book club", owner_email)]


@pytest.mark.slow
async def test_a_removal_takes_effect_at_once_in_two_server_processes():
    owner, owner_email = new_user("two-processes-owner")
    member, member_email = new_user("two-processes-member")
    space_id = _share(owner, member_email, "writer", name="Crew")
    label, key = f"{owner_email}/Crew", new_key(member)
    env = subprocess_env(DATABASE_URL=os.environ["MEMORYGATE_TEST_DATABASE_URL"], EMBEDDING_PROVIDER="none")
    servers = [ServerProcess(env).start(), ServerProcess(env).start()]
    try:
        for server in servers:  # each process verifies and caches the key, and stores through it
            async with mcp_client(server.url, key) as client:
                assert (await call(client, "memory_store", observation=f"From {server.port}", space=label))["stored"]
        with session_scope() as session:
            sharing.remove(session, owner=_user(owner), space_id=space_id, member_id=member)
        for server in servers:  # the next request, in either process
            async with mcp_client(server.url, key) as client:
                assert "no space named" in await call_error(client, "memory_store", observation="Again", space=label)
                assert (await call(client, "memory_bootstrap"))["spaces"] == [{"name": "personal", "default": True}]
    finally:
        for server in servers:
            server.terminate()
