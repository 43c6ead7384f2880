"""Exact scan or HNSW: chosen by the owner's share of the shared index.

Every owner's vectors live in one HNSW index per model. For an owner with
most of the index, HNSW is the fast way; for a small owner in a big index,
most of what HNSW visits belongs to others and is filtered away (slow, and
the iterative scan must go round again), while an exact scan of the owner's
own rows is fast and exact. With ``owned`` of ``total`` vectors:

    exact scan  ~ EXACT_MS_PER_VECTOR * owned
    HNSW        ~ INDEX_MS_PER_SHARE * total / owned   (grows as the share shrinks)

so HNSW pays off above ``crossover(total) = sqrt(INDEX_MS_PER_SHARE * total /
EXACT_MS_PER_VECTOR)`` vectors (never below EXACT_SCAN_MIN_VECTORS). The
constants were measured on the 2-core bench machine with warm buffers
(bench/scale.py): an exact scan costs ~1 ms per thousand vectors, and a
filtered HNSW search ~1 ms per unit of total/owned. Both counts are read
cheaply and remembered for a minute (planner_stats): the index's size from
the planner's statistics, the owner's by a count that stops at the crossover.
"""

from __future__ import annotations

import math
import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from memory import planner_stats
from memory.search_indexes import index_name

EXACT_MS_PER_VECTOR = 0.001
INDEX_MS_PER_SHARE = 1.0
EXACT_SCAN_MIN_VECTORS = 5_000


def crossover(total: int) -> int:
    """Owned vectors above which HNSW beats an exact scan, in an index of ``total``."""
    return max(EXACT_SCAN_MIN_VECTORS, int(math.sqrt(INDEX_MS_PER_SHARE * max(total, 0) / EXACT_MS_PER_VECTOR)))


def use_index(db: Session, *, owner_id: uuid.UUID, model: str) -> bool:
    """Whether this owner's nearest neighbours should come from the HNSW index."""
    cap = crossover(planner_stats.estimated_rows(db, index_name(model)))

    def count_owned() -> int:  # stops at the cap: at most that many index entries
        return db.execute(
            text(
                "SELECT count(*) FROM (SELECT 1 FROM embeddings WHERE owner_id = :owner AND model = :model "
                "LIMIT :cap) AS owned"
            ),
            {"owner": owner_id, "model": model, "cap": cap + 1},
        ).scalar_one()

    return planner_stats.remembered.get_or_load(("owned vectors", owner_id, model, cap), count_owned) > cap
