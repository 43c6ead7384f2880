"""Cold storage: archive memories, bring them back, and find what could go.

An archived memory is kept whole (text, vectors, versions) but leaves search,
recall and bootstrap until it is rehydrated; ``memory_search(archived="only")``
searches the archive on its own. Nothing here deletes anything.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core import audit
from core.errors import InvalidInput
from memory import hybrid_search, item_types
from memory import validation as check
from memory.embeddings import EmbeddingProvider
from memory.items import load_item
from memory.scope import Scope

MAX_REFS = check.MAX_LIST_ITEMS


def archive(
    db: Session,
    *,
    owner_id: uuid.UUID,
    embedder: EmbeddingProvider,
    refs: list[str] | None = None,
    query: str | None = None,
    limit: int = 10,
) -> dict[str, Any]:
    """Archive the memories named by ``refs`` (all or none); with ``query``
    instead, only show what a search finds, to archive by ref next."""
    if (refs is None) == (query is None):
        raise InvalidInput("refs", "give refs to archive, or a query to preview (not both)")
    if query is not None:
        found = hybrid_search.search(db, owner_id=owner_id, embedder=embedder, query=query, limit=limit)
        return {
            "preview": found["results"],
            "next": "Nothing was archived. Call memory_archive with refs=[...] to archive the ones you choose.",
        }
    return _set_archived(db, owner_id=owner_id, refs=refs or [], archived=True)


def rehydrate(db: Session, *, owner_id: uuid.UUID, refs: list[str]) -> dict[str, Any]:
    """Bring archived memories back into search and recall (all or none)."""
    return _set_archived(db, owner_id=owner_id, refs=refs, archived=False)


def _set_archived(db: Session, *, owner_id: uuid.UUID, refs: list[str], archived: bool) -> dict[str, Any]:
    if not isinstance(refs, list) or not refs or len(refs) > MAX_REFS:
        raise InvalidInput("refs", f"must be a list of 1 to {MAX_REFS} refs like 'observation:42'")
    items = [load_item(db, owner_id=owner_id, ref=ref, field="refs") for ref in dict.fromkeys(refs)]
    changed, unchanged = [], []
    now = datetime.now(UTC)
    for item in items:
        ref = item_types.ref(item_types.kind_of(item), item.id)
        if (item.archived_at is not None) == archived:
            unchanged.append(ref)
            continue
        item.archived_at = now if archived else None
        changed.append(ref)
    if changed:
        event = audit.MEMORY_ARCHIVED if archived else audit.MEMORY_REHYDRATED
        audit.record_in_space(db, event, space=owner_id, targets={"refs": changed})
    verb = "archived" if archived else "rehydrated"
    result: dict[str, Any] = {verb: changed}
    if unchanged:
        result["already_" + verb] = unchanged
    return result


# What each kind of memory shows in a list, when it was last used (read,
# found, restated or changed; else recorded), and how sure it is (concepts and
# documents carry no confidence: they count as stored memories' default, 0.8).
KIND_SQL = {
    "observation": ("observations", "observation", "coalesce(last_accessed, last_seen_at, created_at)", "confidence"),
    "pattern": (
        "patterns",
        "pattern_name || ': ' || pattern_text",
        "coalesce(last_accessed, last_updated)",
        "confidence",
    ),
    "concept": ("concepts", "name", "coalesce(last_accessed, updated_at)", "0.8"),
    "document": ("documents", "title", "coalesce(last_accessed, created_at)", "0.8"),
    "turn": ("turns", "speaker || ': ' || text", "coalesce(last_accessed, created_at)", "0.8"),
}


def _current(kind: str) -> str:
    """What search and recall see by default: neither archived nor replaced."""
    return " AND ".join(Scope().sql(kind))


def candidates(db: Session, *, owner_id: uuid.UUID, limit: int = 20) -> dict[str, Any]:
    """Current memories of every kind that could go to the archive, stalest first.

    Staleness = days since last used × (2 − confidence) ÷ (1 + times read):
    old, unread, doubtful memories first; the ranking only suggests, nothing
    is archived."""
    limit = check.limit("limit", limit)
    parts = [
        f"SELECT '{kind}' AS kind, id, {shown} AS text, {confidence} AS confidence, access_count, created_at, "
        f"{last_used} AS last_used, extract(epoch FROM now() - {last_used}) / 86400.0 * (2 - {confidence}) "
        f"/ (1 + access_count) AS staleness FROM {table} WHERE owner_id = :owner AND {_current(kind)}"
        for kind, (table, shown, last_used, confidence) in KIND_SQL.items()
    ]
    rows = db.execute(
        text(" UNION ALL ".join(parts) + " ORDER BY staleness DESC, kind, id LIMIT :limit"),
        {"owner": owner_id, "limit": limit},
    ).all()
    return {
        "count": len(rows),
        "candidates": [
            {
                "ref": item_types.ref(row.kind, row.id),
                "text": item_types.shortened(row.text, 300),
                "confidence": float(row.confidence),
                "access_count": row.access_count,
                "recorded_at": row.created_at.isoformat(),
                "last_used": row.last_used.isoformat(),
                "staleness": round(float(row.staleness), 2),
            }
            for row in rows
        ],
    }


MAX_RETENTION_DAYS = 36_500


def apply_retention(db: Session) -> dict[uuid.UUID, int]:
    """Archive, in every space with a retention policy, the current memories
    of every kind not used for its number of days. Nothing is deleted.
    Returns how many were archived, by space."""
    counts: dict[uuid.UUID, int] = {}
    for kind, (table, _, last_used, _) in KIND_SQL.items():
        archived = db.execute(
            text(
                f"UPDATE {table} SET archived_at = now() "
                "WHERE owner_id IN (SELECT id FROM spaces WHERE retention_days IS NOT NULL) "
                f"AND {_current(kind)} AND {last_used} < now() - make_interval(days => "
                f"(SELECT s.retention_days FROM spaces AS s WHERE s.id = {table}.owner_id)) "
                "RETURNING owner_id"
            )
        ).scalars()
        for space in archived:
            counts[space] = counts.get(space, 0) + 1
    for space, count in counts.items():
        audit.record_in_space(db, audit.RETENTION_ARCHIVED, space=space, targets={"archived": count})
    return counts
