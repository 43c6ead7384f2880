"""A word in a large share of all memories finds no candidates on its own."""

from __future__ import annotations

from sqlalchemy import insert, text

from memory import planner_stats, search_candidates
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
            assert "zebrafish" in planner_stats.frequent_words(db, "observations", search_candidates.COMMON_WORD_SHARE)
        found = await call(client, "memory_search", query="zebrafish lagoon", limit=10)
        assert [hit["ref"] for hit in found["results"]] == [both["ref"], rare["ref"]]
        alone = await call(client, "memory_search", query="zebrafish", limit=3)  # every word of the query
        assert alone["count"] == 3


async def test_what_other_accounts_hold_never_shapes_an_accounts_results(keyword_server):
    """Word statistics come from the searcher's own memories: another
    account filling the table with a word changes neither what is found
    nor its score."""
    _, key = user_with_key()
    other, _ = user_with_key()

    async def search(client, query: str) -> list[tuple[str, float]]:
        found = await call(client, "memory_search", query=query, limit=5)
        return [(hit["ref"], hit["score"]) for hit in found["results"]]

    async with mcp_client(keyword_server.url, key) as client:
        await call(client, "memory_store", observation="The axolotl pond froze over in January")
        await call(client, "memory_store", observation="Bought a new filter for the pond")
        await call(client, "memory_store", observation="Axolotl eggs hatched on the porch")
        before = {query: await search(client, query) for query in ("axolotl", "axolotl pond filter")}
        assert before["axolotl"] and before["axolotl pond filter"]
        with session_scope() as db:
            filler = [f"Axolotl feeding schedule entry {n}" for n in range(1_300)]
            db.execute(insert(Observation), [{"owner_id": other, "observation": t} for t in filler])
            db.execute(text("ANALYZE observations"))
            planner_stats.remembered.forget()
        after = {query: await search(client, query) for query in before}
    assert after == before
