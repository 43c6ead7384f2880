"""Rate limits on the `limits` library, shared across instances when asked.

Storage is in-process by default (``memory://``); ``RATE_LIMIT_STORAGE_URI``
(for example ``redis://host:6379``) shares counters between instances.
Two shapes of limit:

* ``FailureThrottle`` counts only failures (bad credentials) and is checked
  before any expensive work — a stranger cannot make us run bcrypt;
* ``RequestRate`` counts every request (per credential on /mcp, per client
  and address on the OAuth and client-credential endpoints).

Both answer with the seconds to wait, for a 429 ``Retry-After``.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse, storage, strategies


class Limiter:
    """One storage and strategy, shared by every limit of an app."""

    def __init__(self, storage_uri: str = "memory://") -> None:
        self.strategy = strategies.MovingWindowRateLimiter(storage.storage_from_string(storage_uri))
        # In-process counters are cheap enough to touch on the event loop;
        # a remote store (Redis) is reached from a worker thread instead.
        self.in_process = storage_uri.startswith("memory://")

    def wait(self, item: RateLimitItem, key: str) -> float | None:
        if self.strategy.test(item, key):
            return None
        reset_at, _ = self.strategy.get_window_stats(item, key)
        return max(1.0, math.ceil(reset_at - time.time()))


class FailureThrottle:
    def __init__(self, limiter: Limiter, limit: int, window_seconds: float) -> None:
        self.limiter = limiter
        self.limit = limit
        self.item = parse(f"{limit}/{max(1, int(window_seconds))} second")

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

    def hit(self, *keys: str) -> float | None:
        """Count a request for each key; the seconds to wait if any is over."""
        waits = []
        for key in keys:
            scoped = f"{self.name}:{key}"
            if not self.limiter.strategy.hit(self.item, scoped):
                waits.append(self.limiter.wait(self.item, scoped) or 1.0)
        return max(waits) if waits else None
