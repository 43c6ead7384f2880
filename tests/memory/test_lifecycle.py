"""Versions, duplicates and time, through a real MCP client."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from sqlalchemy import func, select

from core.principal import READ_SCOPE
from models import Observation, Pattern
from tests.support import call, call_error, mcp_client, new_key, session_scope, user_with_key

pytestmark = pytest.mark.tools  # the tool tier: scripts/check runs it


def _rows(owner) -> int:
    with session_scope() as db:
        return db.execute(select(func.count()).where(Observation.owner_id == owner)).scalar_one()


async def test_a_new_version_replaces_the_old_one_which_stays_in_history(server):
    owner, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        old = await call(client, "memory_store", observation="The user lives in Lisbon, near the river")
        new = await call(client, "memory_store", observation="The user moved to Porto", supersedes=old["ref"])
        assert new["stored"] is True and new["supersedes"] == old["ref"]

        found = await call(client, "memory_search", query="where does the user live", min_similarity=0)
        refs = [hit["ref"] for hit in found["results"]]
        assert new["ref"] in refs and old["ref"] not in refs
        history = await call(
            client, "memory_search", query="where does the user live", min_similarity=0, include_history=True
        )
        old_hit = next(hit for hit in history["results"] if hit["ref"] == old["ref"])
        assert old_hit["superseded_by"] == new["ref"]
        recalled = await call(client, "memory_recall")
        assert [o["ref"] for o in recalled["observations"]] == [new["ref"]]
        assert len((await call(client, "memory_recall", include_history=True))["observations"]) == 2

        shown = await call(client, "memory_get", ref=new["ref"])
        assert [v["ref"] for v in shown["versions"]] == [old["ref"], new["ref"]]
        assert shown["supersedes"] == old["ref"]
        assert (await call(client, "memory_get", ref=old["ref"]))["superseded_by"] == new["ref"]

        again = await call_error(client, "memory_store", observation="Moved again", supersedes=old["ref"])
        assert again == f"Invalid supersedes: {old['ref']} was already replaced by {new['ref']}; supersede that"
        assert "\n" not in again and _rows(owner) == 2


async def test_another_owners_memory_cannot_be_superseded(server):
    _, victim_key = user_with_key("victim")
    attacker, attacker_key = user_with_key("attacker")
    async with mcp_client(server.url, victim_key) as victim, mcp_client(server.url, attacker_key) as client:
        theirs = await call(victim, "memory_store", observation="Victim's private fact")
        refused = await call_error(client, "memory_store", observation="Hijack", supersedes=theirs["ref"])
        assert refused == f"No memory found for supersedes {theirs['ref']}"
        assert (await call(victim, "memory_get", ref=theirs["ref"])).get("superseded_by") is None
    assert _rows(attacker) == 0  # nothing half-written


async def test_a_restatement_strengthens_the_memory_instead_of_adding_a_row(server):
    owner, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        first = await call(
            client,
            "memory_store",
            observation="The user prefers dark mode in the editor.",
            confidence=0.6,
            evidence=["said so on Monday"],
        )
        again = await call(
            client,
            "memory_store",
            observation="Prefers dark mode in the editor",
            confidence=0.9,
            evidence=["said so again"],
        )
        assert again == {"stored": False, "duplicate_of": first["ref"], "seen_count": 2}  # the ref once
        shown = await call(client, "memory_get", ref=first["ref"])
        assert shown["seen_count"] == 2 and shown["confidence"] == 0.9 and shown["last_seen_at"]
        assert shown["evidence"] == ["said so on Monday", "said so again"]
        assert shown["text"] == "The user prefers dark mode in the editor."  # the first wording stays

        negated = await call(client, "memory_store", observation="The user does not prefer dark mode in the editor")
        assert negated["stored"] is True  # a contradiction is never merged
        forced = await call(client, "memory_store", observation="Prefers dark mode in the editor", allow_duplicate=True)
        assert forced["stored"] is True and forced["ref"] != first["ref"]
    assert _rows(owner) == 3


async def test_the_same_thing_stored_at_once_by_many_agents_makes_one_row(server):
    owner, key = user_with_key()
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(mcp_client(server.url, key)) for _ in range(8)]
        answers = await asyncio.gather(
            *(call(client, "memory_store", observation="The user's cat is called Miso") for client in clients)
        )
    assert sum(answer.get("stored") is True for answer in answers) == 1
    assert sorted(answer.get("seen_count", 1) for answer in answers) == list(range(1, 9))
    assert _rows(owner) == 1


async def test_duplicates_are_found_in_keyword_mode_too(keyword_server):
    owner, key = user_with_key()
    async with mcp_client(keyword_server.url, key) as client:
        first = await call(client, "memory_store", observation="Allergic to peanuts!")
        again = await call(client, "memory_store", observation="allergic to peanuts")
        assert again["duplicate_of"] == first["ref"]
    assert _rows(owner) == 1


async def test_when_it_happened_filters_search_and_recall(server):
    _, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        trip = await call(client, "memory_store", observation="Went hiking in the Alps", occurred_at="2023-07-14")
        later = await call(
            client, "memory_store", observation="Went hiking in Madeira", occurred_at="2025-03-02T09:30:00+01:00"
        )
        shown = await call(client, "memory_get", ref=trip["ref"])
        assert shown["occurred_at"] == "2023-07-14T00:00:00+00:00"
        found = await call(
            client, "memory_search", query="hiking trip", min_similarity=0, time_field="occurred", since="2024-01-01"
        )
        assert [hit["ref"] for hit in found["results"]] == [later["ref"]]
        assert found["results"][0]["occurred_at"].startswith("2025-03-02")
        recalled = await call(client, "memory_recall", time_field="occurred", until="2023-12-31")
        assert [o["ref"] for o in recalled["observations"]] == [trip["ref"]]
        recorded = await call(client, "memory_recall", since="2000-01-01")  # both were recorded just now
        assert len(recorded["observations"]) == 2

        bad = await call_error(client, "memory_store", observation="x", occurred_at="last Tuesday")
        assert bad.startswith("Invalid occurred_at: must be a date (YYYY-MM-DD) or date-time")
        backwards = await call_error(client, "memory_search", query="x", since="2025-01-01", until="2024-01-01")
        assert backwards == "Invalid until: must not be before since"


async def test_a_read_only_key_cannot_supersede(server):
    owner, key = user_with_key()
    reader = new_key(owner, scopes=(READ_SCOPE,))
    async with mcp_client(server.url, key) as client, mcp_client(server.url, reader) as read_only:
        stored = await call(client, "memory_store", observation="Plays the cello")
        refused = await call_error(read_only, "memory_store", observation="Plays the viola", supersedes=stored["ref"])
        assert "memory:write" in refused
    assert _rows(owner) == 1


async def test_recency_preference_and_what_changed_recently(server):
    owner, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        old = await call(client, "memory_store", observation="Visited Kyoto temples", occurred_at="2015-04-01")
        new = await call(client, "memory_store", observation="Visited Kyoto gardens", occurred_at="2025-10-01")
        plain = await call(client, "memory_search", query="Visited Kyoto temples", min_similarity=0)
        assert plain["results"][0]["ref"] == old["ref"]  # the closer match, without a preference
        recent = await call(
            client, "memory_search", query="Visited Kyoto temples", min_similarity=0, recency_half_life_days=365
        )
        assert recent["results"][0]["ref"] == new["ref"]  # ten years is ten half-lives
        bad = await call_error(client, "memory_search", query="x", recency_half_life_days=0)
        assert "recency_half_life_days" in bad and "\n" not in bad

        await call(client, "memory_store", observation="Visited Kyoto in spring", supersedes=new["ref"])
        await call(client, "memory_archive", refs=[old["ref"]])
        changes = (await call(client, "memory_bootstrap"))["recent_changes"]
        assert changes["recorded"] == 3 and changes["replaced"] == 1 and changes["archived"] == 1
        assert [item["text"] for item in changes["newest"]] == ["Visited Kyoto in spring"]


async def test_a_pattern_with_a_new_text_keeps_its_earlier_versions(server):
    owner, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        first = await call(
            client, "memory_update_pattern", category="work", pattern_name="hours", pattern_text="Works mornings"
        )
        same = await call(
            client,
            "memory_update_pattern",
            category="work",
            pattern_name="hours",
            pattern_text="Works mornings",
            confidence=0.9,
        )
        assert same == {"id": first["id"], "ref": first["ref"], "created": False}  # the same text: no new version
        newer = await call(
            client, "memory_update_pattern", category="work", pattern_name="hours", pattern_text="Works evenings"
        )
        assert newer["created"] is False and newer["supersedes"] == first["ref"] and newer["ref"] != first["ref"]

        current = await call(client, "memory_get_pattern", category="work", pattern_name="hours")
        assert current["text"] == "Works evenings" and current["supersedes"] == first["ref"]
        assert [v["text"] for v in current["versions"]] == ["Works mornings", "Works evenings"]
        listed = await call(client, "memory_patterns")
        assert [p["ref"] for p in listed["patterns"]] == [newer["ref"]]
        found = await call(client, "memory_search", query="works", min_similarity=0, source_types=["pattern"])
        assert [hit["ref"] for hit in found["results"]] == [newer["ref"]]
        history = await call(
            client, "memory_search", query="works", min_similarity=0, source_types=["pattern"], include_history=True
        )
        assert {hit["ref"]: hit.get("superseded_by") for hit in history["results"]} == {
            newer["ref"]: None,
            first["ref"]: newer["ref"],
        }
        assert (await call(client, "memory_get", ref=first["ref"]))["superseded_by"] == newer["ref"]

        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(mcp_client(server.url, key)) for _ in range(6)]
            await asyncio.gather(
                *(
                    call(c, "memory_update_pattern", category="work", pattern_name="hours", pattern_text=f"Shift {n}")
                    for n, c in enumerate(clients)
                )
            )
        chain = (await call(client, "memory_get_pattern", category="work", pattern_name="hours"))["versions"]
        assert len(chain) == 8 and chain[0]["text"] == "Works mornings"  # one line of versions, one current
    with session_scope() as db:
        current_rows = db.execute(
            select(func.count()).where(Pattern.owner_id == owner, Pattern.superseded_by_id.is_(None))
        ).scalar_one()
    assert current_rows == 1


async def test_as_of_answers_what_was_true_then_and_changed_since_what_moved(server):
    """'I like coffee', then 'I drink only tea now': both stay, each true for its time."""
    _, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        coffee = await call(client, "memory_store", observation="I like coffee", occurred_at="2026-01-05")
        tea = await call(
            client,
            "memory_store",
            observation="I drink only tea now",
            occurred_at="2026-06-01",
            supersedes=coffee["ref"],
        )
        kept = await call(client, "memory_store", observation="I cycle to work", occurred_at="2026-02-01")

        def refs(answer, key="results"):
            return [hit["ref"] for hit in answer[key]]

        query = "what does the person drink?"
        assert refs(await call(client, "memory_search", query=query)) == [tea["ref"]]
        assert refs(await call(client, "memory_search", query=query, as_of="2026-03-01")) == [coffee["ref"]]
        assert refs(await call(client, "memory_search", query=query, as_of="2026-07-01")) == [tea["ref"]]
        assert (await call(client, "memory_search", query=query, as_of="2025-12-31"))["results"] == []
        then = await call(client, "memory_recall", as_of="2026-03-01")
        assert refs(then, "observations") == [kept["ref"], coffee["ref"]]
        assert then["observations"][1]["valid_until"].startswith("2026-06-01")
        shown = await call(client, "memory_get", ref=coffee["ref"])
        assert shown["valid_until"].startswith("2026-06-01") and shown["superseded_by"] == tea["ref"]
        assert "valid_until" not in await call(client, "memory_get", ref=tea["ref"])

        mark = (await call(client, "memory_get", ref=kept["ref"]))["created_at"]
        await call(client, "memory_delete", ref=kept["ref"])
        cheese = await call(client, "memory_store", observation="I gave up cheese", supersedes=tea["ref"])
        moved = await call(client, "memory_recall", changed_since=mark)
        # Added and replaced since then; the deleted one by its ref alone.
        assert set(refs(moved, "observations")) == {cheese["ref"], tea["ref"]}
        assert moved["forgotten"] == [kept["ref"]]
        searched = await call(client, "memory_search", query="tea", changed_since=mark, min_similarity=0)
        assert tea["ref"] in refs(searched) and coffee["ref"] not in refs(searched)
        assert searched["forgotten"] == [kept["ref"]]
        both = await call_error(client, "memory_search", query=query, as_of=mark, changed_since=mark)
        assert "changed_since" in both and "\n" not in both
