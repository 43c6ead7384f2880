"""Hybrid search: meaning with the local model, keywords without a provider."""

from __future__ import annotations

import httpx
from sqlalchemy import event, func, select, text

from memory import indexing
from memory.local_models import DEFAULT_MODEL, LOCAL_MODELS
from models import Embedding, Observation
from tests.support import call, mcp_client, new_user, session_scope, tool_client, user_with_key

MEMORIES = [
    "My daughter Emma starts kindergarten in September",
    "I drive a blue 2019 Subaru Outback",
    "Allergic to peanuts and tree nuts",
    "Works as a night-shift nurse at the city hospital",
    "Prefers dark themes in every code editor",
    "Is training for the Berlin marathon next spring",
    "Keeps all project notes in Obsidian, synced with git",
]
# Paraphrases sharing no content word with their memory.
PARAPHRASES = {
    "when does their child begin school?": 0,
    "what car do they own?": 1,
    "which foods must they avoid?": 2,
    "what is their job?": 3,
    "which colour scheme for programming?": 4,
    "upcoming running race": 5,
}


async def test_paraphrase_queries_find_the_right_memory(server):
    _, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        refs = [(await call(client, "memory_store", observation=text))["ref"] for text in MEMORIES]
        for query, expected in PARAPHRASES.items():
            result = await call(client, "memory_search", query=query, limit=3)
            assert result["mode"] == "hybrid"
            top = result["results"][0]
            assert top["ref"] == refs[expected], (query, result["results"])
            assert top["text"] == MEMORIES[expected]
            assert top["similarity"] > 0.25
            assert {"type", "ref", "text", "confidence", "recorded_at", "score", "matched"} <= set(top)
            # Compact: the text appears once, and empty fields are left out.
            assert list(top.values()).count(MEMORIES[expected]) == 1
            assert None not in top.values() and "domain" not in top


async def test_search_leaves_out_weak_matches_and_says_how_many(server):
    _, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        pet = await call(client, "memory_store", observation="Has a golden retriever named Max")
        for text in ("Drinks coffee every morning", "Favourite coffee is a flat white"):
            await call(client, "memory_store", observation=text)
        result = await call(client, "memory_search", query="what pet does the user have?", limit=5)
        assert [hit["ref"] for hit in result["results"]] == [pet["ref"]]
        assert result["dropped"] == 2
        everything = await call(client, "memory_search", query="what pet does the user have?", min_similarity=0)
        assert everything["count"] == 3 and everything["dropped"] == 0
        # Sharing the query's words ("user") does not rank a memory above the answer.
        await call(client, "memory_store", observation="The user drinks coffee every morning")
        shared = await call(client, "memory_search", query="what pet does the user have?", limit=5)
        assert shared["results"][0]["ref"] == pet["ref"]
        # Containing every word of the query keeps a hit whatever its similarity.
        exact = await call(client, "memory_search", query="flat white", min_similarity=0.99)
        assert exact["count"] == 1 and exact["results"][0]["matched"] in ("keywords", "both")


async def test_search_spans_types_and_honours_filters(server):
    _, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        obs = await call(
            client, "memory_store", observation="Deploys the app to Fly.io every Friday", domain="work", confidence=0.9
        )
        weak = await call(
            client, "memory_store", observation="Might deploy to Fly.io on weekends too", domain="work", confidence=0.3
        )
        concept = await call(
            client,
            "memory_store_concept",
            name="Fly.io",
            concept_type="platform",
            description="Hosting platform the user deploys to",
            domain="work",
        )
        doc = await call(
            client,
            "memory_store_document",
            title="Fly.io deploy guide",
            doc_type="article",
            content_summary="How to deploy an app to Fly.io",
        )
        pattern = await call(
            client,
            "memory_update_pattern",
            category="work",
            pattern_name="release-day",
            pattern_text="Releases and deploys on Fridays",
        )

        everything = await call(client, "memory_search", query="deploying to Fly.io", limit=10)
        assert {r["ref"] for r in everything["results"]} >= {
            obs["ref"],
            weak["ref"],
            concept["ref"],
            doc["ref"],
            pattern["ref"],
        }
        only_docs = await call(client, "memory_search", query="deploying to Fly.io", source_types=["document"])
        assert [r["ref"] for r in only_docs["results"]] == [doc["ref"]]
        confident = await call(client, "memory_search", query="deploying to Fly.io", min_confidence=0.5, limit=10)
        assert weak["ref"] not in {r["ref"] for r in confident["results"]}
        assert obs["ref"] in {r["ref"] for r in confident["results"]}
        in_domain = await call(client, "memory_search", query="deploying to Fly.io", domain="work", limit=10)
        assert doc["ref"] not in {r["ref"] for r in in_domain["results"]}
        assert {r["domain"] for r in in_domain["results"]} == {"work"}


async def test_keyword_mode_without_an_embedding_provider(keyword_server):
    _, key = user_with_key()
    async with mcp_client(keyword_server.url, key) as client:
        stored = await call(client, "memory_store", observation="Favourite pizza topping is mushrooms")
        assert stored["embedding"] == "disabled"
        await call(client, "memory_store", observation="Lives near the harbour")
        result = await call(client, "memory_search", query="mushrooms on pizza")
        assert result["mode"] == "keyword"
        assert "full-text" in result["notice"]
        assert [r["ref"] for r in result["results"]] == [stored["ref"]]
        assert "similarity" not in result["results"][0]
        assert result["results"][0]["matched"] == "keywords" and result["results"][0]["score"] > 0
        # Every searchable type is found by its words alone.
        doc = await call(
            client,
            "memory_store_document",
            title="Harbour tide tables",
            doc_type="reference",
            content_summary="Printed tide tables for the old harbour",
        )
        concept = await call(
            client,
            "memory_store_concept",
            name="Tidewatch",
            concept_type="project",
            description="An app that predicts harbour tides",
        )
        pattern = await call(
            client,
            "memory_update_pattern",
            category="habits",
            pattern_name="tides",
            pattern_text="Checks harbour tides every morning",
        )
        tides = await call(client, "memory_search", query="harbour tides", limit=10)
        assert {doc["ref"], concept["ref"], pattern["ref"]} <= {r["ref"] for r in tides["results"]}
        stats = await call(client, "memory_stats")
        assert stats["embedding"] == {"provider": "none", "pending": 0}  # no model: left out, not null


async def test_deleting_a_memory_removes_its_vectors(server):
    owner, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        stored = await call(client, "memory_store", observation="Temporary note about a dentist appointment")
        assert _vector_rows(owner, "observation", stored["id"]) == 1
        await call(client, "memory_delete", ref=stored["ref"])
    assert _vector_rows(owner, "observation", stored["id"]) == 0


def _vector_rows(owner, kind: str, item_id: int) -> int:
    """The owner's vectors of one item (other tests write vectors with made-up item ids)."""
    with session_scope() as session:
        return session.execute(
            select(func.count()).where(
                Embedding.owner_id == owner, Embedding.source_type == kind, Embedding.source_id == item_id
            )
        ).scalar_one()


async def test_search_writes_nothing_and_its_reads_are_counted_in_a_batch(server):
    _, key = user_with_key()
    writes: list[str] = []

    def count_writes(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    async with mcp_client(server.url, key) as client:
        stored = await call(client, "memory_store", observation="Reads the news over breakfast")
        engine = server.app.state.database.engine
        event.listen(engine, "before_cursor_execute", count_writes)
        try:
            found = await call(client, "memory_search", query="news at breakfast")
            await call(client, "memory_search", query="breakfast reading")
        finally:
            event.remove(engine, "before_cursor_execute", count_writes)
        assert [hit["ref"] for hit in found["results"]] == [stored["ref"]]
        assert "query" not in found  # the caller knows what it asked
        assert writes == []
        with server.app.state.database.sessions() as session:
            assert server.app.state.access_tracker.flush(session) >= 2
        item = await call(client, "memory_get", ref=stored["ref"])  # its own read is counted at the next flush
        assert item["access_count"] == 2 and item["last_accessed"] is not None


async def test_a_memory_found_by_its_words_alone_is_scored_by_its_meaning_too(server):
    """Beyond the nearest vectors (40 for limit 5), a memory found only by its
    rare word still gets its similarity, rather than a zero in the fusion."""
    _, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        for n in range(45):  # all nearer the query's meaning than the locker is
            await call(client, "memory_store", observation=f"Flower care note {n}: water the blooms every week")
        locker = await call(client, "memory_store", observation="Locker 4417 holds the spare bike pump")
        found = await call(client, "memory_search", query="blooms 4417", limit=5, min_similarity=0)
    top = found["results"][0]
    assert top["ref"] == locker["ref"]
    assert "similarity" in top  # measured although no nearest vector: the flower notes are all nearer
    assert top["similarity"] < min(hit["similarity"] for hit in found["results"][1:])


async def test_search_reads_a_window_of_memories_and_reads_on_past_those_out_of_scope(server):
    """Memories are read in rank order, twice ``limit`` at a time: a search
    reads a few, not every candidate, and archived ones ranked first (the
    nearest vectors know nothing of the archive) are passed over, not
    returned short."""
    _, key = user_with_key()
    loaded: list[int] = []

    def count_load(target, _context) -> None:
        loaded.append(target.id)

    async with mcp_client(server.url, key) as client:
        for n in range(30):
            await call(client, "memory_store", observation=f"Tide table note {n} for the old harbour")
        query = {"query": "when the sea comes in at the port", "min_similarity": 0}  # meaning alone
        ranked = [hit["ref"] for hit in (await call(client, "memory_search", limit=9, **query))["results"]]
        event.listen(Observation, "load", count_load)
        try:
            first = await call(client, "memory_search", limit=3, **query)
            assert [hit["ref"] for hit in first["results"]] == ranked[:3]
            assert len(loaded) == 6  # one window of the 30 candidates
            await call(client, "memory_archive", refs=ranked[:4])
            loaded.clear()
            after = await call(client, "memory_search", limit=3, **query)
        finally:
            event.remove(Observation, "load", count_load)
        assert [hit["ref"] for hit in after["results"]] == ranked[4:7]
        # The first window held two in scope (its archived four are not even
        # read: the scope is part of the query), so a second window was read.
        assert len(loaded) == 2 + 6


async def test_explain_gives_the_parts_each_hits_score_is_made_of(server):
    """score = (meaning + keywords) × recency, with the shares named."""
    _, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        both = await call(client, "memory_store", observation="Ann drinks green tea every morning")
        meaning = await call(client, "memory_store", observation="Ann prefers herbal infusions to coffee")
        plain = await call(client, "memory_search", query="Ann green tea", min_similarity=0)
        found = await call(
            client, "memory_search", query="Ann green tea", min_similarity=0, explain=True, recency_half_life_days=30
        )
    assert all("why" not in hit for hit in plain["results"])
    by_ref = {hit["ref"]: hit for hit in found["results"]}
    top = by_ref[both["ref"]]
    assert top["why"]["all_words"] is True and top["why"]["words_matched"] == 1.0
    weight = LOCAL_MODELS[DEFAULT_MODEL].semantic_weight
    assert top["why"]["meaning"] == round(weight * top["similarity"], 4)
    other = by_ref[meaning["ref"]]["why"]
    assert other["all_words"] is False and 0 < other["words_matched"] < 1  # "Ann" only
    for hit in found["results"]:
        parts = hit["why"]
        assert 0.99 < parts["recency"] <= 1.0  # stored just now
        assert abs((parts["meaning"] + parts["keywords"]) * parts["recency"] - hit["score"]) < 1e-3
    over_http = httpx.get(
        server.url + "/api/v1/search",
        params={"query": "Ann green tea", "explain": "true"},
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    assert over_http["results"][0]["why"]["all_words"] is True


async def test_a_concept_that_is_only_a_name_is_found_by_its_name_and_never_outranks_a_fact(local_embedder):
    owner, _ = new_user("bare-names")
    async with tool_client(owner, embedder=local_embedder) as client:
        ann = await call(client, "memory_store_concept", name="Ann", concept_type="person")
        fact = await call(client, "memory_store", observation="Ann: likes tea")
        drink = await call(client, "memory_search", query="what does Ann drink")
        assert drink["results"][0]["ref"] == fact["ref"]
        assert ann["ref"] not in [hit["ref"] for hit in drink["results"]]  # "Ann" alone is not the question
        # A word that only looks like the name does not bring it back.
        assert (await call(client, "memory_search", query="annual report"))["results"] == []
        named = await call(client, "memory_search", query="Ann", explain=True)
        assert [hit["ref"] for hit in named["results"]] == [fact["ref"], ann["ref"]]
        assert named["results"][1]["matched"] == "keywords" and named["results"][1]["why"]["meaning"] == 0
        # Described, it has a meaning to compare again.
        await call(client, "memory_store_concept", name="Ann", description="Ann is my sister, a marine biologist")
        work = await call(client, "memory_search", query="who studies sea life?")
        assert work["results"][0]["ref"] == ann["ref"] and work["results"][0]["matched"] in ("meaning", "both")
    with session_scope() as db:
        assert indexing.pending_count(db, model=local_embedder.model, owner_id=owner) == 0


async def test_relationships_are_found_as_the_statements_they_make(local_embedder):
    owner, _ = new_user("statements")
    async with tool_client(owner, embedder=local_embedder) as client:
        ann = await call(client, "memory_store_concept", name="Ann", concept_type="person")
        porto = await call(client, "memory_store_concept", name="Porto", concept_type="place")
        await call(client, "memory_store", observation="Ann: likes tea")
        await call(
            client,
            "memory_add_concept_relationship",
            from_concept="Ann",
            to_concept="Porto",
            rel_type="related_to",
            description="lives_in",
        )
        await call(
            client,
            "memory_add_concept_relationship",
            from_concept="Porto",
            to_concept="Ann",
            rel_type="part_of",
            description="her home town",
        )
        found = await call(client, "memory_search", query="where does Ann live?")
        top = found["results"][0]
        assert top["ref"] == ann["ref"]
        assert top["statements"] == ["Ann lives in Porto", "Porto part of Ann (her home town)"]
        # The concept at the other end goes, and what it said goes with it.
        await call(client, "memory_delete", ref=porto["ref"])
        after = await call(client, "memory_search", query="where does Ann live?", min_similarity=0)
        assert all("Porto" not in " ".join(hit.get("statements", [])) for hit in after["results"])
    with session_scope() as db:
        assert indexing.pending_count(db, model=local_embedder.model, owner_id=owner) == 0
        vectors = db.scalar(select(func.count()).where(Embedding.owner_id == owner, Embedding.source_type == "concept"))
    assert vectors == 0  # Ann is only a name again


async def test_a_concept_is_found_by_the_words_of_its_aliases_however_they_were_added(local_embedder):
    owner, _ = new_user()

    async def matched(query: str) -> set[str]:
        async with tool_client(owner, embedder=local_embedder) as client:
            found = await call(client, "memory_search", query=query, min_similarity=0)
        return {hit["matched"] for hit in found["results"] if hit["ref"] == robert["ref"]}

    async with tool_client(owner, embedder=local_embedder) as client:
        robert = await call(
            client, "memory_store_concept", name="Robert", concept_type="person", description="A colleague"
        )
    assert await matched("Bobby") <= {"meaning"}  # no word of it says Bobby
    async with tool_client(owner, embedder=local_embedder) as client:
        await call(client, "memory_add_concept_alias", concept_name="Robert", alias="Bobby")
    assert await matched("Bobby") & {"keywords", "both"}
    with session_scope() as db:  # written by an import or an undo, not the tool: the same
        db.execute(
            text("INSERT INTO concept_aliases (owner_id, concept_id, alias) VALUES (:o, :c, 'Robbie')"),
            {"o": owner, "c": int(robert["ref"].split(":")[1])},
        )
    assert await matched("Robbie") & {"keywords", "both"}


async def test_a_day_the_query_names_favours_what_happened_then_without_excluding_the_rest(server):
    """'on 7 July 2023' ranks that day's memory first, though another says it
    better; the answer says which days it read, and explain names the factor."""
    _, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        spring = await call(
            client,
            "memory_store",
            observation="Cooked a mushroom risotto for Priya",
            occurred_at="2023-03-02T19:00:00Z",
        )
        july = await call(
            client,
            "memory_store",
            observation="Made pasta with pesto when Priya came over",
            occurred_at="2023-07-07T19:00:00Z",
        )
        today = await call(client, "memory_store", observation="Baked banana bread for Priya")
        undated = await call(client, "memory_search", query="What did I cook for Priya?")
        dated = await call(client, "memory_search", query="What did I cook for Priya on 7 July, 2023?", explain=True)
        this_day = await call(client, "memory_search", query="What did I cook for Priya today?", explain=True)
    order = [hit["ref"] for hit in undated["results"]]
    assert order.index(spring["ref"]) < order.index(july["ref"]) and "period" not in undated
    assert dated["period"] == {"from": "2023-07-07", "to": "2023-07-07"}
    assert [hit["ref"] for hit in dated["results"]][0] == july["ref"]
    assert {hit["ref"] for hit in dated["results"]} == set(order)  # favoured, nothing excluded
    why = {hit["ref"]: hit["why"] for hit in dated["results"]}
    assert why[july["ref"]]["period"] == 1.2 and "period" not in why[spring["ref"]]
    # Recorded now without occurred_at: "today" is when it was recorded.
    assert this_day["results"][0]["ref"] == today["ref"] and this_day["results"][0]["why"]["period"] == 1.2


async def test_a_name_finds_memories_that_use_another_name_of_the_same_concept(server):
    """A concept's name and aliases are one person: a query saying the
    nickname finds what was written with the full name, and back."""
    _, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        await call(client, "memory_store_concept", name="Dmitri Volkov", concept_type="person")
        await call(client, "memory_add_concept_alias", concept_name="Dmitri Volkov", alias="the Colonel")
        dmitri = await call(client, "memory_store", observation="Dmitri's birthday is on 4 May")
        for other in ("Alice's birthday is on 2 March", "Carol's birthday is on 9 June", "Birthday cake recipe"):
            await call(client, "memory_store", observation=other)
        colonel = await call(client, "memory_store", observation="The Colonel takes his coffee black")
        await call(client, "memory_store", observation="Maria takes her coffee with oat milk")
        by_alias = await call(client, "memory_search", query="When is the Colonel's birthday?", explain=True)
        by_name = await call(client, "memory_search", query="How does Dmitri Volkov drink his coffee?", explain=True)
    for found, meant in ((by_alias, dmitri), (by_name, colonel)):
        first, second = found["results"][:2]
        assert first["ref"] == meant["ref"]
        # Its words match the other name; without it, both would share only "birthday" / "coffee".
        assert first["why"]["words_matched"] > second["why"]["words_matched"]
    # A name is put into the query as it is written, never read as a pattern.
    async with mcp_client(server.url, key) as client:
        await call(client, "memory_store_concept", name=r"Build \1 (g<0>)", concept_type="project")
        await call(client, "memory_add_concept_alias", concept_name=r"Build \1 (g<0>)", alias="the build")
        await call(client, "memory_store", observation=r"Build \1 (g<0>) failed on Friday")
        found = await call(client, "memory_search", query="why did the build fail?")
    assert found["results"][0]["text"] == r"Build \1 (g<0>) failed on Friday"
