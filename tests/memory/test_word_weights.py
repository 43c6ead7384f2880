"""Keyword matches rank by how telling the matched words are in the owner's own memories."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import insert, text

from memory import planner_stats, search_candidates, word_weights
from models import Observation, owner_lexeme
from tests.support import call, mcp_client, session_scope, user_with_key

NAME_ONLY = "Melanie took Melanie's dog hiking, Melanie said"
RARE_WORD = "The pottery kiln cracked overnight"


def weights_of(
    db, owner, query: str, *, frequent: dict[str, float], rows: int, big_owner: bool
) -> tuple[dict[str, float], str]:
    """The weights search gives each word of ``query`` for ``owner``, and the SQL that gives them."""
    words = db.execute(text(f"SELECT {word_weights.QUERY_LEXEMES}"), {"query": query}).scalar_one()
    weights, arguments = word_weights.cte(
        "observations", words, owner_id=owner, frequent=frequent, rows=rows, big_owner=big_owner
    )
    statement = text(f"WITH {weights} SELECT word, weight FROM weights_observations")
    arguments |= {"owner": owner, "owner_lexeme": owner_lexeme(owner)}
    return {word: weight for word, weight in db.execute(statement, arguments)}, weights


def bm25_idf(matching: int, memories: int) -> float:
    """The weight a word should get: BM25's inverse document frequency."""
    return math.log(1.0 + (memories - matching + 0.5) / (matching + 0.5))


def test_a_word_counted_above_the_owners_size_weighs_little_but_never_less_than_nothing():
    owner, _ = user_with_key("stale statistics")
    with session_scope() as db:
        db.execute(insert(Observation), [{"owner_id": owner, "observation": f"Hike number {n}"} for n in range(4)])
        # Statistics saying "hike" is in twice as many rows as there are (stale after deletions).
        weight, _ = weights_of(db, owner, "hike", frequent={"hike": 2.0}, rows=word_weights.DF_CAP, big_owner=False)
    assert weight["hike"] == pytest.approx(bm25_idf(4, 4)) and weight["hike"] > 0


async def test_a_rare_word_outranks_a_name_found_in_most_memories(keyword_server):
    owner, key = user_with_key()
    other, other_key = user_with_key("other")
    async with mcp_client(keyword_server.url, key) as client:
        name_only = await call(client, "memory_store", observation=NAME_ONLY)
        for place in ("the lake", "the market", "a concert", "the dentist", "her sister's", "the gym"):
            await call(client, "memory_store", observation=f"Melanie went to {place}")
        rare = await call(client, "memory_store", observation=RARE_WORD)
        # Another account full of pottery changes nothing here: weights are per owner.
        async with mcp_client(keyword_server.url, other_key) as someone_else:
            for n in range(12):
                await call(someone_else, "memory_store", observation=f"Pottery lesson {n} with Tom")
        found = await call(client, "memory_search", query="What did Melanie say about pottery?", limit=3)
    refs = [hit["ref"] for hit in found["results"]]
    assert refs[0] == rare["ref"]
    assert name_only["ref"] in refs[1:]
    with session_scope() as db:
        weight, _ = weights_of(db, owner, "Melanie pottery", frequent={}, rows=0, big_owner=False)
    assert weight["potteri"] == pytest.approx(bm25_idf(1, 8))  # among this owner's 8 memories alone
    assert weight["melani"] == pytest.approx(bm25_idf(7, 8))


async def test_an_owner_holding_most_memories_is_weighed_by_the_statistics(keyword_server):
    owner, key = user_with_key("big")
    with session_scope() as db:
        total = db.execute(text("SELECT count(*) FROM observations")).scalar_one()
        filler = [f"Melanie logged entry {n}" for n in range(max(planner_stats.MIN_ROWS_FOR_SHARES, total * 2))]
        db.execute(insert(Observation), [{"owner_id": owner, "observation": t} for t in filler])
    async with mcp_client(keyword_server.url, key) as client:
        rare = await call(client, "memory_store", observation=RARE_WORD)
        await call(client, "memory_store", observation=NAME_ONLY)
        with session_scope() as db:
            db.execute(text("ANALYZE observations"))
            planner_stats.remembered.forget()
            shares = planner_stats.frequent_words(db, "observations", 0.0)
            assert shares[owner_lexeme(owner)] >= search_candidates.OWNER_LEXEME_MAX_SHARE
            rows = planner_stats.estimated_rows(db, "observations")
            weight, sql = weights_of(db, owner, "Melanie pottery", frequent=shares, rows=rows, big_owner=True)
            assert sql.count("LIMIT") == 1  # "melani" is too common to count; only "potteri" is
            assert weight["potteri"] > 5 * weight["melani"]
        found = await call(client, "memory_search", query="What did Melanie say about pottery?", limit=2)
    assert found["results"][0]["ref"] == rare["ref"]


async def test_a_query_of_stop_words_alone_finds_nothing_by_keywords_and_fails_nothing(keyword_server):
    _, key = user_with_key("stop words")
    async with mcp_client(keyword_server.url, key) as client:
        await call(client, "memory_store", observation=RARE_WORD)
        found = await call(client, "memory_search", query="what is the", limit=3)
    assert found["count"] == 0
