"""Rate-limit counters in PostgreSQL, shared by every process of a deployment.

``RATE_LIMIT_STORAGE_URI=database`` keeps the `limits` library's counters in
the ``rate_limit_counters`` table of the app's own database, so several
uvicorn workers or instances enforce one limit without another service to
run. The table is UNLOGGED: counters cost no WAL flush, and a database
crash merely forgets them (limits start afresh), which is the right trade
for numbers that expire within the hour anyway.

The strategy is the sliding window counter: two counters per key (this
window and the last), weighted by how much of the last window still
overlaps. A hit increments this window's counter and reads the last one in
one statement; if the weighted total is over the limit the transaction
rolls back, so a refused hit leaves nothing behind, even under races.
Expired rows are removed by ``prune``, run with the app's periodic jobs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from limits.storage import Storage
from limits.storage.base import SlidingWindowCounterSupport, TimestampedSlidingWindow
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

DATABASE_STORAGE = "database"

_UPSERT = (
    "INSERT INTO rate_limit_counters (key, count, expires_at) VALUES (:key, :amount, :expires_at) "
    "ON CONFLICT (key) DO UPDATE SET "
    "count = CASE WHEN rate_limit_counters.expires_at <= :now THEN :amount "
    "ELSE rate_limit_counters.count + :amount END, "
    "expires_at = CASE WHEN rate_limit_counters.expires_at <= :now THEN :expires_at "
    "ELSE rate_limit_counters.expires_at END "
    "RETURNING count"
)
_LIVE_COUNT = "SELECT count FROM rate_limit_counters WHERE key = :key AND expires_at > :now"


class DatabaseStorage(Storage, SlidingWindowCounterSupport, TimestampedSlidingWindow):
    """`limits` storage on one SQLAlchemy engine (sliding-window strategies)."""

    STORAGE_SCHEME = ["memorygate+database"]

    def __init__(self, engine: Callable[[], Engine]) -> None:
        super().__init__(wrap_exceptions=False)
        self._engine = engine  # the app's, once its database is connected

    @property
    def engine(self) -> Engine:
        return self._engine()

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self.engine.begin() as conn:
            params = {"key": key, "amount": amount, "now": now, "expires_at": now + expiry}
            return int(conn.execute(text(_UPSERT), params).scalar_one())

    def decr(self, key: str, amount: int = 1) -> int:
        """Give back ``amount`` (never below zero), as the memory storage does."""
        with self.engine.begin() as conn:
            found = conn.execute(
                text(
                    "UPDATE rate_limit_counters SET count = greatest(count - :amount, 0) "
                    "WHERE key = :key RETURNING count"
                ),
                {"key": key, "amount": amount},
            )
            return int(found.scalar() or 0)

    def get(self, key: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(_LIVE_COUNT), {"key": key, "now": time.time()}).scalar() or 0)

    def get_expiry(self, key: str) -> float:
        with self.engine.connect() as conn:
            found = conn.execute(text("SELECT expires_at FROM rate_limit_counters WHERE key = :key"), {"key": key})
            return float(found.scalar() or time.time())

    def clear(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM rate_limit_counters WHERE key = :key"), {"key": key})

    def check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with self.engine.begin() as conn:
            return conn.execute(text("DELETE FROM rate_limit_counters")).rowcount

    def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = time.time()
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        with self.engine.connect() as conn, conn.begin() as transaction:
            row = conn.execute(
                text(
                    f"WITH previous AS ({_LIVE_COUNT.replace(':key', ':previous_key')}), current AS ({_UPSERT}) "
                    "SELECT (SELECT count FROM previous), (SELECT count FROM current)"
                ),
                # The current counter lives two windows, so it can serve as the previous one.
                {
                    "key": current_key,
                    "previous_key": previous_key,
                    "amount": amount,
                    "now": now,
                    "expires_at": now + 2 * expiry,
                },
            ).one()
            previous, current = int(row[0] or 0), int(row[1])
            if math.floor(previous * _previous_weight(now, expiry, previous) + current) > limit:
                transaction.rollback()
                return False
        return True

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        now = time.time()
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT key, count FROM rate_limit_counters WHERE key IN (:previous, :current) "
                    "AND expires_at > :now"
                ),
                {"previous": previous_key, "current": current_key, "now": now},
            )
            counts: dict[str, int] = {row[0]: row[1] for row in rows}
        previous, current = int(counts.get(previous_key, 0)), int(counts.get(current_key, 0))
        previous_ttl = _previous_weight(now, expiry, previous) * expiry
        current_ttl = (1 - (now / expiry) % 1) * expiry + expiry
        return previous, previous_ttl, current, current_ttl

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        for window_key in self.sliding_window_keys(key, expiry, time.time()):
            self.clear(window_key)


def _previous_weight(now: float, expiry: int, previous: int) -> float:
    """The share of the last window that still overlaps the sliding one."""
    return 0.0 if previous == 0 else 1 - ((now - expiry) / expiry) % 1


def prune(engine: Engine) -> int:
    """Delete counters that have expired; returns how many."""
    with engine.begin() as conn:
        return conn.execute(
            text("DELETE FROM rate_limit_counters WHERE expires_at <= :now"), {"now": time.time()}
        ).rowcount
