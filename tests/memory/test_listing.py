"""The account page's lists: memories over time by month or day, gaps
included, and the browser's filters (a date range counts whole days)."""

from __future__ import annotations

from datetime import date

import pytest

from core.errors import InvalidInput
from memory import knowledge, listing, observations
from tests.support import new_user, session_scope


def test_the_timeline_counts_months_with_the_empty_ones_between_when_memories_span_more_than_two_months():
    owner, _ = new_user()
    with session_scope() as db:
        for when in ("2024-01-05", "2024-01-20", "2024-04-02"):
            observations.store_observation(db, owner_id=owner, observation=f"Happened on {when}", occurred_at=when)
    with session_scope() as db:
        chart = listing.timeline(db, owner_id=owner, time_field="occurred")
    assert chart["unit"] == "month" and chart["labels"] == ["observation"]
    assert [(p["start"], p["end"], p["total"]) for p in chart["periods"]] == [
        (date(2024, 1, 1), date(2024, 1, 31), 2),
        (date(2024, 2, 1), date(2024, 2, 29), 0),
        (date(2024, 3, 1), date(2024, 3, 31), 0),
        (date(2024, 4, 1), date(2024, 4, 30), 1),
    ]
    with session_scope() as db, pytest.raises(InvalidInput, match="by"):
        listing.timeline(db, owner_id=owner, by="colour")


def test_a_period_lists_what_the_timeline_counted():
    owner, _ = new_user()
    with session_scope() as db:
        observations.store_observation(db, owner_id=owner, observation="Late that day", occurred_at="2024-01-31T23:30")
        observations.store_observation(db, owner_id=owner, observation="Next month", occurred_at="2024-02-01T00:10")
    with session_scope() as db:
        january = listing.browse(
            db, owner_id=owner, since="2024-01-01", until="2024-01-31T23:59:59.999999+00:00", time_field="occurred"
        )
        assert [memory["text"] for memory in january["memories"]] == ["Late that day"]
        with pytest.raises(InvalidInput, match="kind"):
            listing.browse(db, owner_id=owner, kind="thought")


def test_the_graph_holds_the_most_connected_concepts_and_only_their_relationships():
    owner, _ = new_user()
    stranger, _ = new_user()
    with session_scope() as db:
        for name in ("Ann", "Porto", "Acme", "Lisbon"):
            knowledge.store_concept(db, owner_id=owner, name=name, concept_type="thing", description=name)
        knowledge.store_concept(db, owner_id=stranger, name="Secret", concept_type="thing", description="x")
        knowledge.add_relationship(db, owner_id=owner, from_concept="Ann", to_concept="Porto", rel_type="related_to")
        knowledge.add_relationship(db, owner_id=owner, from_concept="Ann", to_concept="Acme", rel_type="part_of")
        knowledge.add_alias(db, owner_id=owner, concept_name="Ann", alias="Annie")
    with session_scope() as db:
        whole = listing.concept_graph(db, owner_id=owner)
        first_two = listing.concept_graph(db, owner_id=owner, limit=2)
    assert {node["name"] for node in whole["nodes"]} == {"Ann", "Porto", "Acme", "Lisbon"}  # never another's
    assert whole["nodes"][0]["name"] == "Ann" and whole["nodes"][0]["degree"] == 2
    assert whole["nodes"][0]["aliases"] == ["Annie"] and not whole["truncated"]
    assert {edge["type"] for edge in whole["edges"]} == {"related_to", "part_of"}
    assert first_two["truncated"] and len(first_two["nodes"]) == 2
    shown = {node["id"] for node in first_two["nodes"]}
    assert all(edge["source"] in shown and edge["target"] in shown for edge in first_two["edges"])
