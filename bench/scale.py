"""memory_search at scale: a million memories for one owner, small owners in a big index.

    python bench/scale.py                  # seed once (kept in bench/.data-scale), then measure
    python bench/scale.py --queries 300

One database, shared as in production by owners of every size:
one owner with 1,000,000 memories, one with 100,000, ten with 10,000 and a
thousand with 100 (1.3 million vectors in one HNSW index). It measures the
database time of hybrid search (the query embedding excluded) for the
million-memory owner and for a 10,000-memory owner, and the recall of the
vector candidates against exact nearest-neighbour search for both. Before
measuring an owner, 1,000 nearest-neighbour searches for other sentences
bring the index into memory, as a server busy with that owner has it.

Embedding 1.3 million texts with the bundled model would take hours here,
so 20,000 distinct sentences are embedded and every memory is one of them
(with its number appended) whose vector mixes that sentence's (60 %) with
two others' (25 % and 15 %): distinct vectors, loosely clustered by topic as
people's memories are. (Mixing in only one other sentence, 85/15, made
clusters of near-copies on which HNSW recall stalls at 0.8 at any
ef_search: a property of such data, not of memories.) Queries are bench/search_latency.py's questions.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid

from common import DATABASE, ROOT, FixedEmbedding, machine, summary
from search_latency import queries, sentences
from sqlalchemy import text

from core import db, embedded_postgres
from identity import accounts
from memory import hybrid_search, search_candidates
from memory.access import TRACKER_KEY, AccessTracker
from memory.embeddings import LocalEmbeddings
from memory.local_models import DEFAULT_MODEL
from memory.search_indexes import vector_index_statements

DATA_DIR = ROOT / "bench" / ".data-scale"
BASE_SENTENCES = 20_000
OWNERS = [("scale-1m", 1_000_000, 1), ("scale-100k", 100_000, 1), ("scale-10k", 10_000, 10), ("scale-100", 100, 1000)]
MODEL = DEFAULT_MODEL


def owner_ids() -> dict[str, uuid.UUID]:
    ids = {}
    with DATABASE.session_scope() as session:
        for label, _, copies in OWNERS:
            for n in range(copies):
                name = f"{label}-{n}"
                user = accounts.upsert_user(
                    session, provider="local", subject=name, email=f"{name}@memorygate.internal", record_login=False
                )
                ids[name] = user.id
    return ids


def seed(embedder: LocalEmbeddings, ids: dict[str, uuid.UUID]) -> None:
    with DATABASE.engine.connect() as conn:
        if conn.execute(text("SELECT count(*) FROM embeddings")).scalar_one() >= 1_300_000:
            print("reusing seeded memories")
            return
    started = time.perf_counter()
    if not _base_ready():
        _embed_base(embedder)
        print(f"embedded {BASE_SENTENCES:,} base sentences in {time.perf_counter() - started:.0f} s", flush=True)
    with DATABASE.engine.begin() as conn:
        conn.execute(text("DROP INDEX IF EXISTS ix_embeddings_hnsw_all_minilm_l6_v2"))
    for name, owner in ids.items():
        count = next(size for label, size, _ in OWNERS if name.startswith(label + "-"))
        _seed_owner(owner, count, salt=random.Random(name).randrange(BASE_SENTENCES))
        if count >= 10_000:
            print(f"  {name}: {count:,} memories ({time.perf_counter() - started:.0f} s)", flush=True)
    with DATABASE.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        print("building the HNSW index ...", flush=True)
        began = time.perf_counter()
        conn.execute(text("SET maintenance_work_mem = '2GB'"))
        for statement in vector_index_statements():  # the index the schema defines
            conn.execute(text(statement))
        print(f"  built in {time.perf_counter() - began:.0f} s", flush=True)
        conn.execute(text("VACUUM ANALYZE observations"))
        conn.execute(text("VACUUM ANALYZE embeddings"))


def _base_ready() -> bool:
    with DATABASE.engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass('scale_base')")).scalar() is None:
            return False
        return conn.execute(text("SELECT count(*) FROM scale_base")).scalar_one() == BASE_SENTENCES


def _embed_base(embedder: LocalEmbeddings) -> None:
    """The distinct sentences every memory is made from, with their vectors
    pre-scaled for the 60/25/15 mix."""
    texts = sentences(BASE_SENTENCES, seed=3)
    vectors = [v for i in range(0, len(texts), 64) for v in embedder.embed(texts[i : i + 64])]
    with DATABASE.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS scale_base"))
        conn.execute(
            text("CREATE UNLOGGED TABLE scale_base (i int PRIMARY KEY, body text, v60 vector, v25 vector, v15 vector)")
        )
        conn.execute(
            text(
                "INSERT INTO scale_base VALUES "
                "(:i, :body, CAST(:v60 AS vector), CAST(:v25 AS vector), CAST(:v15 AS vector))"
            ),
            [
                {"i": i, "body": texts[i], **{f"v{w}": str([x * w / 100 for x in vectors[i]]) for w in (60, 25, 15)}}
                for i in range(len(texts))
            ],
        )


def _seed_owner(owner: uuid.UUID, count: int, salt: int) -> None:
    """Observations and their vectors, made inside PostgreSQL."""
    with DATABASE.engine.begin() as conn:
        has = "SELECT count(*) FROM embeddings WHERE owner_id = :owner"
        if conn.execute(text(has), {"owner": owner}).scalar_one() == count:
            return  # seeded by an earlier, interrupted run
        first = conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM observations")).scalar_one()
        params = {"owner": owner, "count": count, "first": first, "salt": salt, "n": BASE_SENTENCES, "model": MODEL}
        conn.execute(
            text(
                "INSERT INTO observations (id, owner_id, observation, confidence, domain) "
                "SELECT :first + g, :owner, b.body || ' (#' || g || ')', 0.8, 'bench' "
                "FROM generate_series(0, :count - 1) AS g JOIN scale_base b ON b.i = (g + :salt) % :n"
            ),
            params,
        )
        conn.execute(
            text(
                "INSERT INTO embeddings (owner_id, source_type, source_id, model, vector) "
                "SELECT :owner, 'observation', :first + g, :model, a.v60 + b.v25 + c.v15 "
                "FROM generate_series(0, :count - 1) AS g JOIN scale_base a ON a.i = (g + :salt) % :n "
                # Partners vary with the block number too (g / n), or every n-th row repeats a vector.
                "JOIN scale_base b ON b.i = ((g / :n) * 7919 + g::bigint * 31 + 13) % :n "
                "JOIN scale_base c ON c.i = ((g / :n) * 104729 + g::bigint * 17 + 7) % :n"
            ),
            params,
        )
        conn.execute(text("SELECT setval('observations_id_seq', (SELECT max(id) FROM observations))"))


def warm_index(owner: uuid.UUID, probes: int = 1_000) -> None:
    """Bring the index into memory as serving this owner keeps it there:
    nearest-neighbour searches for ``probes`` base sentences (not the
    measured questions). Without it the first searches after a start read
    the 2.5 GB index from the OS cache or disk."""
    with DATABASE.engine.connect() as conn:
        vectors = conn.execute(text("SELECT CAST(v60 AS text) FROM scale_base ORDER BY i LIMIT :n"), {"n": probes})
        literals = list(vectors.scalars())
    kinds = tuple(search_candidates.KEYWORD_TABLES)
    for literal in literals:
        with DATABASE.sessions() as session:
            search_candidates.vector_candidates(session, owner_id=owner, model=MODEL, vector=literal, kinds=kinds, k=40)
            session.rollback()


def measure(owner: uuid.UUID, embedder: LocalEmbeddings, questions: list[str]) -> tuple[list[float], float]:
    """Database time per search, and the mean recall@40 of vector candidates
    against exact search. Reads are counted as the app counts them, in
    memory off the request path (memory/access.py); this bench never writes them."""
    vectors = [embedder.embed_query(question) for question in questions]
    times, recalls = [], []
    reads = AccessTracker()
    kinds = tuple(search_candidates.KEYWORD_TABLES)
    for question, vector in zip(questions, vectors, strict=True):
        timings = hybrid_search.SearchTimings()
        fixed = FixedEmbedding(MODEL, vector)
        with DATABASE.sessions() as session:
            session.info[TRACKER_KEY] = reads
            hybrid_search.search(session, owner_id=owner, embedder=fixed, query=question, timings=timings)
            found = search_candidates.vector_candidates(
                session,
                owner_id=owner,
                model=MODEL,
                vector=search_candidates.vector_literal(vector),
                kinds=kinds,
                k=40,
            )
            session.rollback()
            exact = (
                session.execute(
                    text(
                        "SELECT source_id FROM embeddings WHERE owner_id = :owner AND model = :model "
                        "ORDER BY vector <=> CAST(:v AS vector) LIMIT 40"
                    ),
                    {"owner": owner, "model": MODEL, "v": str(vector)},
                )
                .scalars()
                .all()
            )
        times.append(timings.database_ms)
        recalls.append(len({row[1] for row in found} & set(exact)) / max(1, len(exact)))
    return times, statistics.fmean(recalls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed-only", action="store_true")
    args = parser.parse_args()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    embedded = embedded_postgres.EmbeddedPostgres(DATA_DIR)
    try:
        DATABASE.connect(embedded.start())
        db.init_db(DATABASE.engine)
        embedder = LocalEmbeddings()
        ids = owner_ids()
        seed(embedder, ids)
        if args.seed_only:
            return
        questions = queries(args.queries)
        print(f"\nmachine: {machine()}")
        print("hybrid search database time (query embedding excluded), 1.3 million vectors in one index:")
        for name in ("scale-1m-0", "scale-10k-0"):
            warm_index(ids[name])
            measure(ids[name], embedder, questions[:20])  # and the keyword side
            times, recall = measure(ids[name], embedder, questions)
            print(f"  {name:12} {summary(times)}   vector recall@40 vs exact {recall:.3f}")
    finally:
        DATABASE.dispose()
        embedded.stop()


if __name__ == "__main__":
    main()
