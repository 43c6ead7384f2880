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
from memory.observations import load_item

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
        audit.record(db, event, actor=owner_id, targets={"refs": changed})
    verb = "archived" if archived else "rehydrated"
    result: dict[str, Any] = {verb: changed}
    if unchanged:
        result["already_" + verb] = unchanged
    return result


# Staleness: days without use, weighed up by doubt and down by use.
STALENESS_SQL = (
    "extract(epoch FROM now() - coalesce(last_accessed, last_seen_at, created_at)) / 86400.0 "
    "* (2 - confidence) / (1 + access_count)"
)


def candidates(db: Session, *, owner_id: uuid.UUID, limit: int = 20) -> dict[str, Any]:
    """Current observations that could go to the archive, stalest first.

    Staleness = days since last used (read, found, or restated; else since
    recorded) × (2 − confidence) ÷ (1 + times read): old, unread, doubtful
    memories first; the ranking only suggests, nothing is archived."""
    limit = check.limit("limit", limit)
    rows = db.execute(
        text(
            f"SELECT id, observation, confidence, access_count, created_at, "
            f"coalesce(last_accessed, last_seen_at, created_at) AS last_used, {STALENESS_SQL} AS staleness "
            "FROM observations WHERE owner_id = :owner AND archived_at IS NULL AND superseded_by_id IS NULL "
            "ORDER BY staleness DESC, id LIMIT :limit"
        ),
        {"owner": owner_id, "limit": limit},
    ).all()
    return {
        "count": len(rows),
        "candidates": [
            {
                "ref": item_types.ref("observation", row.id),
                "text": item_types.shortened(row.observation, 300),
                "confidence": row.confidence,
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
    """Archive, for every account with a retention policy, the current
    observations not used (read, found or restated) for its number of days.
    Nothing is deleted. Returns how many were archived, by account."""
    archived = db.execute(
        text(
            "UPDATE observations AS o SET archived_at = now() FROM users AS u "
            "WHERE o.owner_id = u.id AND u.retention_days IS NOT NULL AND o.archived_at IS NULL "
            "AND o.superseded_by_id IS NULL AND coalesce(o.last_accessed, o.last_seen_at, o.created_at) "
            "< now() - make_interval(days => u.retention_days) "
            "RETURNING o.owner_id"
        )
    ).scalars()
    counts: dict[uuid.UUID, int] = {}
    for owner in archived:
        counts[owner] = counts.get(owner, 0) + 1
    for owner, count in counts.items():
        audit.record(db, audit.RETENTION_ARCHIVED, actor=owner, targets={"archived": count})
    return counts
