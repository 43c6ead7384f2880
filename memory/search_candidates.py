"""Hybrid search's candidates, drawn in SQL for one owner: the nearest
vectors (exactly, or through the HNSW index: memory/vector_plan.py) and the
best full-text matches, ranked by the share of the query's word weight they
hold (memory/word_weights.py); each candidate comes scored on both sides.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import String

from memory import item_types, planner_stats, search_fusion, vector_plan, word_weights
from memory.scope import Scope
from memory.search_indexes import HNSW_MAX_DIMENSIONS, KNOWN_MODEL_DIMENSIONS, vector_expression
from models import owner_lexeme

KEYWORD_TABLES = {
    "observation": ("observations", "confidence", "domain"),
    "pattern": ("patterns", "confidence", "category"),
    "concept": ("concepts", None, "domain"),
    "document": ("documents", None, None),
    "turn": ("turns", None, None),
}

# The query's words as tsqueries, all parsed by PostgreSQL's own parsers so
# user input never reaches tsquery syntax: every word (AND). Candidates by
# any word use only the query's words uncommon in the table searched
# (UNCOMMON_WORDS, given them as :uncommon_{table}). Matches are ranked
# by the words' weights (memory/word_weights.py). Search runs it only for a
# query with words; were q_all ever empty it is NULL, since an empty tsquery
# ANDed with the owner's lexeme would match all their rows.
TERMS_CTE = (
    "WITH terms AS (SELECT nullif(plainto_tsquery('english', :query), '') AS q_all, "
    "to_tsquery('simple', :owner_lexeme) AS q_owner)"
)
UNCOMMON_WORDS = (
    "(SELECT CAST(string_agg(quote_literal(word), ' | ') AS tsquery) "
    "FROM unnest(CAST(:uncommon_{table} AS text[])) AS word)"
)
# Ranking reads every matching row, so each pass ranks at most this many
# matches: all of them for rare words (names, identifiers — where keywords
# matter most); for common words the semantic side carries the ranking.
KEYWORD_POOL = 400
# For an owner holding most of a table (OWNER_LEXEME_MAX_SHARE), a word
# found in more than this share of memories (by ANALYZE's statistics) finds
# no candidates on its own: it says little about which memory is meant, and
# its match set grows with the memory (93,000 rows to read for one query at
# a million memories). It still counts in every-word matches and in ranking.
# Any other owner's words are all looked through among their own rows, and
# weighed by their own counts: whether a memory is found never depends on
# what other accounts hold.
COMMON_WORD_SHARE = 0.02
# The owner lexeme narrows the full-text index to the owner's rows, at the
# price of reading the owner's whole posting list: cheap for most owners,
# but 40 ms for one with a million memories. An owner holding at least this
# share of the rows is instead filtered row by row (most matches are theirs).
OWNER_LEXEME_MAX_SHARE = 0.2
# HNSW candidates examined per search (pgvector's ef_search), at least the
# candidates wanted. Recall of the 40 nearest against exact search for the
# million-memory owner of bench/scale.py (1.3 million vectors in the index,
# warm): 100 → 0.941 (2.9 ms), 200 → 0.978 (4.9 ms), 250 → 0.986 (5.6 ms),
# 300 → 0.993 (6.5–7.4 ms). 250 keeps the 0.98 goal with room and the
# search within its 15 ms.
HNSW_EF_SEARCH = 250


def vector_candidates(
    db: Session,
    *,
    owner_id: uuid.UUID,
    model: str,
    vector: str,
    kinds: tuple[str, ...],
    k: int,
) -> list[tuple[str, int, float]]:
    """The owner's ``k`` vectors of ``model`` nearest ``vector``: (kind, id, cosine distance), nearest first."""
    dimensions = KNOWN_MODEL_DIMENSIONS.get(model)
    indexed = dimensions is not None and dimensions <= HNSW_MAX_DIMENSIONS
    how = vector_plan.plan(db, owner_id=owner_id, model=model, k=k, indexed=indexed)
    # Every type is every row (a constraint says so): no filter to test on
    # each of the owner's vectors.
    kind_filter = "" if set(kinds) == set(item_types.ITEM_MODELS) else " AND source_type = ANY(:kinds)"
    if how.through_index and dimensions is not None:
        db.execute(
            text(
                "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
                "set_config('hnsw.ef_search', :ef, true)"
            ),
            {"ef": str(max(HNSW_EF_SEARCH, min(k, 1000)))},
        )
        statement = text(_nearest_by_index(model, dimensions, kind_filter))
    else:
        statement = text(_NEAREST_EXACTLY.format(kind_filter=kind_filter))
    if kind_filter:
        statement = statement.bindparams(bindparam("kinds", type_=ARRAY(String)))
    params = {
        "vector": vector,
        "owner": owner_id,
        "kinds": list(kinds),
        "k": k,
        "model": model,
        "shortlist": how.shortlist,
    }
    rows = db.execute(statement, params).all()
    return sorted(((row[0], row[1], float(row[2])) for row in rows), key=lambda r: r[2])


def _nearest_by_index(model: str, dimensions: int, kind_filter: str) -> str:
    # Same expression and model literal as the partial HNSW index, so the
    # planner uses it; the literal comes from our own constant table.
    distance = f"{vector_expression(dimensions)} <=> CAST(:vector AS vector({dimensions}))"
    return (
        f"SELECT source_type, source_id, {distance} AS distance FROM embeddings "
        f"WHERE owner_id = :owner AND model = '{model}'{kind_filter} ORDER BY {distance} LIMIT :k"
    )


# Exact search of the owner's own vectors: every sign sketch ranked by
# Hamming distance (an index-only scan), then the shortlist measured exactly
# (its rows scoped to the owner too, as every query of memory is).
_NEAREST_EXACTLY = (
    "SELECT e.source_type, e.source_id, e.vector <=> CAST(:vector AS vector) AS distance "
    "FROM (SELECT embedding_id FROM embedding_sketches WHERE owner_id = :owner AND model = :model{kind_filter} "
    "ORDER BY signs <~> binary_quantize(CAST(:vector AS vector)) LIMIT :shortlist) AS near "
    "JOIN embeddings AS e ON e.id = near.embedding_id AND e.owner_id = :owner ORDER BY distance LIMIT :k"
)


def keyword_candidates(
    db: Session,
    *,
    owner_id: uuid.UUID,
    query: str,
    kinds: tuple[str, ...],
    k: int,
    min_confidence: float,
    domain: str | None,
    scope: Scope,
    also: list[tuple[str, int]],
    vector: tuple[str | None, str] | None,
) -> list[tuple[str, int, float, float | None]]:
    """The best ``k`` matches of any query word per type, and the keyword
    scores of the ``also`` items (the nearest vectors) that match any.

    With the query's ``vector`` (model, values), each match not among
    ``also`` comes with its cosine distance too, so every candidate is
    fused with both its scores, not with a zero for the side whose list it
    missed; else the distance is None."""
    words, held = _words_and_kinds_held(db, query=query, owner_id=owner_id, kinds=kinds)
    if not words or not held:  # stop words alone, or no memories of these types
        return []
    params: dict[str, Any] = {
        **scope.params,
        "owner": owner_id,
        "owner_lexeme": owner_lexeme(owner_id),
        "query": query,
        "k": k,
        "pool": KEYWORD_POOL,
        "min_confidence": min_confidence,
        "domain": domain,
    }
    # Passes that would find nothing (types the owner has none of, no
    # uncommon words, no nearest vectors of a type) are left out: planning
    # the statement costs about as much as running it.
    passes, weights = [], []
    for kind in held:
        table, confidence_column, domain_column = KEYWORD_TABLES[kind]
        shares = planner_stats.frequent_words(db, table, 0.0)
        big_owner = shares.get(params["owner_lexeme"], 0.0) >= OWNER_LEXEME_MAX_SHARE
        if not big_owner:
            # Only the owner's rows are read (the owner lexeme), so no word is
            # too common to look through, and nothing counted among other
            # accounts' memories may shape this one's results.
            shares = {}
        uncommon = [word for word in words if shares.get(word, 0.0) <= COMMON_WORD_SHARE]
        params[f"uncommon_{table}"] = uncommon
        rows = planner_stats.estimated_rows(db, table)
        weights_sql, weights_params = word_weights.cte(
            table, words, owner_id=owner_id, frequent=shares, rows=rows, big_owner=big_owner
        )
        weights.append(weights_sql)
        params.update(weights_params)
        owner_match = "" if big_owner else " && terms.q_owner"
        filters = ["owner_id = :owner"]
        if confidence_column and min_confidence > 0:
            filters.append(f"{confidence_column} >= :min_confidence")
        if domain:
            filters.append(f"{domain_column} = :domain")
        filters += scope.sql(kind)
        rank = (
            f"{word_weights.rank_sql(table)} "
            f"+ CASE WHEN search_tsv @@ terms.q_all THEN {search_fusion.ALL_TERMS_BOOST} ELSE 0 END AS rank"
        )
        source = f"FROM {table}, terms WHERE {' AND '.join(filters)}"
        for match in ["terms.q_all"] + ([UNCOMMON_WORDS.format(table=table)] if uncommon else []):
            pool = f"SELECT id, search_tsv {source} AND search_tsv @@ ({match}{owner_match}) LIMIT :pool"
            passes.append(
                f"(SELECT '{kind}' AS kind, id, {rank}, false AS measured "
                f"FROM ({pool}) AS matches, terms ORDER BY rank DESC LIMIT :k)"
            )
        params[f"also_{table}"] = [item_id for also_kind, item_id in also if also_kind == kind]
        if params[f"also_{table}"]:
            passes.append(
                f"(SELECT '{kind}' AS kind, id, {rank}, true AS measured {source} AND id = ANY(:also_{table}))"
            )
    distance = "NULL"
    if vector is not None:
        params["model"], params["vector"] = vector
        distance = (
            "CASE WHEN NOT measured THEN (SELECT vector <=> CAST(:vector AS vector) FROM embeddings "
            "WHERE owner_id = :owner AND model = :model AND source_type = hits.kind AND source_id = hits.id) END"
        )
    ctes = ", ".join([TERMS_CTE, *weights])
    statement = text(
        f"{ctes} SELECT kind, id, rank, {distance} FROM (SELECT kind, id, max(rank) AS rank, bool_or(measured) "
        f"AS measured FROM ({' UNION ALL '.join(passes)}) AS passes GROUP BY kind, id HAVING max(rank) > 0) AS hits"
    )
    return [
        (row[0], row[1], float(row[2]), None if row[3] is None else float(row[3]))
        for row in db.execute(statement, params)
    ]


def _words_and_kinds_held(
    db: Session, *, query: str, owner_id: uuid.UUID, kinds: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """The query's lexemes, and which of ``kinds`` the owner has any memory
    of (archived or not), in one round trip."""
    held = [f"EXISTS (SELECT 1 FROM {KEYWORD_TABLES[kind][0]} WHERE owner_id = :owner)" for kind in kinds]
    row = db.execute(
        text(f"SELECT {', '.join([word_weights.QUERY_LEXEMES, *held])}"), {"query": query, "owner": owner_id}
    ).one()
    return list(row[0]), [kind for kind, has_any in zip(kinds, row[1:], strict=True) if has_any]


def replies(db: Session, turn_ids: list[int]) -> dict[int, int]:
    """Each turn's reply: the next turn of its conversation (the unique
    index on a conversation's positions finds it)."""
    if not turn_ids:
        return {}
    rows = db.execute(
        text(
            "SELECT t.id, n.id FROM turns t JOIN turns n "
            "ON n.session_id = t.session_id AND n.position = t.position + 1 WHERE t.id = ANY(:ids)"
        ),
        {"ids": turn_ids},
    )
    return {turn: reply for turn, reply in rows}


def vector_literal(vector: list[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"
