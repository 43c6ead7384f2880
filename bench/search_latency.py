"""memory_search latency at scale, in the service layer and over MCP HTTP.

    python bench/search_latency.py              # 10,000 memories for one owner
    python bench/search_latency.py --large      # 100,000
    python bench/search_latency.py --memories 25000 --queries 300

Seeds one owner with N distinct observations embedded by the bundled model
(kept in bench/.data, so later runs reuse them), then runs
the same natural-language queries (a) through hybrid_search.search, timing
the query embedding and the database work separately, and (b) as MCP
tools/call requests over HTTP to `python server.py` (one process, its own),
auth gate included.
Target at 100k memories: service-layer p50 <= 15 ms, p95 <= 40 ms,
excluding query embedding.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from common import DATABASE, database_url, machine, start_server, summary

from core import db
from identity import accounts, api_keys
from memory import hybrid_search
from memory.access import TRACKER_KEY, AccessTracker
from memory.embeddings import LocalEmbeddings
from models import Embedding, Observation

SUBJECTS = [
    "The user",
    "My manager",
    "Our team lead",
    "The client",
    "My sister",
    "The landlord",
    "Dr. Patel",
    "The new intern",
    "My running coach",
    "The accountant",
    "Grandma",
    "The design team",
]
TOPICS = [
    "the database migration",
    "the quarterly report",
    "dark mode in the editor",
    "sourdough baking",
    "the trip to Lisbon",
    "the kitchen renovation",
    "the Kubernetes upgrade",
    "the marathon training plan",
    "the tax return",
    "the birthday party",
    "the pull request review",
    "the piano lessons",
    "the garden irrigation",
    "the conference talk",
    "the budget spreadsheet",
    "the dentist appointment",
    "the security audit",
    "the hiring plan",
    "the podcast episode",
    "the wedding playlist",
    "the car insurance",
    "the API redesign",
    "the book club",
    "the home network",
    "the vaccine schedule",
    "the product launch",
    "the tomato seedlings",
    "the moving boxes",
    "the chess tournament",
    "the grant proposal",
]
TEMPLATES = [
    "{s} prefers to handle {t} {c}.",
    "{s} is worried about {t} {c}.",
    "{s} asked for an update on {t} {c}.",
    "{s} finished {t} {c}.",
    "{s} wants to postpone {t} {c}.",
    "{s} said {t} went badly {c}.",
    "{s} recommended a new approach to {t} {c}.",
    "{s} keeps notes about {t} {c}.",
    "{s} is excited about {t} {c}.",
    "{s} needs help with {t} {c}.",
]
CONTEXTS = [
    "on Monday",
    "before the holidays",
    "every other week",
    "after lunch",
    "next spring",
    "this weekend",
    "in the evenings",
    "by the end of the month",
    "during the retreat",
    "when it rains",
    "at the office",
    "remotely",
    "with a checklist",
    "without telling anyone",
    "again",
    "for the third time",
]
QUESTIONS = [
    "what do we know about {t}?",
    "who was concerned about {t}?",
    "any plans regarding {t}?",
    "has anyone made progress on {t}?",
    "notes on {t}",
    "what happened with {t} recently?",
]

EMBED_BATCH = 64
INSERT_BATCH = 2000


def sentences(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    seen: set[str] = set()
    while len(seen) < count:
        text = rng.choice(TEMPLATES).format(s=rng.choice(SUBJECTS), t=rng.choice(TOPICS), c=rng.choice(CONTEXTS))
        seen.add(f"{text} (#{len(seen)})" if text in seen else text)
    return sorted(seen, key=lambda _: rng.random())


def queries(count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(QUESTIONS).format(t=rng.choice(TOPICS)) for _ in range(count)]


def seed_owner(count: int, embedder: LocalEmbeddings):
    from sqlalchemy import func, insert, select

    with DATABASE.session_scope() as session:
        owner = accounts.upsert_user(
            session,
            provider="local",
            subject=f"bench-{count}",
            email=f"bench-{count}@memorygate.internal",
            record_login=False,
        )
        owner_id = owner.id
        existing = session.execute(select(func.count()).where(Observation.owner_id == owner_id)).scalar_one()
    if existing == count:
        print(f"reusing {count:,} seeded memories")
        return owner_id
    if existing:
        raise SystemExit(f"bench owner has {existing} memories, expected 0 or {count}; delete bench/.data")
    texts = sentences(count)
    started = time.perf_counter()
    for start in range(0, count, INSERT_BATCH):
        chunk = texts[start : start + INSERT_BATCH]
        vectors = [v for i in range(0, len(chunk), EMBED_BATCH) for v in embedder.embed(chunk[i : i + EMBED_BATCH])]
        with DATABASE.session_scope() as session:
            ids = session.scalars(
                insert(Observation).returning(Observation.id),
                [{"owner_id": owner_id, "observation": t, "confidence": 0.8, "domain": "bench"} for t in chunk],
            ).all()
            session.execute(
                insert(Embedding),
                [
                    {
                        "owner_id": owner_id,
                        "source_type": "observation",
                        "source_id": i,
                        "model": embedder.model,
                        "vector": v,
                    }
                    for i, v in zip(ids, vectors, strict=True)
                ],
            )
        done = start + len(chunk)
        rate = done / (time.perf_counter() - started)
        print(f"  seeded {done:,}/{count:,} ({rate:.0f} memories/s)", flush=True)
    with DATABASE.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        from sqlalchemy import text

        conn.execute(text("VACUUM ANALYZE observations"))
        conn.execute(text("VACUUM ANALYZE embeddings"))
    return owner_id


def service_layer(owner_id, embedder, questions: list[str]) -> tuple[list[float], list[float]]:
    """Searches as the app runs them: reads are counted in memory and
    written after, off the request path (memory/access.py)."""
    embed_ms, database_ms = [], []
    reads = AccessTracker()
    for question in questions:
        timings = hybrid_search.SearchTimings()
        with DATABASE.sessions() as session:
            session.info[TRACKER_KEY] = reads
            hybrid_search.search(
                session, owner_id=owner_id, embedder=embedder, query=question, limit=5, timings=timings
            )
            session.commit()
        embed_ms.append(timings.embed_ms)
        database_ms.append(timings.database_ms)
    with DATABASE.sessions() as session:
        reads.flush(session)
    return embed_ms, database_ms


async def over_mcp(url: str, key: str, questions: list[str]) -> list[float]:
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    latencies = []
    async with Client(StreamableHttpTransport(url + "/mcp", headers={"Authorization": f"Bearer {key}"})) as client:
        for question in questions:
            started = time.perf_counter()
            await client.call_tool("memory_search", {"query": question, "limit": 5})
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--large", action="store_true", help="100,000 memories")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    count = 100_000 if args.large else args.memories

    url, embedded = database_url(args.database_url)
    try:
        DATABASE.connect(url)
        db.init_db(DATABASE.engine)
        embedder = LocalEmbeddings()
        owner_id = seed_owner(count, embedder)
        questions = queries(args.queries)
        service_layer(owner_id, embedder, questions[:20])  # warm caches
        embed_ms, database_ms = service_layer(owner_id, embedder, questions)
        total_ms = [a + b for a, b in zip(embed_ms, database_ms, strict=True)]

        with DATABASE.session_scope() as session:
            _, key = api_keys.create_key(session, user_id=owner_id, name="bench", bcrypt_rounds=10)
        # One server process, as `python server.py` runs; in this process its
        # event loop would share the interpreter with the client's.
        server = start_server(args.database_url, workers=1)
        try:
            asyncio.run(over_mcp(server.url, key, questions[:20]))
            mcp_ms = asyncio.run(over_mcp(server.url, key, questions))
        finally:
            server.stop()
    finally:
        DATABASE.dispose()
        if embedded is not None:
            embedded.stop()

    print()
    print(f"memory_search, {count:,} memories for one owner, {len(questions)} queries, limit 5")
    print(f"machine: {machine()}")
    print(f"  service layer, database only (target p50<=15, p95<=40 at 100k): {summary(database_ms)}")
    print(f"  query embedding ({embedder.model}):                      {summary(embed_ms)}")
    print(f"  service layer, embedding + database:                        {summary(total_ms)}")
    print(f"  MCP tools/call over HTTP (auth, embedding, database):       {summary(mcp_ms)}")


if __name__ == "__main__":
    main()
