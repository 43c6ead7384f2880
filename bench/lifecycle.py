"""What the memory lifecycle costs at 100,000 memories.

    python bench/lifecycle.py

On bench/search_latency.py's owner with 100,000 observations (seeded once,
kept in bench/.data):

* the duplicate check memory_store runs before inserting (an indexed lookup
  of the text's observation_key among the owner's current observations),
  for new texts and for restatements;
* search database time (query embedding excluded) with 20 % of the
  observations superseded, against none — the superseded rows are marked in
  a transaction that is rolled back, so the seeded data stay as they were.
"""

from __future__ import annotations

import random
import time

from common import DATABASE, FixedEmbedding, database_url, machine, summary
from search_latency import queries, seed_owner, sentences
from sqlalchemy import text

from core import db
from memory import hybrid_search, observations
from memory.embeddings import LocalEmbeddings

MEMORIES = 100_000


def duplicate_checks(owner, texts: list[str]) -> list[float]:
    timings = []
    with DATABASE.sessions() as session:
        for body in texts:
            started = time.perf_counter()
            observations._same_as(session, owner_id=owner, text=body)
            timings.append((time.perf_counter() - started) * 1000)
        session.rollback()
    return timings


def searches(session, owner, embedder, vectors, questions) -> list[float]:
    timings = []
    for question, vector in zip(questions, vectors, strict=True):
        measured = hybrid_search.SearchTimings()
        fixed = FixedEmbedding(embedder.model, vector)
        hybrid_search.search(session, owner_id=owner, embedder=fixed, query=question, timings=measured)
        timings.append(measured.database_ms)
    return timings


def main() -> None:
    url, embedded = database_url(None)
    try:
        DATABASE.connect(url)
        db.init_db(DATABASE.engine)
        embedder = LocalEmbeddings()
        owner = seed_owner(MEMORIES, embedder)
        rng = random.Random(5)
        seeded = sentences(MEMORIES)
        restatements = [rng.choice(seeded).lower().rstrip(".") for _ in range(300)]
        fresh = [f"A new fact number {n} about the greenhouse" for n in range(300)]
        duplicate_checks(owner, restatements[:30])  # warm
        new_ms, repeat_ms = duplicate_checks(owner, fresh), duplicate_checks(owner, restatements)

        questions = queries(200)
        vectors = [embedder.embed_query(question) for question in questions]
        with DATABASE.sessions() as session:
            searches(session, owner, embedder, vectors[:20], questions[:20])  # warm
            plain = searches(session, owner, embedder, vectors, questions)
            marked = session.execute(
                text("UPDATE observations SET superseded_by_id = id WHERE owner_id = :owner AND id % 5 = 0"),
                {"owner": owner},
            ).rowcount
            superseded = searches(session, owner, embedder, vectors, questions)
            session.rollback()
    finally:
        DATABASE.dispose()
        if embedded is not None:
            embedded.stop()
    print(f"\nmachine: {machine()}")
    print(f"{MEMORIES:,} observations for one owner")
    print(f"  duplicate check, new texts:        {summary(new_ms)}")
    print(f"  duplicate check, restatements:     {summary(repeat_ms)}")
    print(f"  search database time, all current: {summary(plain)}")
    print(f"  ... with {marked:,} superseded:     {summary(superseded)}")


if __name__ == "__main__":
    main()
