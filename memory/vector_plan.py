"""Exact search or HNSW: chosen by the owner's share of the shared index.

Every owner's vectors live in one HNSW index per model. For an owner with
most of the index, HNSW is the fast way; for a small owner in a big index,
most of what HNSW visits belongs to others and is filtered away (slow, and
the iterative scan must go round again), while an exact search of the
owner's own vectors is fast and exact. With ``owned`` of ``total`` vectors:

    exact search ~ EXACT_MS_PER_VECTOR * owned
    HNSW         ~ INDEX_MS_PER_SHARE * total / owned   (grows as the share shrinks)

so HNSW pays off above ``crossover(total) = sqrt(INDEX_MS_PER_SHARE * total /
EXACT_MS_PER_VECTOR)`` vectors (never below EXACT_SCAN_MIN_VECTORS). The
constants were measured on the 2-core bench machine with warm buffers
(bench/scale.py): an exact search costs ~3 ms for 10,000 vectors, and a
filtered HNSW search ~1 ms per unit of total/owned. Both counts are read
cheaply and remembered for a minute (planner_stats): the index's size from
the planner's statistics, the owner's by a count (for a model with an
index, one that stops at the crossover).

An exact search ranks all the owner's sign sketches (embedding_sketches) by
Hamming distance and measures a shortlist of the closest exactly: twenty
per candidate wanted, and at least 2 % of the owner's vectors. Against
measuring every vector, the 40 nearest were found for real conversation
text (LoCoMo, 4,243 turns and facts: 0.9993 of them with a shortlist of 400,
0.9999 with 800; with 400 one LoCoMo question of 1,020 lost its hit in
bench/recall_quality.py, with 800 none) and for templated notes (30,000:
0.9976 with 400, all with 800).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from memory import planner_stats
from memory.search_indexes import index_name

EXACT_MS_PER_VECTOR = 0.0003
INDEX_MS_PER_SHARE = 1.0
EXACT_SCAN_MIN_VECTORS = 5_000
SHORTLIST_PER_CANDIDATE = 20
SHORTLIST_SHARE = 50


@dataclass(frozen=True)
class VectorPlan:
    through_index: bool
    shortlist: int  # exact search: how many of the closest sketches are measured exactly


def crossover(total: int) -> int:
    """Owned vectors above which HNSW beats an exact search, in an index of ``total``."""
    return max(EXACT_SCAN_MIN_VECTORS, int(math.sqrt(INDEX_MS_PER_SHARE * max(total, 0) / EXACT_MS_PER_VECTOR)))


def plan(db: Session, *, owner_id: uuid.UUID, model: str, k: int, indexed: bool) -> VectorPlan:
    """How to find this owner's ``k`` nearest vectors of ``model``, which
    has an HNSW index if ``indexed``."""
    # With an index, counting past the crossover says nothing more; without
    # one, every vector is searched exactly and the shortlist grows with them.
    cap = crossover(planner_stats.estimated_rows(db, index_name(model))) if indexed else None

    def count_owned() -> int:
        return db.execute(
            text(
                "SELECT count(*) FROM (SELECT 1 FROM embedding_sketches WHERE owner_id = :owner AND model = :model "
                "LIMIT :stop) AS owned"
            ),
            {"owner": owner_id, "model": model, "stop": None if cap is None else cap + 1},
        ).scalar_one()

    owned = planner_stats.remembered.get_or_load(("owned vectors", owner_id, model, cap), count_owned)
    if cap is not None and owned > cap:
        return VectorPlan(through_index=True, shortlist=0)
    return VectorPlan(through_index=False, shortlist=max(SHORTLIST_PER_CANDIDATE * k, owned // SHORTLIST_SHARE))
