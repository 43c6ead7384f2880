"""Hybrid memory search: pgvector similarity fused with PostgreSQL full text.

Two candidate lists are drawn for the owner — nearest vectors (HNSW) and the
best full-text matches (GIN, any query word may match, ranked by how much
of the query's word weight they hold) — and fused by score: cosine
similarity and that keyword score, so an item found by both ranks highest.
Without an embedding provider, or when it fails, search runs on full text
alone and says so (``"mode": "keyword"``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import String

from core.errors import EmbeddingUnavailable, InvalidInput
from memory import access, item_types, planner_stats, vector_plan, word_weights
from memory import validation as check
from memory.embeddings import EmbeddingProvider
from memory.scope import Scope
from memory.search_indexes import HNSW_MAX_DIMENSIONS, KNOWN_MODEL_DIMENSIONS, vector_expression
from models import owner_lexeme

SEMANTIC_WEIGHT = 0.5  # of a hit's score; the rest is its keyword score (see _fuse)
MIN_CANDIDATES = 40
CANDIDATES_PER_RESULT = 4

KEYWORD_TABLES = {
    "observation": ("observations", "confidence", "domain"),
    "pattern": ("patterns", "confidence", "category"),
    "concept": ("concepts", None, "domain"),
    "document": ("documents", None, None),
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
BOUNDED_VECTOR_FACTOR = 4
MAX_HALF_LIFE_DAYS = 36_500
# Matches of every word outrank matches of some words.
ALL_TERMS_BOOST = 1.0
# Hits found by meaning alone below this cosine similarity are left out
# rather than padding the results. Measured with all-MiniLM-L6-v2 on short
# personal facts: unrelated memories score up to ~0.23 against a question
# (often through a shared word like "user"), related ones from ~0.3.
DEFAULT_MIN_SIMILARITY = 0.25


Items = dict[tuple[str, int], item_types.MemoryItem]


@dataclass
class Candidate:
    kind: str
    item_id: int
    score: float = 0.0
    similarity: float | None = None
    keyword_rank: float | None = None


@dataclass
class SearchTimings:
    embed_ms: float = 0.0
    database_ms: float = 0.0


def search(
    db: Session,
    *,
    owner_id: uuid.UUID,
    embedder: EmbeddingProvider,
    query: str,
    limit: int = 5,
    min_confidence: float = 0.0,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    domain: str | None = None,
    source_types: list[str] | None = None,
    include_history: bool = False,
    since: str | None = None,
    until: str | None = None,
    time_field: str = "recorded",
    archived: str = "exclude",
    recency_half_life_days: float | None = None,
    timings: SearchTimings | None = None,
) -> dict[str, Any]:
    query = check.required_text("query", query, max_chars=check.MAX_QUERY_CHARS)
    scope = Scope.parse(include_history, since, until, time_field, archived)
    if recency_half_life_days is not None and not 0 < recency_half_life_days <= MAX_HALF_LIFE_DAYS:
        raise InvalidInput("recency_half_life_days", f"must be more than 0 and at most {MAX_HALF_LIFE_DAYS}")
    limit = check.limit("limit", limit)
    min_confidence = check.unit_interval("min_confidence", min_confidence)
    min_similarity = check.unit_interval("min_similarity", min_similarity)
    domain = check.text("domain", domain, max_chars=check.MAX_NAME_CHARS, required=False)
    kinds = check.source_types("source_types", source_types)
    if domain:
        # Documents have no domain, so a domain filter can never match them.
        kinds = tuple(kind for kind in kinds if kind != "document")
    timings = timings or SearchTimings()

    query_vector, notice = _embed_query(embedder, query, timings)
    started = time.perf_counter()
    vector = None if query_vector is None else _vector_literal(query_vector)  # made once, sent by both sides
    wanted = max(MIN_CANDIDATES, limit * CANDIDATES_PER_RESULT)
    # Vectors know nothing of time or the archive: when a period or the
    # archive alone is asked for, draw more, since the rest are dropped when
    # the items are read.
    narrow = scope.bounded or scope.archived == "only"
    vector_k = wanted * BOUNDED_VECTOR_FACTOR if narrow else wanted
    candidates: dict[tuple[str, int], Candidate] = {}
    if vector is not None:
        for kind, item_id, distance in _vector_candidates(
            db, owner_id=owner_id, embedder=embedder, vector=vector, kinds=kinds, k=vector_k
        ):
            hit = candidates.setdefault((kind, item_id), Candidate(kind, item_id))
            hit.similarity = round(1.0 - distance, 4)
    for kind, item_id, keyword_rank, keyword_distance in _keyword_candidates(
        db,
        owner_id=owner_id,
        query=query,
        kinds=kinds,
        k=wanted,
        min_confidence=min_confidence,
        domain=domain,
        scope=scope,
        also=list(candidates),
        vector=None if vector is None else (embedder.model, vector),
    ):
        hit = candidates.setdefault((kind, item_id), Candidate(kind, item_id))
        hit.keyword_rank = round(keyword_rank, 4)
        if keyword_distance is not None:
            hit.similarity = round(1.0 - keyword_distance, 4)
    _fuse(candidates.values())
    ranked = _ranked(candidates.values())

    def load(window: list[Candidate]) -> Items:
        return _hydrate(
            db, owner_id=owner_id, candidates=window, min_confidence=min_confidence, domain=domain, scope=scope
        )

    every_item: Items = {}
    if recency_half_life_days is not None:
        every_item = load(ranked)  # every candidate's age rescores it
        ranked = _favour_recent(ranked, every_item, half_life_days=recency_half_life_days)
    floor = min_similarity if vector is not None else 0.0
    found, dropped = _strong_matches(
        ranked, floor=floor, limit=limit, load=(lambda _: every_item) if every_item else load
    )
    results = [_hit(item, candidate, floor=floor) for candidate, item in found]
    access.mark_accessed(db, owner_id=owner_id, hits=[(c.kind, c.item_id) for c, _ in found])
    timings.database_ms = (time.perf_counter() - started) * 1000
    response: dict[str, Any] = {
        "mode": "hybrid" if vector is not None else "keyword",
        "count": len(results),
        "dropped": dropped,
        "results": results,
    }
    if notice:
        response["notice"] = notice
    return response


def _fuse(candidates: Iterable[Candidate]) -> None:
    """Each candidate's score: its cosine similarity and its keyword score,
    weighted SEMANTIC_WEIGHT : 1 − it.

    Scores, not ranks: reciprocal rank fusion gave the 40th keyword match as
    much as the 40th neighbour however weak either was. The keyword score is
    the share of the query's word weight matched (word_weights), plus
    ALL_TERMS_BOOST when every word is, so it means the same in every search
    and is taken as it is, on a 0–1 scale: scaling it by the search's best
    made a match of a name alone count as fully as a match of the question.
    On LoCoMo (bench/recall_quality.py, development file) weighted words and
    this fusion lifted R@5 by 2.7 points on observations and 1.1 on turns
    over ranking by PostgreSQL's ts_rank_cd scaled by the best; scoring every
    candidate on both sides (the keyword side's ``also`` and its
    distances) by 2.0 and 5.5 more."""
    for candidate in candidates:
        keyword = (candidate.keyword_rank or 0.0) / (1.0 + ALL_TERMS_BOOST)
        candidate.score = SEMANTIC_WEIGHT * (candidate.similarity or 0.0) + (1 - SEMANTIC_WEIGHT) * keyword


def _ranked(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Best first; ties broken by type and id, so identical searches rank identically."""
    return sorted(candidates, key=lambda c: (-c.score, c.kind, c.item_id))


def _favour_recent(ranked: list[Candidate], items: Items, *, half_life_days: float) -> list[Candidate]:
    """Scale each score by 0.5 ** (age / half-life): a memory half_life_days
    old (by when it happened, else when it was recorded) counts half as much
    as one from today."""
    now = datetime.now(UTC)
    for candidate in ranked:
        item = items.get((candidate.kind, candidate.item_id))
        if item is None:
            continue
        when = getattr(item, "occurred_at", None) or item.created_at
        age_days = max(0.0, (now - when).total_seconds() / 86400)
        candidate.score *= 0.5 ** (age_days / half_life_days)
    return _ranked(ranked)


def _strong_matches(
    ranked: list[Candidate], *, floor: float, limit: int, load: Callable[[list[Candidate]], Items]
) -> tuple[list[tuple[Candidate, item_types.MemoryItem]], int]:
    """The best ``limit`` candidates whose memory is in the search's scope
    and clears the relevance floor, with their memories, and how many weaker
    ones ranked among them were left out.

    A candidate clears the floor when its meaning is close enough
    (similarity at or above it) or it contains every word of the query.
    Matching some words is not enough on its own: a word like "user" or a
    person's name appears in much of a memory and says little about
    relevance. Memories are read a window at a time in rank order, so a
    search reads about twice ``limit`` of them, not every candidate.
    """
    kept: list[tuple[Candidate, item_types.MemoryItem]] = []
    dropped = 0
    step = 2 * limit
    for start in range(0, len(ranked), step):
        window = ranked[start : start + step]
        items = load(window)
        for candidate in window:
            item = items.get((candidate.kind, candidate.item_id))
            if item is None:  # outside the scope, or gone
                continue
            all_words = candidate.keyword_rank is not None and candidate.keyword_rank >= ALL_TERMS_BOOST
            if floor == 0.0 or all_words or (candidate.similarity is not None and candidate.similarity >= floor):
                kept.append((candidate, item))
                if len(kept) == limit:
                    return kept, dropped
            else:
                dropped += 1
    return kept, dropped


def _hit(item: item_types.MemoryItem, candidate: Candidate, *, floor: float) -> dict[str, Any]:
    """One search result: what it is, its text once, and why it ranked:
    by meaning (similarity at the floor or above), by keywords, or both."""
    by_meaning = candidate.similarity is not None and candidate.similarity >= floor
    by_keywords = candidate.keyword_rank is not None
    matched = "both" if by_meaning and by_keywords else "keywords" if by_keywords else "meaning"
    hit = item_types.summary(item)
    hit.update(score=round(candidate.score, 4), matched=matched, similarity=candidate.similarity)
    if hit["text"] == hit["title"]:  # a concept without a description
        del hit["text"]
    return {name: value for name, value in hit.items() if value is not None}


def _embed_query(
    embedder: EmbeddingProvider, query: str, timings: SearchTimings
) -> tuple[list[float] | None, str | None]:
    if not embedder.enabled:
        return None, "No embedding provider is configured; results come from full-text search only."
    started = time.perf_counter()
    try:
        return embedder.embed([query])[0], None
    except EmbeddingUnavailable as exc:
        return None, f"Semantic search is unavailable right now ({exc.message}); results come from full text only."
    finally:
        timings.embed_ms = (time.perf_counter() - started) * 1000


def _vector_candidates(
    db: Session,
    *,
    owner_id: uuid.UUID,
    embedder: EmbeddingProvider,
    vector: str,
    kinds: tuple[str, ...],
    k: int,
) -> list[tuple[str, int, float]]:
    model = embedder.model or ""
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


def _keyword_candidates(
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
        "since": scope.since,
        "until": scope.until,
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
            f"+ CASE WHEN search_tsv @@ terms.q_all THEN {ALL_TERMS_BOOST} ELSE 0 END AS rank"
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


def _vector_literal(vector: list[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def _hydrate(
    db: Session,
    *,
    owner_id: uuid.UUID,
    candidates: list[Candidate],
    min_confidence: float,
    domain: str | None,
    scope: Scope,
) -> Items:
    """These candidates' memories that are in the search's scope, by (kind, id)."""
    by_kind: dict[str, list[int]] = {}
    for candidate in candidates:
        by_kind.setdefault(candidate.kind, []).append(candidate.item_id)
    items: Items = {}
    for kind, ids in by_kind.items():
        model_class = item_types.ITEM_MODELS[kind]
        found = db.scalars(select(model_class).where(model_class.owner_id == owner_id, model_class.id.in_(ids)))
        for item in cast(Iterable[item_types.MemoryItem], found):
            confidence = item_types.confidence(item)
            if confidence is not None and confidence < min_confidence:
                continue
            if domain and item_types.domain(item) != domain:
                continue
            if not scope.admits(item):
                continue
            items[(kind, item.id)] = item
    return items
