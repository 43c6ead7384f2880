"""Which memories were read, counted in memory and written in batches.

Search, recall and get mark the memories they return (of every kind) as accessed. Writing that on
the request path would make every read a write (an UPDATE and a WAL flush at
commit); instead an ``AccessTracker`` that the app attaches to its sessions
collects the counts, and a background job writes them in one statement per
flush (and once more at shutdown). Sessions without a tracker (commands,
tests) write at once.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, text, update
from sqlalchemy.orm import Session

from memory import item_types

TRACKER_KEY = "memorygate.access_tracker"

# One statement a kind for a whole batch: each row's count and latest read time.
FLUSH = (
    "UPDATE {table} AS m SET access_count = m.access_count + v.n, "
    "last_accessed = GREATEST(COALESCE(m.last_accessed, v.at), v.at) "
    "FROM unnest(CAST(:owners AS uuid[]), CAST(:ids AS bigint[]), CAST(:counts AS integer[]), "
    "CAST(:times AS timestamptz[])) AS v(owner_id, id, n, at) "
    "WHERE m.owner_id = v.owner_id AND m.id = v.id"
)

Read = tuple[uuid.UUID, str, int]  # owner, kind, id


class AccessTracker:
    def __init__(self) -> None:
        # (owner, kind, id) -> (reads, time of the latest)
        self._reads: dict[Read, tuple[int, datetime]] = {}
        self._lock = threading.Lock()

    def record(self, owner_id: uuid.UUID, hits: list[tuple[str, int]]) -> None:
        now = datetime.now(UTC)
        with self._lock:
            for kind, item_id in hits:
                count, _ = self._reads.get((owner_id, kind, item_id), (0, now))
                self._reads[(owner_id, kind, item_id)] = (count + 1, now)

    def flush(self, db: Session) -> int:
        """Write the collected reads (a statement per kind) and commit; returns
        how many were written. On failure they are kept for the next flush."""
        with self._lock:
            batch, self._reads = self._reads, {}
        if not batch:
            return 0
        try:
            for kind, model in item_types.ITEM_MODELS.items():
                reads = [(key, value) for key, value in batch.items() if key[1] == kind]
                if reads:
                    db.execute(
                        text(FLUSH.format(table=model.__tablename__)),
                        {
                            "owners": [str(owner) for (owner, _, _), _ in reads],
                            "ids": [item_id for (_, _, item_id), _ in reads],
                            "counts": [count for _, (count, _) in reads],
                            "times": [moment for _, (_, moment) in reads],
                        },
                    )
            db.commit()
        except BaseException:
            db.rollback()
            with self._lock:
                for key, (count, moment) in batch.items():
                    newer_count, newer = self._reads.get(key, (0, moment))
                    self._reads[key] = (count + newer_count, max(moment, newer))
            raise
        return sum(count for count, _ in batch.values())


def mark_accessed(db: Session, *, owner_id: uuid.UUID, hits: list[tuple[str, int]]) -> None:
    """Count a read of these memories ((kind, id) pairs): in the session's
    tracker when it has one (no write now), else in the caller's transaction."""
    if not hits:
        return
    tracker = db.info.get(TRACKER_KEY)
    if isinstance(tracker, AccessTracker):
        tracker.record(owner_id, hits)
        return
    for kind, model in item_types.ITEM_MODELS.items():
        ids = [item_id for hit_kind, item_id in hits if hit_kind == kind]
        if ids:
            db.execute(
                update(model)
                .where(model.owner_id == owner_id, model.id.in_(ids))
                .values(access_count=model.access_count + 1, last_accessed=func.now())
            )
