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
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, update
from sqlalchemy.orm import Session

from models import Observation

TRACKER_KEY = "memorygate.access_tracker"


class AccessTracker:
    def __init__(self) -> None:
        self._counts: Counter[tuple[uuid.UUID, int]] = Counter()
        self._last: dict[tuple[uuid.UUID, int], datetime] = {}
        self._lock = threading.Lock()

    def record(self, owner_id: uuid.UUID, observation_ids: list[int]) -> None:
        now = datetime.now(UTC)
        with self._lock:
            for observation_id in observation_ids:
                self._counts[(owner_id, observation_id)] += 1
                self._last[(owner_id, observation_id)] = now

    def pending(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def flush(self, db: Session) -> int:
        """Write the collected counts (one UPDATE per distinct count) and
        commit; returns how many accesses were written. On failure they are
        kept for the next flush."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
            last, self._last = self._last, {}
        if not counts:
            return 0
        try:
            by_count: dict[int, list[tuple[uuid.UUID, int]]] = {}
            for key, count in counts.items():
                by_count.setdefault(count, []).append(key)
            for count, keys in by_count.items():
                for owner_id in {owner for owner, _ in keys}:
                    ids = [observation_id for owner, observation_id in keys if owner == owner_id]
                    db.execute(
                        update(Observation)
                        .where(Observation.owner_id == owner_id, Observation.id.in_(ids))
                        .values(
                            access_count=Observation.access_count + count,
                            last_accessed=func.greatest(
                                func.coalesce(Observation.last_accessed, max(last[k] for k in keys)),
                                max(last[k] for k in keys),
                            ),
                        )
                    )
            db.commit()
        except BaseException:
            db.rollback()
            with self._lock:
                self._counts.update(counts)
                for key, moment in last.items():
                    self._last[key] = max(moment, self._last.get(key, moment))
            raise
        return sum(counts.values())


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
