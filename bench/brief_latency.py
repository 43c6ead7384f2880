"""memory_brief latency: the brief over an owner with many memories.

    python bench/brief_latency.py              # 10,000 memories for one owner
    python bench/brief_latency.py --large      # 100,000
    python bench/brief_latency.py --memories 25000 --briefs 100

Seeds the owner as bench/search_latency.py does (the same memories, kept in
bench/.data), then times brief.brief in the service layer: without a topic
(about the person and what changed) and with one (adding the hybrid search,
query embedding included), each with the default budget of 1,500 tokens.
Target at 100k memories: p95 <= 100 ms with a topic, database and model time.
"""

from __future__ import annotations

import argparse
import time

from common import DATABASE, database_url, machine, summary
from search_latency import queries, seed_owner

from core import db
from memory import brief
from memory.embeddings import LocalEmbeddings


def timed_briefs(owner_id, embedder, topics: list[str | None]) -> list[float]:
    latencies = []
    for topic in topics:
        with DATABASE.sessions() as session:
            started = time.perf_counter()
            brief.brief(session, owner_id=owner_id, embedder=embedder, topic=topic)
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--large", action="store_true", help="100,000 memories")
    parser.add_argument("--briefs", type=int, default=100)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    count = 100_000 if args.large else args.memories

    url, embedded = database_url(args.database_url)
    try:
        DATABASE.connect(url)
        db.init_db(DATABASE.engine)
        embedder = LocalEmbeddings()
        owner_id = seed_owner(count, embedder)
        topics: list[str | None] = list(queries(args.briefs))
        timed_briefs(owner_id, embedder, topics[:10] + [None] * 10)  # warm caches
        plain = timed_briefs(owner_id, embedder, [None] * args.briefs)
        on_topic = timed_briefs(owner_id, embedder, topics)
    finally:
        DATABASE.dispose()
        if embedded is not None:
            embedded.stop()

    print()
    print(f"memory_brief, {count:,} memories for one owner, {args.briefs} briefs each, 1,500-token budget")
    print(f"machine: {machine()}")
    print(f"  without a topic (about the person, changes):          {summary(plain)}")
    print(f"  with a topic (+ hybrid search, query embedding) (target p95<=100 at 100k): {summary(on_topic)}")


if __name__ == "__main__":
    main()
