"""Exact scan or HNSW, by the owner's share of the shared index."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from memory import search_candidates, vector_plan
from memory.local_models import DEFAULT_MODEL
from tests.support import TEST_DATABASE, new_user, session_scope

MODEL = DEFAULT_MODEL
LARGE = 8_000


def test_the_crossover_grows_with_the_index():
    assert vector_plan.crossover(0) == vector_plan.EXACT_SCAN_MIN_VECTORS
    assert vector_plan.crossover(300_000) > 10_000  # a 10k owner in 300k vectors is scanned exactly
    assert vector_plan.crossover(1_300_000) < 100_000  # a 100k owner in 1.3M uses the index
    assert vector_plan.crossover(4_000_000) > vector_plan.crossover(1_000_000)


def _add_random_vectors(owner, count: int) -> None:
    with session_scope() as db:
        db.execute(
            text(
                "INSERT INTO embeddings (owner_id, source_type, source_id, model, vector) "
                "SELECT :owner, 'observation', g, :model, "
                "CAST(ARRAY(SELECT random() - 0.5 + g * 0 FROM generate_series(1, 384)) AS vector) "
                "FROM generate_series(1, :count) AS g"
            ),
            {"owner": owner, "model": MODEL, "count": count},
        )


def _vector_statement(owner) -> str:
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        if "embeddings" in statement and "ORDER BY" in statement:
            seen.append(statement)

    event.listen(TEST_DATABASE.engine, "before_cursor_execute", record)
    try:
        with session_scope() as db:
            found = search_candidates.vector_candidates(
                db, owner_id=owner, model=MODEL, vector=str([0.01] * 384), kinds=("observation",), k=40
            )
    finally:
        event.remove(TEST_DATABASE.engine, "before_cursor_execute", record)
    assert len(found) == 40 and len(seen) == 1
    return seen[0]


@pytest.mark.slow  # seconds of seeding or waiting: the full suite runs it
def test_a_small_owner_is_searched_exactly_and_a_large_one_through_the_index():
    small, _ = new_user("small-vectors")
    large, _ = new_user("large-vectors")
    _add_random_vectors(small, 60)
    _add_random_vectors(large, LARGE)
    with session_scope() as db:
        db.execute(text("ANALYZE embeddings"))
        total = db.execute(text("SELECT count(*) FROM embeddings WHERE model = :m"), {"m": MODEL}).scalar_one()
    assert vector_plan.crossover(total) < LARGE  # the large owner holds most of the test index
    exact = _vector_statement(small)
    assert "vector::vector(384)" not in exact and "embedding_sketches" in exact  # the owner's own vectors
    assert "vector::vector(384)" in _vector_statement(large)  # the HNSW index's expression


def _add_clustered_vectors(owner, count: int, clusters: int) -> None:
    """Vectors scattered around ``clusters`` random centres, as memories on a few topics are."""
    with session_scope() as db:
        db.execute(
            text(
                "WITH centres AS (SELECT c, ARRAY(SELECT random() - 0.5 + c * 0 FROM generate_series(1, 384)) AS v "
                "FROM generate_series(0, :clusters - 1) AS c) "
                "INSERT INTO embeddings (owner_id, source_type, source_id, model, vector) "
                "SELECT :owner, 'observation', g, :model, "
                "CAST(ARRAY(SELECT x + (random() - 0.5) * 0.6 + g * 0 FROM unnest(centres.v) AS x) AS vector) "
                "FROM generate_series(1, :count) AS g JOIN centres ON centres.c = g % :clusters"
            ),
            {"owner": owner, "model": MODEL, "count": count, "clusters": clusters},
        )


@pytest.mark.slow  # seconds of seeding or waiting: the full suite runs it
def test_an_exact_search_returns_the_true_nearest_vectors_with_their_distances():
    """The sign sketches only shortlist; what comes back is the nearest by
    cosine distance, measured on the vectors themselves."""
    owner, _ = new_user("shortlisted")
    _add_clustered_vectors(owner, 3_000, clusters=30)
    with session_scope() as db:
        query = db.execute(
            text("SELECT CAST(vector AS text) FROM embeddings WHERE owner_id = :owner AND source_id = 7"),
            {"owner": owner},
        ).scalar_one()
        truth = db.execute(
            text(
                "SELECT source_id, vector <=> CAST(:q AS vector) FROM embeddings WHERE owner_id = :owner "
                "ORDER BY 2 LIMIT 40"
            ),
            {"owner": owner, "q": query},
        ).all()
        how = vector_plan.plan(db, owner_id=owner, model=MODEL, k=40, indexed=True)
        found = search_candidates.vector_candidates(
            db, owner_id=owner, model=MODEL, vector=query, kinds=("observation",), k=40
        )
    assert not how.through_index and how.shortlist < 3_000  # a shortlist, not every vector measured
    assert [item_id for _, item_id, _ in found] == [item_id for item_id, _ in truth]
    assert [round(distance, 5) for *_, distance in found] == [round(distance, 5) for _, distance in truth]


def test_sign_sketches_follow_every_change_to_the_vectors():
    """Triggers keep them, so any writer (an older instance mid-deploy, an
    import, a hand-run statement) leaves no vector without its sketch."""
    owner, _ = new_user("sketched")
    other, _ = new_user("sketched too")
    _add_random_vectors(owner, 50)
    _add_random_vectors(other, 5)

    def mismatches(db) -> int:
        return db.execute(
            text(
                "SELECT count(*) FROM embeddings e FULL JOIN embedding_sketches s ON s.embedding_id = e.id "
                "WHERE coalesce(e.owner_id, s.owner_id) IN (:owner, :other) AND (e.id IS NULL OR s.embedding_id "
                "IS NULL OR s.signs <> binary_quantize(e.vector) OR (s.owner_id, s.model, s.source_type) <> "
                "(e.owner_id, e.model, e.source_type))"
            ),
            {"owner": owner, "other": other},
        ).scalar_one()

    def sketches(db, who) -> int:
        return db.execute(
            text("SELECT count(*) FROM embedding_sketches WHERE owner_id = :owner"), {"owner": who}
        ).scalar_one()

    with session_scope() as db:
        assert sketches(db, owner) == 50 and mismatches(db) == 0
        db.execute(  # re-embedding, as indexing does it: an upsert
            text(
                "INSERT INTO embeddings (owner_id, source_type, source_id, model, vector) "
                "SELECT owner_id, source_type, source_id, model, CAST(ARRAY(SELECT -x FROM unnest("
                "CAST(vector AS real[])) AS x) AS vector) FROM embeddings WHERE owner_id = :owner AND source_id <= 10 "
                "ON CONFLICT ON CONSTRAINT uq_embeddings_item_model DO UPDATE SET vector = excluded.vector"
            ),
            {"owner": owner},
        )
        db.execute(
            text("UPDATE embeddings SET source_type = 'pattern' WHERE owner_id = :owner AND source_id = 20"),
            {"owner": owner},
        )
        db.execute(text("DELETE FROM embeddings WHERE owner_id = :owner AND source_id > 40"), {"owner": owner})
    with session_scope() as db:
        assert sketches(db, owner) == 40 and mismatches(db) == 0
        db.execute(text("DELETE FROM users WHERE id = :owner"), {"owner": owner})
    with session_scope() as db:
        assert sketches(db, owner) == 0 and sketches(db, other) == 5 and mismatches(db) == 0


def test_without_an_index_the_shortlist_grows_with_all_the_owners_vectors():
    """A model with no HNSW index (over 2,000 dimensions, or unknown) is
    always searched exactly, however many vectors: its shortlist keeps its
    share of them rather than stopping at the crossover."""
    owner, _ = new_user("unindexed")
    owned = vector_plan.EXACT_SCAN_MIN_VECTORS + 1_000
    with session_scope() as db:
        db.execute(
            text(
                "INSERT INTO embeddings (owner_id, source_type, source_id, model, vector) "
                "SELECT :owner, 'observation', g, 'house-model', CAST(ARRAY[random() - 0.5, random() - 0.5] AS vector) "
                "FROM generate_series(1, :count) AS g"
            ),
            {"owner": owner, "count": owned},
        )
        how = vector_plan.plan(db, owner_id=owner, model="house-model", k=1, indexed=False)
    assert not how.through_index and how.shortlist == owned // vector_plan.SHORTLIST_SHARE
