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
import time
from collections.abc import Callable
from typing import Any

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
    """Failures per key in the limiter's window, counted in its storage.

    An expensive check (bcrypt) first ``reserve``s an attempt: one atomic
    hit in the storage, so attempts in flight in every process sharing it
    count against the allowance, and a concurrent burst cannot slip past a
    check that only sees finished failures. ``settle`` gives the attempt
    back unless it failed.
    """

    def __init__(self, limiter: Limiter, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.item = parse(f"{limit}/{max(1, int(window_seconds))} second")
        self.strategy = limiter.strategy

    def reserve(self, keys: list[str]) -> float | None:
        """Claim one attempt under every key; the seconds to wait if any has none left."""
        taken: list[str] = []
        for key in keys:
            if not self.strategy.hit(self.item, f"failures:{key}"):
                self._give_back(taken)
                return self.retry_after(key) or 1.0
            taken.append(key)
        return None

    def settle(self, keys: list[str], *, failed: bool) -> list[str]:
        """Give the reservation back unless it failed; returns the keys whose
        allowance this failure used up (bursts)."""
        if not failed:
            self._give_back(keys)
            return []
        return [key for key in keys if self._remaining(key) == 0]

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or None if it may now."""
        if self.strategy.test(self.item, f"failures:{key}"):
            return None
        reset_at, _ = self.strategy.get_window_stats(self.item, f"failures:{key}")
        return max(1.0, math.ceil(reset_at - time.time()))

    def record_failure(self, key: str) -> bool:
        """Count one failure; True when this one used up the allowance (a burst)."""
        counted = self.strategy.hit(self.item, f"failures:{key}")
        return counted and self._remaining(key) == 0

    def _remaining(self, key: str) -> int:
        return self.strategy.get_window_stats(self.item, f"failures:{key}")[1]

    def _give_back(self, keys: list[str]) -> None:
        storage: Any = self.strategy.storage
        expiry = self.item.get_expiry()
        for key in keys:
            name = self.item.key_for(f"failures:{key}")
            if isinstance(self.strategy, strategies.MovingWindowRateLimiter):
                # In-process moving window (exact): drop the newest entry, as
                # limits' memory storage keeps them, newest first, under its lock.
                with storage.locks[name]:
                    if storage.events.get(name):
                        storage.events[name].pop(0)
                continue
            _, current = storage.sliding_window_keys(name, expiry, time.time())
            if hasattr(storage, "decr"):
                storage.decr(current)
            else:  # Redis: an increment by minus one
                storage.incr(current, 2 * expiry, amount=-1)


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
