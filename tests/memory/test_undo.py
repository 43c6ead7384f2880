"""Forgetting from the account page, undone: the memory comes back as it
was — the same ref, its vectors, its place among its versions, a concept's
aliases and relationships — within the window, and never after it or for
another account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from core.errors import NotFound
from memory import observations, undo
from models import ForgottenMemory
from tests.support import call, call_error, new_user, session_scope, tool_client


async def test_an_undone_forget_restores_the_memory_its_vectors_and_its_versions(local_embedder):
    owner, _ = new_user()
    async with tool_client(owner, embedder=local_embedder) as client:
        first = await call(client, "memory_store", observation="Ann lives in Porto.")
        second = await call(client, "memory_store", observation="Ann lives in Lisbon.", supersedes=first["ref"])
        mark = datetime.now(UTC).isoformat()
    with session_scope() as db:
        undo_id = undo.forget(db, owner_id=owner, ref=second["ref"])
    async with tool_client(owner, embedder=local_embedder) as client:
        assert "No memory found" in await call_error(client, "memory_get", ref=second["ref"])
        assert (await call(client, "memory_recall", changed_since=mark))["forgotten"] == [second["ref"]]
    with session_scope() as db:
        assert undo.restore(db, owner_id=owner, undo_id=undo_id) == second["ref"]
    async with tool_client(owner, embedder=local_embedder) as client:
        back = await call(client, "memory_get", ref=second["ref"])
        assert back["text"] == "Ann lives in Lisbon." and back["supersedes"] == first["ref"]
        assert (await call(client, "memory_get", ref=first["ref"]))["superseded_by"] == second["ref"]
        found = await call(client, "memory_search", query="which city is Ann's home?")
        assert found["results"][0]["ref"] == second["ref"] and found["results"][0]["matched"] != "keywords"
        assert (await call(client, "memory_recall", changed_since=mark))["forgotten"] == []  # back, not gone
    with session_scope() as db:  # the copy is gone once used
        assert db.scalar(select(func.count()).where(ForgottenMemory.owner_id == owner)) == 0


async def test_a_concept_comes_back_with_its_aliases_and_relationships(local_embedder):
    owner, _ = new_user()
    async with tool_client(owner, embedder=local_embedder) as client:
        await call(client, "memory_store_concept", name="Ann", concept_type="person", description="A friend")
        await call(client, "memory_store_concept", name="Porto", concept_type="place", description="A city")
        await call(client, "memory_add_concept_alias", concept_name="Ann", alias="Annie")
        await call(
            client, "memory_add_concept_relationship", from_concept="Ann", to_concept="Porto", rel_type="related_to"
        )
        ann = await call(client, "memory_get_concept", name="Ann")
    with session_scope() as db:
        undo_id = undo.forget(db, owner_id=owner, ref=ann["ref"])
    with session_scope() as db:
        undo.restore(db, owner_id=owner, undo_id=undo_id)
    async with tool_client(owner, embedder=local_embedder) as client:
        back = await call(client, "memory_get_concept", name="Annie")
        assert back["ref"] == ann["ref"] and back["aliases"] == ["Annie"]
        related = await call(client, "memory_related_concepts", concept_name="Porto")
        assert [(link["concept"], link["direction"]) for link in related["relationships"]] == [("Ann", "incoming")]


def test_too_late_or_someone_elses_undo_is_refused_and_copies_leave_when_their_window_ends():
    owner, _ = new_user()
    stranger, _ = new_user()
    with session_scope() as db:
        ref = _stored(db, owner, "Has a cat called Miso.")
        undo_id = undo.forget(db, owner_id=owner, ref=ref)
    with session_scope() as db, pytest.raises(NotFound):
        undo.restore(db, owner_id=stranger, undo_id=undo_id)
    with session_scope() as db:
        db.execute(
            update(ForgottenMemory)
            .where(ForgottenMemory.id == undo_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    with session_scope() as db, pytest.raises(NotFound, match="no longer"):
        undo.restore(db, owner_id=owner, undo_id=undo_id)
    with session_scope() as db:
        assert undo.prune(db) >= 1
        assert db.get(ForgottenMemory, undo_id) is None  # nothing of it is kept


def _stored(db, owner, text: str) -> str:
    return observations.store_observation(db, owner_id=owner, observation=text)["ref"]
