"""A word in a large share of all memories finds no candidates on its own."""

from __future__ import annotations

from sqlalchemy import insert, text

from memory import hybrid_search, planner_stats
from models import Observation
from tests.support import call, mcp_client, session_scope, user_with_key


async def test_common_words_only_count_together_with_the_others(keyword_server):
    owner, key = user_with_key()
    with session_scope() as db:
        total = db.execute(text("SELECT count(*) FROM observations")).scalar_one()
        # Enough rows for shares to count, and "zebrafish" in well over 2% of them.
        filler = [
            f"Zebrafish tank number {n} was cleaned" for n in range(max(planner_stats.MIN_ROWS_FOR_SHARES, total // 10))
        ]
        db.execute(insert(Observation), [{"owner_id": owner, "observation": t} for t in filler])
    async with mcp_client(keyword_server.url, key) as client:
        both = await call(client, "memory_store", observation="The zebrafish lagoon exhibit opens in May")
        rare = await call(client, "memory_store", observation="A lagoon forms behind the dunes every winter")
        with session_scope() as db:
            db.execute(text("ANALYZE observations"))
            planner_stats.remembered.forget()
            assert "zebrafish" in planner_stats.frequent_words(db, "observations", hybrid_search.COMMON_WORD_SHARE)
        found = await call(client, "memory_search", query="zebrafish lagoon", limit=10)
        assert [hit["ref"] for hit in found["results"]] == [both["ref"], rare["ref"]]
        alone = await call(client, "memory_search", query="zebrafish", limit=3)  # every word of the query
        assert alone["count"] == 3
