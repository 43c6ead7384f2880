"""Every MCP tool's behaviour, through FastMCP's in-memory client, against
real PostgreSQL and the bundled model (the HTTP path, auth gate included, is
tests/test_gate.py's and tests/test_service.py's)."""

from __future__ import annotations

import pytest

from core.settings import VERSION
from memory.access import AccessTracker
from tests.support import TEST_DATABASE, call, call_error, new_user, tool_client

pytestmark = pytest.mark.tools  # the tool tier: scripts/check runs it

EXPECTED_TOOLS = {
    "memory_brief",
    "memory_browse",
    "search",
    "fetch",
    "memory_init_session",
    "memory_store",
    "memory_recall",
    "memory_search",
    "memory_stats",
    "memory_store_document",
    "memory_store_concept",
    "memory_get_concept",
    "memory_add_concept_alias",
    "memory_add_concept_relationship",
    "memory_related_concepts",
    "memory_update_pattern",
    "memory_get_pattern",
    "memory_patterns",
    "memory_get",
    "memory_delete",
    "memory_user_guide",
    "memory_bootstrap",
    "memory_archive",
    "memory_rehydrate",
    "memory_archive_candidates",
    "memory_append_turns",
    "memory_conversation",
    "memory_forget_conversation",
}


async def test_all_tools_are_listed_with_read_only_and_destructive_annotations(local_embedder):
    owner, _ = new_user()
    async with tool_client(owner, embedder=local_embedder) as client:
        tools = {tool.name: tool for tool in await client.list_tools()}
    assert set(tools) == EXPECTED_TOOLS
    for name in (
        "memory_recall",
        "memory_search",
        "memory_get",
        "memory_stats",
        "memory_get_concept",
        "memory_related_concepts",
        "memory_get_pattern",
        "memory_patterns",
        "memory_user_guide",
        "memory_archive_candidates",
        "memory_conversation",
    ):
        assert tools[name].annotations.read_only_hint is True, name
    for name in ("memory_archive", "memory_rehydrate"):  # reversible: nothing is lost
        assert tools[name].annotations.destructive_hint is False, name
    assert tools["memory_delete"].annotations.destructive_hint is True
    assert tools["memory_forget_conversation"].annotations.destructive_hint is True
    assert tools["memory_append_turns"].annotations.destructive_hint is False
    assert tools["memory_init_session"].annotations.destructive_hint is False
    assert tools["memory_bootstrap"].annotations.destructive_hint is False
    assert tools["memory_store"].annotations.read_only_hint is False
    assert tools["memory_store"].annotations.destructive_hint is False
    assert "hybrid" in tools["memory_search"].description


async def test_store_then_get_recall_and_delete_an_observation(local_embedder):
    owner, _ = new_user()
    tracker = AccessTracker()
    async with tool_client(owner, embedder=local_embedder, tracker=tracker) as client:
        stored = await call(
            client,
            "memory_store",
            observation="Prefers tabs over spaces",
            confidence=0.9,
            domain="preferences",
            evidence=["said so on Monday"],
            ai_name="Claude",
            ai_platform="Desktop",
            conversation_id="conv-1",
            conversation_title="Editor setup",
        )
        assert stored["ref"] == f"observation:{stored['id']}"
        assert stored["embedding"] == "indexed"

        item = await call(client, "memory_get", ref=stored["ref"])
        assert item["text"] == "Prefers tabs over spaces"
        assert item["evidence"] == ["said so on Monday"]
        assert (item["ai_name"], item["ai_platform"], item["conversation_id"]) == ("Claude", "Desktop", "conv-1")

        recalled = await call(client, "memory_recall", domain="preferences")
        assert [o["ref"] for o in recalled["observations"]] == [stored["ref"]]
        # Reads are counted in memory and written by the background flush.
        with TEST_DATABASE.sessions() as session:
            assert tracker.flush(session) >= 2
        assert (await call(client, "memory_get", ref=stored["ref"]))["access_count"] >= 2

        deleted = await call(client, "memory_delete", ref=stored["ref"])
        assert deleted == {"deleted": True, "ref": stored["ref"]}
        assert "No memory found" in await call_error(client, "memory_get", ref=stored["ref"])
        assert (await call(client, "memory_stats"))["counts"]["observations"] == 0


async def test_recall_filters_and_pages(local_embedder):
    owner, _ = new_user()
    async with tool_client(owner, embedder=local_embedder) as client:
        for i in range(5):
            await call(
                client,
                "memory_store",
                observation=f"fact number {i}",
                confidence=0.2 * i,
                domain="numbers",
                ai_name="A" if i % 2 else "B",
            )
        await call(client, "memory_store", observation="elsewhere", domain="other", confidence=0.1)

        first = await call(client, "memory_recall", domain="numbers", limit=2)
        second = await call(client, "memory_recall", domain="numbers", limit=2, offset=2)
        assert first["has_more"] and second["has_more"]
        texts = [o["text"] for o in first["observations"] + second["observations"]]
        assert texts == ["fact number 4", "fact number 3", "fact number 2", "fact number 1"]

        confident = await call(client, "memory_recall", min_confidence=0.5)
        assert {o["text"] for o in confident["observations"]} == {"fact number 3", "fact number 4"}
        by_ai = await call(client, "memory_recall", ai_name="A")
        assert {o["text"] for o in by_ai["observations"]} == {"fact number 1", "fact number 3"}


async def test_concepts_aliases_and_relationships(local_embedder):
    owner, _ = new_user()
    async with tool_client(owner, embedder=local_embedder) as client:
        created = await call(
            client,
            "memory_store_concept",
            name="MemoryGate",
            concept_type="project",
            description="Memory for agents",
            metadata={"lang": "python"},
        )
        assert created["created"] is True
        updated = await call(
            client,
            "memory_store_concept",
            name="memorygate",
            concept_type="project",
            description="Persistent memory for AI agents",
            status="active",
        )
        assert updated == {**updated, "id": created["id"], "created": False}
        await call(client, "memory_store_concept", name="pgvector", concept_type="tool", description="vectors")

        alias = await call(client, "memory_add_concept_alias", concept_name="MemoryGate", alias="MG")
        assert alias["created"] is True
        assert "already names" not in str(
            await call(client, "memory_add_concept_alias", concept_name="memorygate", alias="mg")
        )
        clash = await call_error(client, "memory_add_concept_alias", concept_name="MemoryGate", alias="PGVECTOR")
        assert "Invalid alias" in clash

        edge = await call(
            client,
            "memory_add_concept_relationship",
            from_concept="MG",
            to_concept="pgvector",
            rel_type="implements",
            weight=0.9,
            description="stores vectors in it",
        )
        assert edge["weight"] == 0.9
        concept = await call(client, "memory_get_concept", name="mg")
        assert concept["name"] == "MemoryGate"
        assert concept["text"] == "Persistent memory for AI agents"
        assert concept["aliases"] == ["MG"]
        assert concept["relationships"][0]["concept"] == "pgvector"

        incoming = await call(client, "memory_related_concepts", concept_name="pgvector")
        assert incoming["relationships"] == [
            {
                "direction": "incoming",
                "rel_type": "implements",
                "concept": "MemoryGate",
                "ref": created["ref"],
                "weight": 0.9,
                "description": "stores vectors in it",
            }
        ]
        assert (await call(client, "memory_related_concepts", concept_name="pgvector", min_weight=0.95))[
            "relationships"
        ] == []
        self_loop = await call_error(
            client, "memory_add_concept_relationship", from_concept="MG", to_concept="memorygate", rel_type="part_of"
        )
        assert "to_concept" in self_loop
        assert "rel_type" in await call_error(
            client, "memory_add_concept_relationship", from_concept="MG", to_concept="pgvector", rel_type="loves"
        )


async def test_patterns_upsert_get_and_list(local_embedder):
    owner, _ = new_user()
    async with tool_client(owner, embedder=local_embedder) as client:
        obs = await call(client, "memory_store", observation="Asked for shorter answers twice")
        first = await call(
            client,
            "memory_update_pattern",
            category="communication",
            pattern_name="brevity",
            pattern_text="Prefers short answers",
            confidence=0.7,
            evidence_observation_ids=[obs["id"]],
        )
        again = await call(
            client,
            "memory_update_pattern",
            category="communication",
            pattern_name="brevity",
            pattern_text="Prefers very short answers with code first",
            confidence=0.9,
        )
        assert first["created"] is True and again["created"] is False
        assert again["supersedes"] == first["ref"]  # a new text is a new version; the first is kept
        await call(
            client,
            "memory_update_pattern",
            category="workflow",
            pattern_name="tests-first",
            pattern_text="Writes tests before code",
            confidence=0.6,
        )

        pattern = await call(client, "memory_get_pattern", category="communication", pattern_name="brevity")
        assert pattern["text"] == "Prefers very short answers with code first"
        assert pattern["confidence"] == 0.9
        listed = await call(client, "memory_patterns")
        assert [p["pattern_name"] for p in listed["patterns"]] == ["brevity", "tests-first"]
        assert [
            p["pattern_name"] for p in (await call(client, "memory_patterns", category="workflow"))["patterns"]
        ] == ["tests-first"]
        assert "evidence_observation_ids" in await call_error(
            client,
            "memory_update_pattern",
            category="c",
            pattern_name="p",
            pattern_text="t",
            evidence_observation_ids=[999_999_999],
        )
        assert "No pattern" in await call_error(client, "memory_get_pattern", category="x", pattern_name="y")


async def test_documents_are_stored_and_readable_by_ref(local_embedder):
    owner, _ = new_user()
    async with tool_client(owner, embedder=local_embedder) as client:
        doc = await call(
            client,
            "memory_store_document",
            title="Attention Is All You Need",
            doc_type="paper",
            url="https://arxiv.org/abs/1706.03762",
            content_summary="Introduces the Transformer.",
            key_concepts=["transformer", "attention"],
            publication_date="2017-06-12",
            metadata={"venue": "NeurIPS"},
        )
        full = await call(client, "memory_get", ref=doc["ref"])
        assert full["publication_date"] == "2017-06-12"
        assert full["key_concepts"] == ["transformer", "attention"]
        assert full["metadata"] == {"venue": "NeurIPS"}
        assert "publication_date" in await call_error(
            client,
            "memory_store_document",
            title="t",
            doc_type="paper",
            content_summary="s",
            publication_date="June 2017",
        )


async def test_init_session_bootstrap_stats_and_guide(local_embedder):
    owner, _ = new_user()
    async with tool_client(owner, embedder=local_embedder) as client:
        anonymous = await call(client, "memory_bootstrap")
        assert "ai_instance" not in anonymous and anonymous["memory_counts"]["observations"] == 0
        fresh = await call(client, "memory_bootstrap", ai_name="Claude", ai_platform="Code")
        assert fresh["ai_instance"]["is_new"] is True
        assert any("empty" in step for step in fresh["recommended_first_steps"])

        session = await call(
            client,
            "memory_init_session",
            conversation_id="c-42",
            title="Planning",
            ai_name="Claude",
            ai_platform="Code",
            source_url="https://claude.ai/chat/c-42",
        )
        assert session["conversation_id"] == "c-42" and session["title"] == "Planning"
        await call(
            client,
            "memory_store",
            observation="Plans a trip to Lisbon",
            ai_name="Claude",
            ai_platform="Code",
            conversation_id="c-42",
        )
        renamed = await call(
            client,
            "memory_init_session",
            conversation_id="c-42",
            title="Trip planning",
            ai_name="Claude",
            ai_platform="Code",
        )
        assert renamed["session_id"] == session["session_id"]
        assert renamed["observations_in_session"] == 1

        returning = await call(client, "memory_bootstrap", ai_name="Claude", ai_platform="Code")
        assert returning["ai_instance"]["is_new"] is False
        assert returning["ai_instance"]["sessions"] == 1 and returning["ai_instance"]["observations"] == 1
        assert returning["ai_instance"]["last_seen_before_now"] is not None

        stats = await call(client, "memory_stats")
        assert stats["counts"] == {"observations": 1, "patterns": 0, "concepts": 0, "documents": 0, "turns": 0}
        assert stats["sessions"] == 1
        assert stats["embedding"] == {"provider": "local", "model": "bge-small-en-v1.5", "pending": 0}

        markdown = await call(client, "memory_user_guide")
        assert markdown["guide"].startswith("# MemoryGate user guide")
        assert "memory_update_pattern" in markdown["guide"]
        as_json = await call(client, "memory_user_guide", format="json")
        assert set(as_json["guide"]["tools"]) == EXPECTED_TOOLS
        assert "confidence_scale" in as_json["guide"]


async def test_initialize_names_memorygate_and_its_version(local_embedder):
    async with tool_client(new_user()[0], embedder=local_embedder) as client:
        assert (client.server_info.name, client.server_info.version) == ("MemoryGate", VERSION)


async def test_a_concept_update_changes_only_the_fields_given(local_embedder):
    owner, _ = new_user()
    async with tool_client(owner, embedder=local_embedder) as client:
        await call(
            client, "memory_store_concept", name="Atlas", concept_type="project", description="Maps", domain="work"
        )
        await call(client, "memory_store_concept", name="atlas", concept_type="product")
        kept = await call(client, "memory_get_concept", name="Atlas")
        assert (kept["concept_type"], kept["text"], kept["domain"]) == ("product", "Maps", "work")
        await call(client, "memory_store_concept", name="Atlas", status="paused")
        await call(client, "memory_store_concept", name="Atlas", description="", metadata={})
        cleared = await call(client, "memory_get_concept", name="Atlas")
        assert (cleared.get("text"), cleared["status"], cleared["domain"]) == (None, "paused", "work")


async def test_stores_without_an_ai_name_belong_to_the_instance_the_session_introduced(local_embedder):
    owner, _ = new_user()
    async with tool_client(owner, embedder=local_embedder) as client:
        await call(client, "memory_init_session", conversation_id="conv-1", ai_name="Claude", ai_platform="Claude Code")
        stored = await call(client, "memory_store", observation="Uses fish as their shell")
        in_conversation = await call(client, "memory_store", observation="Likes zsh too", conversation_id="conv-1")
        named = await call(client, "memory_store", observation="Named one", ai_name="GPT", ai_platform="ChatGPT")
        got = [await call(client, "memory_get", ref=item["ref"]) for item in (stored, in_conversation, named)]
    assert [(g["ai_name"], g["ai_platform"]) for g in got] == [
        ("Claude", "Claude Code"),
        ("Claude", "Claude Code"),
        ("GPT", "ChatGPT"),
    ]
    # A second client of the same person: another credential.
    async with tool_client(owner, embedder=local_embedder) as other:
        elsewhere = await call(other, "memory_store", observation="From a client that never introduced itself")
        via_conversation = await call(other, "memory_store", observation="Joined conv-1", conversation_id="conv-1")
        assert (await call(other, "memory_get", ref=elsewhere["ref"]))["ai_name"] == "Unknown"
        assert (await call(other, "memory_get", ref=via_conversation["ref"]))["ai_name"] == "Claude"
