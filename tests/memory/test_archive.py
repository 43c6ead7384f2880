"""Cold storage through a real MCP client: archive, search the archive, rehydrate, candidates."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from core.principal import READ_SCOPE
from models import AuditEvent, Observation
from tests.support import call, call_error, mcp_client, new_key, session_scope, user_with_key

pytestmark = pytest.mark.tools  # the tool tier: scripts/check runs it


async def test_an_archived_memory_leaves_search_and_recall_and_comes_back(server):
    owner, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        kept = await call(client, "memory_store", observation="Plays chess at the club on Thursdays")
        cold = await call(client, "memory_store", observation="Played chess online during the 2020 lockdown")
        preview = await call(client, "memory_archive", query="chess lockdown", limit=5)
        assert cold["ref"] in [hit["ref"] for hit in preview["preview"]] and "Nothing was archived" in preview["next"]

        assert await call(client, "memory_archive", refs=[cold["ref"]]) == {"archived": [cold["ref"]]}
        again = await call(client, "memory_archive", refs=[cold["ref"]])
        assert again == {"archived": [], "already_archived": [cold["ref"]]}
        found = await call(client, "memory_search", query="chess", min_similarity=0)
        assert [hit["ref"] for hit in found["results"]] == [kept["ref"]]
        only = await call(client, "memory_search", query="chess", min_similarity=0, archived="only")
        assert [hit["ref"] for hit in only["results"]] == [cold["ref"]]
        both = await call(client, "memory_search", query="chess", min_similarity=0, archived="include")
        assert {hit["ref"] for hit in both["results"]} == {kept["ref"], cold["ref"]}
        assert [o["ref"] for o in (await call(client, "memory_recall"))["observations"]] == [kept["ref"]]
        stats = await call(client, "memory_stats")
        assert stats["counts"]["observations"] == 1 and stats["archived"] == 1
        assert (await call(client, "memory_get", ref=cold["ref"]))["text"].startswith("Played")

        assert await call(client, "memory_rehydrate", refs=[cold["ref"]]) == {"rehydrated": [cold["ref"]]}
        back = await call(client, "memory_search", query="chess", min_similarity=0)
        assert {hit["ref"] for hit in back["results"]} == {kept["ref"], cold["ref"]}
    with session_scope() as db:
        events = db.scalars(select(AuditEvent.event).where(AuditEvent.actor_user_id == owner)).all()
    assert "memory_archived" in events and "memory_rehydrated" in events


async def test_archiving_is_all_or_nothing(server):
    _, other_key = user_with_key("other")
    owner, key = user_with_key()
    async with mcp_client(server.url, key) as client, mcp_client(server.url, other_key) as other:
        mine = await call(client, "memory_store", observation="Mine to archive")
        theirs = await call(other, "memory_store", observation="Not mine")
        refused = await call_error(client, "memory_archive", refs=[mine["ref"], theirs["ref"]])
        assert refused == f"No memory found for refs {theirs['ref']}"
        bad = await call_error(client, "memory_archive", refs=["observation:x"])
        assert bad.startswith("Invalid refs: id must be a positive integer")
        neither = await call_error(client, "memory_archive")
        assert neither == "Invalid refs: give refs to archive, or a query to preview (not both)"
    with session_scope() as db:
        assert db.scalars(select(Observation.archived_at).where(Observation.owner_id == owner)).all() == [None]


async def test_candidates_put_old_unread_doubtful_memories_first(server):
    owner, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        fresh = await call(client, "memory_store", observation="Started learning the cello", confidence=0.9)
        old = await call(client, "memory_store", observation="Considered buying a kayak", confidence=0.9)
        doubtful = await call(client, "memory_store", observation="Might like jazz", confidence=0.3)
        with session_scope() as db:  # as if recorded long ago
            db.execute(
                text("UPDATE observations SET created_at = now() - interval '400 days' WHERE id = ANY(:ids)"),
                {"ids": [int(old["id"]), int(doubtful["id"])]},
            )
        listed = await call(client, "memory_archive_candidates", limit=3)
        assert [c["ref"] for c in listed["candidates"]] == [doubtful["ref"], old["ref"], fresh["ref"]]
        assert listed["candidates"][0]["staleness"] > listed["candidates"][1]["staleness"] > 0


async def test_a_read_only_key_cannot_archive_or_rehydrate(server):
    owner, key = user_with_key()
    reader = new_key(owner, scopes=(READ_SCOPE,))
    async with mcp_client(server.url, key) as client, mcp_client(server.url, reader) as read_only:
        stored = await call(client, "memory_store", observation="Keeps bees")
        assert "memory:write" in await call_error(read_only, "memory_archive", refs=[stored["ref"]])
        await call(client, "memory_archive", refs=[stored["ref"]])
        assert "memory:write" in await call_error(read_only, "memory_rehydrate", refs=[stored["ref"]])
        assert (await call(read_only, "memory_archive_candidates"))["count"] == 0  # reading is allowed


async def test_a_retention_policy_archives_what_went_unused_and_deletes_nothing(server):
    from sqlalchemy import update

    from memory import archive
    from models import Space

    owner, key = user_with_key()
    _, bystander_key = user_with_key("no-policy")
    async with mcp_client(server.url, key) as client, mcp_client(server.url, bystander_key) as bystander:
        stale = await call(client, "memory_store", observation="Used a flip phone")
        fresh = await call(client, "memory_store", observation="Uses a smartphone")
        theirs = await call(bystander, "memory_store", observation="Also used a flip phone")
        with session_scope() as db:
            db.execute(update(Space).where(Space.id == owner).values(retention_days=30))
            db.execute(
                text("UPDATE observations SET created_at = now() - interval '45 days' WHERE id = ANY(:ids)"),
                {"ids": [int(stale["id"]), int(theirs["id"])]},
            )
        with session_scope() as db:
            assert archive.apply_retention(db).get(owner) == 1
        found = await call(client, "memory_search", query="phone", min_similarity=0)
        assert [hit["ref"] for hit in found["results"]] == [fresh["ref"]]
        assert (await call(client, "memory_get", ref=stale["ref"]))["text"] == "Used a flip phone"
        only = await call(client, "memory_search", query="phone", min_similarity=0, archived="only")
        assert [hit["ref"] for hit in only["results"]] == [stale["ref"]]
        other = await call(bystander, "memory_search", query="phone", min_similarity=0)
        assert [hit["ref"] for hit in other["results"]] == [theirs["ref"]]  # no policy: untouched
    with session_scope() as db:
        assert (
            "retention_archived" in db.scalars(select(AuditEvent.event).where(AuditEvent.actor_user_id == owner)).all()
        )
        assert archive.apply_retention(db).get(owner) is None  # nothing more to do


async def test_retention_and_candidates_cover_every_kind_and_reads_keep_a_memory(server):
    from sqlalchemy import update

    from memory import archive
    from models import Space

    owner, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        concept = await call(client, "memory_store_concept", name="Flip phone", concept_type="device")
        kept = await call(client, "memory_store_concept", name="Landline telephone", concept_type="device")
        document = await call(
            client, "memory_store_document", title="Phone manual", doc_type="manual", content_summary="Buttons"
        )
        pattern = await call(
            client, "memory_update_pattern", category="devices", pattern_name="phones", pattern_text="Keeps old phones"
        )
        said = [{"speaker": "user", "text": "My old phone charger broke again"}]
        turn = (await call(client, "memory_append_turns", conversation_id="phones", turns=said))["appended"][0]
        with session_scope() as db:  # as if all written long ago
            db.execute(
                text("UPDATE turns SET created_at = now() - interval '45 days' WHERE owner_id = :o"), {"o": owner}
            )
            db.execute(
                text("UPDATE concepts SET updated_at = now() - interval '45 days' WHERE owner_id = :o"), {"o": owner}
            )
            db.execute(
                text("UPDATE documents SET created_at = now() - interval '45 days' WHERE owner_id = :o"), {"o": owner}
            )
            db.execute(
                text("UPDATE patterns SET last_updated = now() - interval '45 days' WHERE owner_id = :o"), {"o": owner}
            )
            db.execute(update(Space).where(Space.id == owner).values(retention_days=30))
        listed = await call(client, "memory_archive_candidates", limit=10)
        assert {c["ref"] for c in listed["candidates"]} == {
            concept["ref"],
            kept["ref"],
            document["ref"],
            pattern["ref"],
            turn,
        }

        found = await call(client, "memory_search", query="landline telephone", source_types=["concept"], limit=1)
        assert found["results"][0]["ref"] == kept["ref"]  # a read: the landline stays in use
        with session_scope() as db:
            assert server.app.state.access_tracker.flush(db) >= 1
            assert archive.apply_retention(db).get(owner) == 4
        only = await call(client, "memory_search", query="phone", min_similarity=0, archived="only")
        assert {hit["ref"] for hit in only["results"]} == {concept["ref"], document["ref"], pattern["ref"], turn}
        assert (await call(client, "memory_get", ref=kept["ref"]))["name"] == "Landline telephone"
    with session_scope() as db:
        assert db.execute(text("SELECT archived_at FROM concepts WHERE id = :i"), {"i": kept["id"]}).scalar() is None
