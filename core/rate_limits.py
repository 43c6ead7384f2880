"""Rate limits on the `limits` library, shared across instances when asked.

Storage is in-process by default (``memory://``); ``RATE_LIMIT_STORAGE_URI``
shares counters between processes and instances: ``database`` keeps them
in the app's own PostgreSQL (rate_limit_store), ``redis://host:6379`` in
Redis.
Two shapes of limit:

* ``FailureThrottle`` counts only failures (bad credentials) and is checked
  before any expensive work — a stranger cannot make us run bcrypt;
* ``RequestRate`` counts every request (per credential on /mcp, per client
  and address on the OAuth and client-credential endpoints).

Both answer with the seconds to wait, for a 429 ``Retry-After``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable

import anyio.to_thread
from limits import RateLimitItem, parse, storage, strategies
from sqlalchemy import Engine

from core import rate_limit_store

log = logging.getLogger("memorygate.ratelimit")


class Limiter:
    """One storage and strategy, shared by every limit of an app.

    ``engine`` is resolved when first needed: the app's database is
    connected in its lifespan, after the limiter is made."""

    def __init__(self, storage_uri: str = "memory://", *, engine: Callable[[], Engine] | None = None) -> None:
        self.strategy: strategies.RateLimiter
        if storage_uri == rate_limit_store.DATABASE_STORAGE:
            if engine is None:
                raise ValueError("RATE_LIMIT_STORAGE_URI=database needs the app's database")
            self.strategy = strategies.SlidingWindowCounterRateLimiter(rate_limit_store.DatabaseStorage(engine))
        else:
            self.strategy = strategies.MovingWindowRateLimiter(storage.storage_from_string(storage_uri))
        # In-process counters are cheap enough to touch on the event loop;
        # a shared store is reached from a worker thread instead.
        self.in_process = storage_uri.startswith("memory://")
        self.store_errors = self.strategy.storage.base_exceptions

    def wait(self, item: RateLimitItem, key: str) -> float | None:
        if self.strategy.test(item, key):
            return None
        reset_at, _ = self.strategy.get_window_stats(item, key)
        return max(1.0, math.ceil(reset_at - time.time()))


class FailureThrottle:
    """Failures per key in a moving window.

    An expensive check (bcrypt) first ``reserve``s an attempt and ``settle``s
    it afterwards; attempts in flight count against the allowance, so a
    concurrent burst cannot slip past a check that only sees finished
    failures. (Reservations are per process; the failures themselves live in
    the shared storage.)
    """

    def __init__(self, limiter: Limiter, limit: int, window_seconds: float) -> None:
        self.limiter = limiter
        self.limit = limit
        self.item = parse(f"{limit}/{max(1, int(window_seconds))} second")
        self._pending: Counter[str] = Counter()
        self._lock = threading.Lock()

    def reserve(self, keys: list[str]) -> float | None:
        """Claim one attempt under every key; the seconds to wait if any has none left."""
        with self._lock:
            for key in keys:
                reset_at, remaining = self.limiter.strategy.get_window_stats(self.item, f"failures:{key}")
                if remaining - self._pending[key] <= 0:
                    return max(1.0, math.ceil(reset_at - time.time()))
            self._pending.update(keys)
        return None

    def settle(self, keys: list[str], *, failed: bool) -> list[str]:
        """Release a reservation, counting it as a failure when it was one;
        returns the keys whose allowance this failure used up (bursts)."""
        with self._lock:
            self._pending.subtract(keys)
            self._pending = +self._pending  # drop keys with nothing pending
        return [key for key in keys if failed and self.record_failure(key)]

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or None if it may now."""
        return self.limiter.wait(self.item, f"failures:{key}")

    def record_failure(self, key: str) -> bool:
        """Count one failure; True when this one used up the allowance (a burst)."""
        counted = self.limiter.strategy.hit(self.item, f"failures:{key}")
        _, remaining = self.limiter.strategy.get_window_stats(self.item, f"failures:{key}")
        return counted and remaining == 0


class RequestRate:
    def __init__(self, limiter: Limiter, spec: str, name: str) -> None:
        self.limiter = limiter
        self.item = parse(spec)
        self.name = name

    async def hit_async(self, *keys: str) -> float | None:
        """``hit`` from the event loop: off it when the counters are remote."""
        if self.limiter.in_process:
            return self.hit(*keys)
        return await anyio.to_thread.run_sync(lambda: self.hit(*keys))

    def hit(self, *keys: str) -> float | None:
        """Count a request for each key; the seconds to wait if any is over.

        If the shared store cannot be reached (the database is down), the
        request is let through uncounted: refusing every caller would add
        nothing to an outage, and the request meets the same outage anyway."""
        try:
            return self._hit(keys)
        except self.limiter.store_errors as exc:
            log.warning("rate limit not counted: its store is unreachable (%s)", type(exc).__name__)
            return None

    def _hit(self, keys: tuple[str, ...]) -> float | None:
        waits = []
        for key in keys:
            scoped = f"{self.name}:{key}"
            if not self.limiter.strategy.hit(self.item, scoped):
                waits.append(self.limiter.wait(self.item, scoped) or 1.0)
        return max(waits) if waits else None
