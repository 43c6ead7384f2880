"""Which memories were read, counted in memory and written in batches.

Search, recall and get mark what they return as accessed. Writing that on
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

from models import Observation

TRACKER_KEY = "memorygate.access_tracker"


# One statement for a whole batch: each row's count and latest read time.
FLUSH = text(
    "UPDATE observations AS o SET access_count = o.access_count + v.n, "
    "last_accessed = GREATEST(COALESCE(o.last_accessed, v.at), v.at) "
    "FROM unnest(CAST(:owners AS uuid[]), CAST(:ids AS bigint[]), CAST(:counts AS integer[]), "
    "CAST(:times AS timestamptz[])) AS v(owner_id, id, n, at) "
    "WHERE o.owner_id = v.owner_id AND o.id = v.id"
)


class AccessTracker:
    def __init__(self) -> None:
        # (owner, observation id) -> (reads, time of the latest)
        self._reads: dict[tuple[uuid.UUID, int], tuple[int, datetime]] = {}
        self._lock = threading.Lock()

    def record(self, owner_id: uuid.UUID, observation_ids: list[int]) -> None:
        now = datetime.now(UTC)
        with self._lock:
            for observation_id in observation_ids:
                count, _ = self._reads.get((owner_id, observation_id), (0, now))
                self._reads[(owner_id, observation_id)] = (count + 1, now)

    def flush(self, db: Session) -> int:
        """Write the collected reads in one statement and commit; returns how
        many were written. On failure they are kept for the next flush."""
        with self._lock:
            batch, self._reads = self._reads, {}
        if not batch:
            return 0
        try:
            db.execute(
                FLUSH,
                {
                    "owners": [str(owner) for owner, _ in batch],
                    "ids": [observation_id for _, observation_id in batch],
                    "counts": [count for count, _ in batch.values()],
                    "times": [moment for _, moment in batch.values()],
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


def mark_accessed(db: Session, *, owner_id: uuid.UUID, observation_ids: list[int]) -> None:
    """Count a read of these observations: in the session's tracker when it
    has one (no write now), else directly in the caller's transaction."""
    if not observation_ids:
        return
    tracker = db.info.get(TRACKER_KEY)
    if isinstance(tracker, AccessTracker):
        tracker.record(owner_id, observation_ids)
        return
    db.execute(
        update(Observation)
        .where(Observation.owner_id == owner_id, Observation.id.in_(observation_ids))
        .values(access_count=Observation.access_count + 1, last_accessed=func.now())
    )
