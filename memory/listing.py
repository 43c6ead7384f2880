"""Memories as a person browses them on the account page: every type in one
list, newest first, filtered by type, domain, period (stored or happened)
and the archive; and one memory with everything around it.

Reading here counts as no use: a person looking at their memory is not an
agent relying on it, so "last used" keeps meaning what agents did.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from memory import hybrid_search, item_types, items, knowledge, search_candidates, spaces
from memory import validation as check
from memory.embeddings import EmbeddingProvider
from memory.scope import TABLES, Scope
from models import Observation, Turn

KINDS = tuple(item_types.ITEM_MODELS)
PAGE_SIZE = 25


def browse(
    db: Session,
    *,
    owner_id: spaces.Owners,
    kind: str = "",
    domain: str = "",
    since: str | None = None,
    until: str | None = None,
    time_field: str = "recorded",
    archived: str = "exclude",
    offset: int = 0,
    limit: int = PAGE_SIZE,
    viewer: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A page of memories, newest first; each with its ref, type, text, domain
    and times (over several spaces, its space's name as ``viewer`` says it)."""
    if kind and kind not in KINDS:
        raise InvalidInput("kind", f"must be one of {', '.join(KINDS)}")
    scope = Scope.parse(False, since or None, until or None, time_field, archived)
    domain = check.text("domain", domain, max_chars=check.MAX_NAME_CHARS, required=False) or ""
    kinds = [kind] if kind else [k for k in KINDS if not domain or search_candidates.KEYWORD_TABLES[k][2]]
    newest: list[tuple[Any, str, int]] = []
    for each in kinds:
        model_class = item_types.ITEM_MODELS[each]
        query = select(model_class.created_at, model_class.id).where(
            model_class.owner_id.in_(spaces.owners(owner_id)), *[sql_text(condition) for condition in scope.sql(each)]
        )
        domain_column = search_candidates.KEYWORD_TABLES[each][2]
        if domain and domain_column:
            query = query.where(getattr(model_class, domain_column) == domain)
        query = query.params(**scope.params).order_by(model_class.created_at.desc(), model_class.id.desc())
        newest += [(when, each, item_id) for when, item_id in db.execute(query.limit(offset + limit + 1))]
    newest.sort(key=lambda row: (row[0], row[2]), reverse=True)
    page = newest[offset : offset + limit]
    shown = [_summary(item_types.get(db, each, item_id)) for _, each, item_id in page]
    owners = spaces.owners(owner_id)
    space_names = spaces.names(db, owners, viewer) if len(owners) > 1 else {}  # over several, each names its space
    for row in shown:
        if row:
            row["space"] = space_names.get(row.pop("owner_id"))
    return {"memories": [row for row in shown if row], "offset": offset, "has_more": len(newest) > offset + limit}


def page_for_app(
    db: Session,
    *,
    owner_id: spaces.Owners,
    viewer: uuid.UUID,
    embedder: EmbeddingProvider,
    query: str | None = None,
    type: str | None = None,
    archived: str = "exclude",
    page: int = 0,
) -> dict[str, Any]:
    """A page of ``memory_browse``: the newest memories, or with ``query`` the
    best matches (one page of them). Looking counts as no use, as on the page."""
    if query and query.strip():
        found = hybrid_search.search(
            db,
            owner_id=owner_id,
            embedder=embedder,
            query=query,
            limit=PAGE_SIZE,
            source_types=[type] if type else None,
            archived=archived,
            count_reads=False,
            viewer=viewer,
        )
        hits = [{**_listed(hit), "at": hit["recorded_at"]} for hit in found["results"]]
        return {"memories": hits, "page": 0, "more": False}
    listed = browse(db, owner_id=owner_id, kind=type or "", archived=archived, offset=page * PAGE_SIZE, viewer=viewer)
    rows = [
        {
            **_listed(row),
            "at": row["created_at"].isoformat(),
            "archived": row["archived"] or None,  # said only when so
            "replaced": row["replaced"] or None,
        }
        for row in listed["memories"]
    ]
    return {"memories": rows, "page": page, "more": listed["has_more"]}


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "ref": row["ref"],
        "type": row["type"],
        "title": row.get("title"),
        "text": item_types.shortened(row["text"] or ""),
        "domain": row.get("domain"),
        "space": row.get("space"),
    }


def _summary(item: item_types.MemoryItem | None) -> dict[str, Any] | None:
    if item is None:
        return None
    kind = item_types.kind_of(item)
    return {
        "ref": item_types.ref(kind, item.id),
        "type": kind,
        "title": item_types.title(item),
        "text": item_types.content(item),
        "domain": item_types.domain(item),
        "created_at": item.created_at,
        "occurred_at": getattr(item, "occurred_at", None),
        "archived": item.archived_at is not None,
        "replaced": getattr(item, "superseded_by_id", None) is not None,
        "owner_id": item.owner_id,
    }


def memory(db: Session, *, owner_id: uuid.UUID, ref: str) -> dict[str, Any]:
    """One memory whole: its fields, its versions, the concepts it names,
    the conversation it came from, and whether it is archived."""
    item = items.load_item(db, owner_id=owner_id, ref=ref)
    kind = item_types.kind_of(item)
    shown = item_types.full(item, item_types.valid_until(db, kind, [item]).get(item.id))
    shown["archived"] = item.archived_at is not None
    if kind in ("observation", "pattern"):
        shown["versions"] = items.versions(db, owner_id=owner_id, item=item)  # type: ignore[arg-type]
    shown["concepts"] = _concepts_named(db, owner_id=owner_id, item=item)
    if isinstance(item, Observation | Turn) and item.session is not None:
        shown["conversation"] = {
            "id": item.session.conversation_id,
            "title": item.session.title,
            "kept": db.scalar(select(Turn.id).where(Turn.session_id == item.session_id).limit(1)) is not None,
        }
    return shown


def _concepts_named(db: Session, *, owner_id: uuid.UUID, item: item_types.MemoryItem) -> list[dict[str, str]]:
    """The owner's concepts the memory names (by name or alias, as whole words), but itself."""
    text = item_types.content(item)
    found = knowledge.concepts_named_in(db, owner_id=owner_id, texts=[text])
    lowered = text.lower()
    named = {
        concept_id
        for name, concept_id in found.items()
        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", lowered)
        and not (item_types.kind_of(item) == "concept" and concept_id == item.id)
    }
    concepts = [item_types.get(db, "concept", concept_id) for concept_id in sorted(named)]
    return [{"ref": item_types.ref("concept", c.id), "name": c.name} for c in concepts if c is not None]  # type: ignore[union-attr]


# A timeline longer than this many periods shows its most recent ones.
MAX_PERIODS = 120
# Up to this many days from first to last memory are shown day by day.
DAYS_SHOWN_AS_DAYS = 62
TOP_DOMAINS = 6


def timeline(db: Session, *, owner_id: spaces.Owners, time_field: str = "recorded", by: str = "kind") -> dict[str, Any]:
    """How many current memories fall in each month (each day, when they
    span two months or less), split by type or by domain: the bars of the
    account page's timeline, each a period the browser can list."""
    if by not in ("kind", "domain"):
        raise InvalidInput("by", "must be 'kind' or 'domain'")
    scope = Scope.parse(False, None, None, time_field, "exclude")
    rows: list[tuple[Any, str, int]] = []
    for kind, table in TABLES.items():
        when = f"{table}.created_at" if time_field == "recorded" else f"{table}.occurred_at"
        if time_field == "occurred" and kind not in ("observation", "turn"):
            continue
        domain_column = search_candidates.KEYWORD_TABLES[kind][2]
        label = (
            f"{table}.{domain_column}" if by == "domain" and domain_column else f"'{kind}'" if by == "kind" else "NULL"
        )
        conditions = " AND ".join([f"{table}.owner_id = ANY(:owners)", f"{when} IS NOT NULL", *scope.sql(kind)])
        statement = sql_text(
            f"SELECT date_trunc('day', {when} AT TIME ZONE 'UTC') AS day, {label} AS label, count(*) "
            f"FROM {table} WHERE {conditions} GROUP BY 1, 2"
        )
        rows += [
            (day.date(), label, count)
            for day, label, count in db.execute(statement, {"owners": list(spaces.owners(owner_id)), **scope.params})
        ]
    if not rows:
        return {"unit": "month", "periods": [], "labels": []}
    first, last = min(row[0] for row in rows), max(row[0] for row in rows)
    unit = "day" if (last - first).days <= DAYS_SHOWN_AS_DAYS else "month"
    labels = _labels(rows, by)
    periods: dict[date, dict[str, int]] = {}
    for day, label, count in rows:
        start = day if unit == "day" else day.replace(day=1)
        shown = label if label in labels else "other" if label else "no domain"
        counts = periods.setdefault(start, {})
        counts[shown] = counts.get(shown, 0) + count
    starts = _every_period(first, last, unit)[-MAX_PERIODS:]
    return {
        "unit": unit,
        "labels": [
            *labels,
            *(["other"] if any("other" in c for c in periods.values()) else []),
            *(["no domain"] if any("no domain" in c for c in periods.values()) else []),
        ],
        "periods": [
            {
                "start": start,
                "end": _period_end(start, unit),
                "counts": periods.get(start, {}),
                "total": sum(periods.get(start, {}).values()),
            }
            for start in starts
        ],
    }


def _labels(rows: list[tuple[Any, str, int]], by: str) -> list[str]:
    """The types in their usual order, or the most used domains."""
    if by == "kind":
        return [kind for kind in KINDS if any(label == kind for _, label, _ in rows)]
    totals: dict[str, int] = {}
    for _, label, count in rows:
        if label:
            totals[label] = totals.get(label, 0) + count
    return sorted(totals, key=lambda label: (-totals[label], label))[:TOP_DOMAINS]


def _every_period(first: date, last: date, unit: str) -> list[date]:
    if unit == "day":
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]
    starts, month = [], first.replace(day=1)
    while month <= last:
        starts.append(month)
        month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return starts


def _period_end(start: date, unit: str) -> date:
    if unit == "day":
        return start
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


# The graph shows at most this many concepts, the most connected first.
MAX_GRAPH_CONCEPTS = 5_000
GRAPH_TEXT_CHARS = 300
GRAPH_ALIASES = 10


def concept_graph(db: Session, *, owner_id: spaces.Owners, limit: int = MAX_GRAPH_CONCEPTS) -> dict[str, Any]:
    """The owner's current concepts and the relationships between them, for
    the account page's graph: the ``limit`` most connected concepts (then the
    newest), each with its type, description, aliases and degree."""
    nodes = db.execute(
        sql_text(
            "SELECT c.id, c.name, c.type, left(coalesce(c.description, ''), :chars) AS description, "
            "(SELECT count(*) FROM concept_relationships r WHERE r.owner_id = ANY(:owners) "
            " AND (r.from_concept_id = c.id OR r.to_concept_id = c.id)) AS degree, "
            "(SELECT coalesce(array_agg(a.alias ORDER BY a.alias), '{}') FROM "
            " (SELECT alias FROM concept_aliases WHERE owner_id = ANY(:owners) AND concept_id = c.id "
            "  ORDER BY alias LIMIT :aliases) AS a) AS aliases "
            "FROM concepts c WHERE c.owner_id = ANY(:owners) AND c.archived_at IS NULL "
            "ORDER BY degree DESC, c.id DESC LIMIT :limit"
        ),
        {
            "owners": list(spaces.owners(owner_id)),
            "chars": GRAPH_TEXT_CHARS,
            "aliases": GRAPH_ALIASES,
            "limit": limit + 1,
        },
    ).all()
    shown = nodes[:limit]
    ids = [row.id for row in shown]
    edges = db.execute(
        sql_text(
            "SELECT from_concept_id, to_concept_id, rel_type FROM concept_relationships "
            "WHERE owner_id = ANY(:owners) AND from_concept_id = ANY(:ids) AND to_concept_id = ANY(:ids) ORDER BY id"
        ),
        {"owners": list(spaces.owners(owner_id)), "ids": ids},
    ).all()
    return {
        "nodes": [
            {
                "id": f"concept:{row.id}",
                "name": row.name,
                "type": row.type,
                "description": row.description,
                "aliases": list(row.aliases),
                "degree": row.degree,
            }
            for row in shown
        ],
        "edges": [
            {
                "source": f"concept:{edge.from_concept_id}",
                "target": f"concept:{edge.to_concept_id}",
                "type": edge.rel_type,
            }
            for edge in edges
        ],
        "truncated": len(nodes) > limit,
    }
