"""Two owners: neither can see, find, change or delete the other's memories."""

from __future__ import annotations

import pytest

from tests.support import call, call_error, mcp_client, user_with_key


async def _populate(client) -> dict[str, str]:
    refs = {
        "observation": (
            await call(client, "memory_store", observation="Alice's secret: the vault code is 4711", domain="secrets")
        )["ref"],
        "concept": (
            await call(
                client,
                "memory_store_concept",
                name="Project Nightingale",
                concept_type="project",
                description="Alice's confidential project",
            )
        )["ref"],
        "document": (
            await call(
                client,
                "memory_store_document",
                title="Nightingale plan",
                doc_type="plan",
                content_summary="Confidential roadmap for the vault",
            )
        )["ref"],
        "pattern": (
            await call(
                client,
                "memory_update_pattern",
                category="secrets",
                pattern_name="vault",
                pattern_text="Keeps the vault code private",
            )
        )["ref"],
    }
    said = [{"speaker": "Alice", "text": "The vault code is 4711, tell no one", "id": "a-1"}]
    appended = await call(client, "memory_append_turns", conversation_id="alice-chat", turns=said)
    refs["turn"] = appended["appended"][0]
    await call(client, "memory_add_concept_alias", concept_name="Project Nightingale", alias="PN")
    await call(client, "memory_store_concept", name="Vault", concept_type="thing")
    await call(client, "memory_add_concept_relationship", from_concept="PN", to_concept="Vault", rel_type="part_of")
    return refs


async def test_owners_see_only_their_own_memories_through_every_tool(server):
    _, alice_key = user_with_key("alice")
    _, bob_key = user_with_key("bob")
    async with mcp_client(server.url, alice_key) as alice:
        refs = await _populate(alice)
    alice_obs_id = int(refs["observation"].split(":")[1])

    async with mcp_client(server.url, bob_key) as bob:
        found = await call(bob, "memory_search", query="vault code secret Nightingale", limit=100)
        assert found["results"] == []
        assert (await call(bob, "memory_recall", limit=100))["observations"] == []
        assert (await call(bob, "memory_recall", domain="secrets"))["observations"] == []
        for ref in refs.values():
            assert "No memory found" in await call_error(bob, "memory_get", ref=ref)
            assert "No memory found" in await call_error(bob, "memory_delete", ref=ref)
            assert "No memory found" in await call_error(bob, "memory_archive", refs=[ref])
            assert "No memory found" in await call_error(bob, "memory_rehydrate", refs=[ref])
        assert (await call(bob, "memory_search", query="vault code", archived="include"))["results"] == []
        assert (await call(bob, "memory_archive", query="vault code secret"))["preview"] == []
        assert (await call(bob, "memory_archive_candidates"))["candidates"] == []
        assert (await call(bob, "memory_brief", topic="vault code"))["text"] == ""
        for ref in refs.values():
            kind, item_id = ref.split(":")
            with pytest.raises(Exception, match="No memory found"):
                await bob.read_resource(f"memorygate://memory/{kind}/{item_id}")
        with pytest.raises(Exception, match="No concept"):
            await bob.read_resource("memorygate://concept/PN")
        assert "No concept" in await call_error(bob, "memory_get_concept", name="Project Nightingale")
        assert "No concept" in await call_error(bob, "memory_get_concept", name="PN")
        assert "No concept" in await call_error(bob, "memory_related_concepts", concept_name="Vault")
        assert "No concept" in await call_error(bob, "memory_add_concept_alias", concept_name="PN", alias="x")
        assert "No pattern" in await call_error(bob, "memory_get_pattern", category="secrets", pattern_name="vault")
        assert (await call(bob, "memory_patterns"))["patterns"] == []
        assert "No conversation found" in await call_error(bob, "memory_conversation", conversation_id="alice-chat")
        assert "No conversation found" in await call_error(
            bob, "memory_forget_conversation", conversation_id="alice-chat"
        )
        stats = await call(bob, "memory_stats")
        assert stats["counts"] == {"observations": 0, "patterns": 0, "concepts": 0, "documents": 0, "turns": 0}
        assert stats["top_domains"] == [] and stats["ai_instances"] == []
        assert "evidence_observation_ids" in await call_error(
            bob,
            "memory_update_pattern",
            category="c",
            pattern_name="p",
            pattern_text="t",
            evidence_observation_ids=[alice_obs_id],
        )
        # Names are unique per owner, not globally: Bob may use the same ones.
        mine = await call(bob, "memory_store_concept", name="Project Nightingale", concept_type="bird")
        assert mine["created"] is True
        assert (await call(bob, "memory_add_concept_alias", concept_name="Project Nightingale", alias="PN"))["created"]
        assert (
            await call(bob, "memory_update_pattern", category="secrets", pattern_name="vault", pattern_text="Bob's own")
        )["created"] is True

    async with mcp_client(server.url, alice_key) as alice:
        for ref in refs.values():
            assert (await call(alice, "memory_get", ref=ref))["ref"] == ref
        kept = await call(alice, "memory_conversation", conversation_id="alice-chat")
        assert [turn["ref"] for turn in kept["turns"]] == [refs["turn"]]
        concept = await call(alice, "memory_get_concept", name="PN")
        assert concept["concept_type"] == "project"
        pattern = await call(alice, "memory_get_pattern", category="secrets", pattern_name="vault")
        assert pattern["text"] == "Keeps the vault code private"
        hits = await call(alice, "memory_search", query="vault code", limit=10)
        assert refs["observation"] in {r["ref"] for r in hits["results"]}
