"""Hybrid memory search: pgvector similarity fused with PostgreSQL full text.

Two candidate lists are drawn for the owner — nearest vectors (HNSW) and the
best full-text matches (GIN, any query word may match, ranked by how much
of the query's word weight they hold) — and fused by score: cosine
similarity and that keyword score, so an item found by both ranks highest.
Without an embedding provider, or when it fails, search runs on full text
alone and says so (``"mode": "keyword"``).

This module is the flow: checks, the query's vector, the period it names
(``query_dates``) and the other names of the concepts it names
(``name_variants``), the candidates (``search_candidates``, the SQL), their
ranking (``search_fusion``, pure), and reading the memories a window at a
time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from core import audit
from core.errors import EmbeddingUnavailable, InvalidInput
from memory import (
    access,
    concept_statements,
    item_types,
    name_variants,
    query_dates,
    search_candidates,
    search_fusion,
    spaces,
)
from memory import validation as check
from memory.embeddings import EmbeddingProvider
from memory.scope import Scope

MIN_CANDIDATES = 40
CANDIDATES_PER_RESULT = 4

BOUNDED_VECTOR_FACTOR = 4
MAX_HALF_LIFE_DAYS = 36_500
STATEMENTS_SHOWN = 10


@dataclass
class SearchTimings:
    embed_ms: float = 0.0
    database_ms: float = 0.0


def search(
    db: Session,
    *,
    owner_id: spaces.Owners,
    embedder: EmbeddingProvider,
    query: str,
    limit: int = 5,
    min_confidence: float = 0.0,
    min_similarity: float | None = None,
    domain: str | None = None,
    source_types: list[str] | None = None,
    include_history: bool = False,
    since: str | None = None,
    until: str | None = None,
    time_field: str = "recorded",
    archived: str = "exclude",
    recency_half_life_days: float | None = None,
    timings: SearchTimings | None = None,
    count_reads: bool = True,
    explain: bool = False,
    as_of: str | None = None,
    changed_since: str | None = None,
    viewer: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The hits for ``query`` in the space ``owner_id`` (or in several: each
    is searched as an owner of its own, every candidate is ranked together,
    and each hit names its space); each counts as read (``count_reads``)
    unless the caller only composes from them (the brief)."""
    owners = spaces.owners(owner_id)
    query = check.required_text("query", query, max_chars=check.MAX_QUERY_CHARS)
    scope = Scope.parse(include_history, since, until, time_field, archived, as_of, changed_since)
    if recency_half_life_days is not None and not 0 < recency_half_life_days <= MAX_HALF_LIFE_DAYS:
        raise InvalidInput("recency_half_life_days", f"must be more than 0 and at most {MAX_HALF_LIFE_DAYS}")
    limit = check.limit("limit", limit)
    min_confidence = check.unit_interval("min_confidence", min_confidence)
    # Hits found by meaning alone below the floor are left out rather than
    # padding the results; by default, the floor measured for the model.
    min_similarity = check.unit_interval(
        "min_similarity", embedder.min_similarity if min_similarity is None else min_similarity
    )
    domain = check.text("domain", domain, max_chars=check.MAX_NAME_CHARS, required=False)
    kinds = check.source_types("source_types", source_types)
    if domain:
        # Documents and turns have no domain, so a domain filter can never match them.
        kinds = tuple(kind for kind in kinds if search_candidates.KEYWORD_TABLES[kind][2])
    timings = timings or SearchTimings()

    query_vector, notice = _embed_query(embedder, query, timings)
    started = time.perf_counter()
    vector = (
        None if query_vector is None else search_candidates.vector_literal(query_vector)
    )  # made once, sent by both sides
    wanted = max(MIN_CANDIDATES, limit * CANDIDATES_PER_RESULT)
    # Vectors know nothing of time or the archive: when a period or the
    # archive alone is asked for, draw more, since the rest are dropped when
    # the items are read; when the query names a period, more reach it.
    period = query_dates.named_period(query)
    narrow = scope.bounded or scope.archived == "only" or period is not None
    vector_k = wanted * BOUNDED_VECTOR_FACTOR if narrow else wanted
    # The query said with a named concept's other names: their words are matched too.
    other_names = name_variants.variants(db, owners=owners, query=query)
    candidates: dict[tuple[str, int], search_fusion.Candidate] = {}
    for owner in owners:
        found_by_meaning = []
        if vector is not None:
            for kind, item_id, distance in search_candidates.vector_candidates(
                db, owner_id=owner, model=embedder.model or "", vector=vector, kinds=kinds, k=vector_k
            ):
                hit = candidates.setdefault((kind, item_id), search_fusion.Candidate(kind, item_id))
                hit.similarity = round(1.0 - distance, 4)
                found_by_meaning.append((kind, item_id))
        for said in (query, *other_names):
            for kind, item_id, keyword_rank, keyword_distance in search_candidates.keyword_candidates(
                db,
                owner_id=owner,
                query=said,
                kinds=kinds,
                k=wanted,
                min_confidence=min_confidence,
                domain=domain,
                scope=scope,
                also=found_by_meaning,
                vector=None if vector is None else (embedder.model, vector),
            ):
                hit = candidates.setdefault((kind, item_id), search_fusion.Candidate(kind, item_id))
                hit.keyword_rank = max(hit.keyword_rank or 0.0, round(keyword_rank, 4))
                if keyword_distance is not None:
                    hit.similarity = round(1.0 - keyword_distance, 4)
    search_fusion.fuse(candidates.values(), semantic_weight=embedder.semantic_weight)
    ranked = search_fusion.ranked_best_first(candidates.values())
    floor = min_similarity if vector is not None else 0.0
    asking = search_fusion.matching_turns(ranked, floor=floor)
    if asking:
        answered = search_candidates.replies(db, [turn.item_id for turn in asking])
        search_fusion.follow_replies(candidates, asking, answered)
        ranked = search_fusion.ranked_best_first(candidates.values())

    def load(window: list[search_fusion.Candidate]) -> search_fusion.Items:
        return _hydrate(db, owners=owners, candidates=window, min_confidence=min_confidence, domain=domain, scope=scope)

    # When each candidate happened rescores it: read them all.
    every_item = load(ranked) if period is not None or recency_half_life_days is not None else {}
    if period is not None:
        ranked = search_fusion.favour_period(ranked, every_item, period)
    if recency_half_life_days is not None:
        ranked = search_fusion.favour_recent(ranked, every_item, half_life_days=recency_half_life_days)
    found, dropped = search_fusion.strong_matches(
        ranked, floor=floor, limit=limit, load=(lambda _: every_item) if every_item else load
    )
    results = [
        search_fusion.hit(item, candidate, floor=floor, explain=explain, semantic_weight=embedder.semantic_weight)
        for candidate, item in found
    ]
    _add_statements(db, results)
    stored_by = spaces.storers(db, [item for _, item in found])
    for result, (_, item) in zip(results, found, strict=True):
        member = getattr(item, "stored_by", None)
        if member is not None:  # a member of a shared space stored it
            result["stored_by"] = stored_by[member]
    if len(owners) > 1:
        space_names = spaces.names(db, owners, viewer)
        for result, (_, item) in zip(results, found, strict=True):
            result["space"] = space_names[item.owner_id]
    if count_reads:
        for owner in owners:
            read = [(c.kind, c.item_id) for c, item in found if item.owner_id == owner]
            access.mark_accessed(db, owner_id=owner, hits=read)
    timings.database_ms = (time.perf_counter() - started) * 1000
    response: dict[str, Any] = {
        "mode": "hybrid" if vector is not None else "keyword",
        "count": len(results),
        "dropped": dropped,
        "results": results,
    }
    if notice:
        response["notice"] = notice
    if period is not None:
        response["period"] = period.describe()
    if scope.changed_since is not None:
        forgotten = [audit.forgotten_since(db, space=owner, since=scope.changed_since) for owner in owners]
        response["forgotten"] = [ref for each in forgotten for ref, _ in each]
    return response


def _add_statements(db: Session, results: list[dict[str, Any]]) -> None:
    """A concept's hit says what its relationships say (they are part of what
    it matched by), the first STATEMENTS_SHOWN of them."""
    concept_ids = {int(hit["ref"].split(":")[1]): hit for hit in results if hit["type"] == "concept"}
    for concept_id, said in concept_statements.statements(db, concept_ids).items():
        if said:
            concept_ids[concept_id]["statements"] = said[:STATEMENTS_SHOWN]


def _embed_query(
    embedder: EmbeddingProvider, query: str, timings: SearchTimings
) -> tuple[list[float] | None, str | None]:
    if not embedder.enabled:
        return None, "No embedding provider is configured; results come from full-text search only."
    started = time.perf_counter()
    try:
        return embedder.embed_query(query), None
    except EmbeddingUnavailable as exc:
        return None, f"Semantic search is unavailable right now ({exc.message}); results come from full text only."
    finally:
        timings.embed_ms = (time.perf_counter() - started) * 1000


def _hydrate(
    db: Session,
    *,
    owners: tuple[uuid.UUID, ...],
    candidates: list[search_fusion.Candidate],
    min_confidence: float,
    domain: str | None,
    scope: Scope,
) -> search_fusion.Items:
    """These candidates' memories that are in the search's scope, by (kind, id)."""
    by_kind: dict[str, list[int]] = {}
    for candidate in candidates:
        by_kind.setdefault(candidate.kind, []).append(candidate.item_id)
    items: search_fusion.Items = {}
    for kind, ids in by_kind.items():
        model_class = item_types.ITEM_MODELS[kind]
        in_scope = [sql_text(condition) for condition in scope.sql(kind)]  # the conditions recall applies
        found = db.scalars(
            select(model_class)
            .where(model_class.owner_id.in_(owners), model_class.id.in_(ids), *in_scope)
            .params(**scope.params)
        )
        for item in cast(Iterable[item_types.MemoryItem], found):
            confidence = item_types.confidence(item)
            if confidence is not None and confidence < min_confidence:
                continue
            if domain and item_types.domain(item) != domain:
                continue
            items[(kind, item.id)] = item
    return items
