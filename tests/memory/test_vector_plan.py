"""Exact scan or HNSW, by the owner's share of the shared index."""

from __future__ import annotations

from sqlalchemy import event, text

from memory import hybrid_search, vector_plan
from memory.embeddings import LocalEmbeddings
from tests.support import TEST_DATABASE, new_user, session_scope

MODEL = "all-MiniLM-L6-v2"
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
        if "FROM embeddings" in statement and "ORDER BY" in statement:
            seen.append(statement)

    embedder = LocalEmbeddings()
    event.listen(TEST_DATABASE.engine, "before_cursor_execute", record)
    try:
        with session_scope() as db:
            found = hybrid_search._vector_candidates(
                db, owner_id=owner, embedder=embedder, vector=str([0.01] * 384), kinds=("observation",), k=40
            )
    finally:
        event.remove(TEST_DATABASE.engine, "before_cursor_execute", record)
    assert len(found) == 40 and len(seen) == 1
    return seen[0]


def test_a_small_owner_is_searched_exactly_and_a_large_one_through_the_index():
    small, _ = new_user("small-vectors")
    large, _ = new_user("large-vectors")
    _add_random_vectors(small, 60)
    _add_random_vectors(large, LARGE)
    with session_scope() as db:
        db.execute(text("ANALYZE embeddings"))
        total = db.execute(text("SELECT count(*) FROM embeddings WHERE model = :m"), {"m": MODEL}).scalar_one()
    assert vector_plan.crossover(total) < LARGE  # the large owner holds most of the test index
    assert "vector::vector(384)" not in _vector_statement(small)  # exact: the owner's own rows
    assert "vector::vector(384)" in _vector_statement(large)  # the HNSW index's expression
