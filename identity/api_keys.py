"""API keys: issue, verify, revoke — and keep bcrypt off the hot path.

A key is ``mg_`` + 43 URL-safe characters (32 random bytes). Its first 11
characters are the non-secret ``key_prefix`` used to find the row; the whole
key is stored only as a bcrypt hash. bcrypt at cost 12 costs ~0.4 s, so:

* ``VerifiedKeyCache`` remembers a successful verification for at most 60 s,
  keyed by the SHA-256 of the presented key, and has one caller re-check the
  row (without bcrypt) before that runs out; revocation evicts at once.
* repeated failures for a prefix or client address are throttled before
  any bcrypt work (rate_limits.FailureThrottle, used by auth_middleware);
* ``UsageTracker`` counts uses in memory; ``flush`` writes them in one batch.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import bcrypt
from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from core import audit, rate_limits
from core.db import after_commit
from core.principal import ALL_SCOPES, space_scopes_of
from oauth_models import APIKey, User

log = logging.getLogger("memorygate.auth")

KEY_MARKER = "mg_"
KEY_RANDOM_BYTES = 32
PREFIX_CHARS = 11
# bcrypt only reads 72 bytes (and bcrypt 5 raises beyond); real keys are 46.
MAX_KEY_BYTES = 72
DEFAULT_BCRYPT_ROUNDS = 12


def generate_key() -> tuple[str, str]:
    raw = KEY_MARKER + secrets.token_urlsafe(KEY_RANDOM_BYTES)
    return raw, raw[:PREFIX_CHARS]


def looks_like_key(value: str) -> bool:
    return value.startswith(KEY_MARKER) and PREFIX_CHARS < len(value.encode()) <= MAX_KEY_BYTES and value.isascii()


def fingerprint(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def hash_key(raw: str, rounds: int = DEFAULT_BCRYPT_ROUNDS) -> str:
    return bcrypt.hashpw(raw.encode(), bcrypt.gensalt(rounds)).decode()


def check_key(raw: str, key_hash: str) -> bool:
    """bcrypt's comparison is constant-time; over-long input is simply wrong."""
    encoded = raw.encode()
    if len(encoded) > MAX_KEY_BYTES:
        return False
    try:
        return bcrypt.checkpw(encoded, key_hash.encode())
    except ValueError:
        # A stored hash bcrypt cannot parse: refuse, and tell the operator.
        log.error("API key hash for prefix %s is malformed; refusing the key", raw[:PREFIX_CHARS])
        return False


@dataclass(frozen=True)
class VerifiedKey:
    key_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    scopes: frozenset[str]
    expires_at: datetime | None
    space_ids: frozenset[uuid.UUID] | None = None
    space_scopes: Mapping[str, frozenset[str]] | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class VerifiedKeyCache:
    """Keys verified recently, by the SHA-256 of the presented key.

    An entry is trusted for at most ``ttl`` seconds (60 at most). Past three
    quarters of that, exactly one caller is handed the refresh
    (``claim_refresh``) and re-checks the key's row (``recheck_key``, no
    bcrypt: a row's hash never changes, so only revocation, expiry, scopes
    and the account's standing can); everyone else keeps using the entry
    meanwhile. A key in steady use therefore never expires from the cache,
    and never costs a bcrypt after its first.
    """

    REFRESH_AT = 0.75

    def __init__(self, ttl_seconds: float = 60.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = min(ttl_seconds, 60.0)
        self.clock = clock
        # fingerprint -> (verified at, key, refresh claimed)
        self._entries: dict[str, tuple[float, VerifiedKey, bool]] = {}
        self._lock = threading.Lock()
        self.refreshes = 0  # rows re-read for cached keys, for tests and metrics

    def get(self, fingerprint_: str) -> VerifiedKey | None:
        with self._lock:
            entry = self._entries.get(fingerprint_)
            if entry is None:
                return None
            verified_at, key, _ = entry
            if self.clock() - verified_at > self.ttl:
                del self._entries[fingerprint_]
                return None
            return key

    def refresh_due(self, fingerprint_: str) -> bool:
        """Whether the entry awaits a refresh nobody has claimed."""
        with self._lock:
            entry = self._entries.get(fingerprint_)
            return entry is not None and not entry[2] and self._due(entry[0])

    def _due(self, verified_at: float) -> bool:
        return self.clock() - verified_at >= self.ttl * self.REFRESH_AT

    def claim_refresh(self, fingerprint_: str) -> VerifiedKey | None:
        """The entry's key if it is due for a refresh and nobody has claimed
        it yet — then the caller must report ``refreshed`` or ``release``
        the claim."""
        with self._lock:
            entry = self._entries.get(fingerprint_)
            if entry is None:
                return None
            verified_at, key, claimed = entry
            if claimed or not self._due(verified_at):
                return None
            self._entries[fingerprint_] = (verified_at, key, True)
            return key

    def release(self, fingerprint_: str) -> None:
        """Give up a claimed refresh (it failed); the next caller may try."""
        with self._lock:
            entry = self._entries.get(fingerprint_)
            if entry is not None:
                self._entries[fingerprint_] = (entry[0], entry[1], False)

    def put(self, fingerprint_: str, key: VerifiedKey) -> None:
        with self._lock:
            self._entries[fingerprint_] = (self.clock(), key, False)

    def refreshed(self, fingerprint_: str, key: VerifiedKey | None) -> None:
        """The outcome of a claimed refresh: trusted anew, or gone."""
        with self._lock:
            self.refreshes += 1
            if key is None:
                self._entries.pop(fingerprint_, None)
            else:
                self._entries[fingerprint_] = (self.clock(), key, False)

    def evict_key(self, key_id: uuid.UUID) -> None:
        self._evict_where(lambda key: key.key_id == key_id)

    def evict_user(self, user_id: uuid.UUID) -> None:
        self._evict_where(lambda key: key.user_id == user_id)

    def _evict_where(self, matches: Callable[[VerifiedKey], bool]) -> None:
        with self._lock:
            for fp in [fp for fp, (_, key, _) in self._entries.items() if matches(key)]:
                del self._entries[fp]


class BcryptGate:
    """Bounds bcrypt work in flight: at most ``per_address`` checks for one
    client address and ``total`` for the process. A caller over its share is
    told to retry at once instead of occupying worker threads."""

    def __init__(self, total: int, per_address: int = 2) -> None:
        self.total = threading.BoundedSemaphore(total)
        self.per_address = per_address
        self._by_address: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.admitted_total = 0  # bcrypt checks run by this process, for tests and metrics

    @contextmanager
    def admit(self, address: str | None) -> Iterator[bool]:
        key = address or "-"
        with self._lock:
            admitted = self._by_address[key] < self.per_address
            if admitted:
                self._by_address[key] += 1
                self.admitted_total += 1
        if not admitted:
            yield False
            return
        try:
            with self.total:
                yield True
        finally:
            with self._lock:
                self._by_address[key] -= 1
                if not self._by_address[key]:
                    del self._by_address[key]


class SingleFlight:
    """One verification per key at a time: concurrent requests presenting
    the same key wait for the first, then find its result in the cache —
    so an expired cache entry costs one bcrypt, not one per request."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._users: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, fingerprint_: str) -> Iterator[None]:
        with self._lock:
            lock = self._locks.setdefault(fingerprint_, threading.Lock())
            self._users[fingerprint_] += 1
        try:
            with lock:
                yield
        finally:
            with self._lock:
                self._users[fingerprint_] -= 1
                if not self._users[fingerprint_]:
                    del self._users[fingerprint_], self._locks[fingerprint_]


class UsageTracker:
    def __init__(self) -> None:
        self._pending: dict[uuid.UUID, tuple[int, datetime]] = {}
        self._lock = threading.Lock()

    def record(self, key_id: uuid.UUID) -> None:
        now = datetime.now(UTC)
        with self._lock:
            count, _ = self._pending.get(key_id, (0, now))
            self._pending[key_id] = (count + 1, now)

    def pending(self) -> int:
        with self._lock:
            return sum(count for count, _ in self._pending.values())

    def flush(self, db: Session) -> int:
        """Write accumulated counts in one statement; returns uses written."""
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return 0
        try:
            ids = list(batch)
            db.execute(
                update(APIKey)
                .where(APIKey.id.in_(ids))
                .values(
                    usage_count=APIKey.usage_count + case({k: batch[k][0] for k in ids}, value=APIKey.id),
                    last_used=func.greatest(
                        func.coalesce(APIKey.last_used, case({k: batch[k][1] for k in ids}, value=APIKey.id)),
                        case({k: batch[k][1] for k in ids}, value=APIKey.id),
                    ),
                )
            )
            db.commit()
        except BaseException:
            db.rollback()
            with self._lock:
                for key_id, (count, last) in batch.items():
                    old_count, old_last = self._pending.get(key_id, (0, last))
                    self._pending[key_id] = (old_count + count, max(old_last, last))
            raise
        return sum(count for count, _ in batch.values())


def create_key(
    db: Session,
    *,
    user_id: uuid.UUID,
    name: str,
    expires_at: datetime | None = None,
    scopes: tuple[str, ...] = ALL_SCOPES,
    space_ids: list[uuid.UUID] | None = None,
    space_scopes: dict[str, list[str]] | None = None,
    bcrypt_rounds: int = DEFAULT_BCRYPT_ROUNDS,
) -> tuple[APIKey, str]:
    """Create a key (reaching ``space_ids``, or every space when None); the
    raw key is returned once and never stored."""
    raw, prefix = generate_key()
    row = APIKey(
        user_id=user_id,
        name=name,
        key_prefix=prefix,
        key_hash=hash_key(raw, bcrypt_rounds),
        scopes=list(scopes),
        expires_at=expires_at,
        space_ids=space_ids,
        space_scopes=space_scopes,
    )
    db.add(row)
    db.flush()
    audit.record(db, audit.API_KEY_CREATED, actor=user_id, targets={"key_id": row.id, "key_prefix": prefix})
    return row, raw


def count_active_keys(db: Session, *, user_id: uuid.UUID) -> int:
    """Keys that still open the door: not revoked, not expired."""
    return db.execute(
        select(func.count()).where(
            APIKey.user_id == user_id,
            APIKey.revoked.is_(False),
            (APIKey.expires_at.is_(None)) | (APIKey.expires_at > func.now()),
        )
    ).scalar_one()


def list_keys(db: Session, *, user_id: uuid.UUID) -> list[APIKey]:
    return list(db.scalars(select(APIKey).where(APIKey.user_id == user_id).order_by(APIKey.created_at.desc())))


def revoke_key(db: Session, *, user_id: uuid.UUID, key_id: uuid.UUID, cache: VerifiedKeyCache | None = None) -> bool:
    """Revoke the caller's own key; False when it is unknown or someone else's.

    The key leaves ``cache`` once the revocation commits — not before, or a
    request racing the commit could cache the still-active row again.
    """
    revoked = db.execute(
        update(APIKey).where(APIKey.id == key_id, APIKey.user_id == user_id).values(revoked=True).returning(APIKey.id)
    ).first()
    if revoked is None:
        return False
    audit.record(db, audit.API_KEY_REVOKED, actor=user_id, targets={"key_id": key_id})
    if cache is not None:
        after_commit(db, lambda: cache.evict_key(key_id))
    return True


def find_active_key(db: Session, prefix: str) -> tuple[APIKey, User] | None:
    row = db.execute(
        select(APIKey, User).join(User, User.id == APIKey.user_id).where(APIKey.key_prefix == prefix)
    ).one_or_none()
    return (row[0], row[1]) if row else None


def verified_key(key: APIKey, user: User, now: datetime) -> VerifiedKey | None:
    """What a request may act as with this row, or None if the row no
    longer opens the door (revoked, expired, account inactive)."""
    if key.revoked or not user.is_active or (key.expires_at is not None and key.expires_at <= now):
        return None
    return VerifiedKey(
        key_id=key.id,
        user_id=user.id,
        email=user.email,
        scopes=frozenset(key.scopes),
        expires_at=key.expires_at,
        space_ids=None if key.space_ids is None else frozenset(key.space_ids),
        space_scopes=space_scopes_of(key.space_scopes),
    )


def recheck_key(db: Session, key_id: uuid.UUID) -> VerifiedKey | None:
    """A cached key's row read again (no bcrypt: its hash cannot change)."""
    row = db.execute(select(APIKey, User).join(User, User.id == APIKey.user_id).where(APIKey.id == key_id)).first()
    return verified_key(row[0], row[1], datetime.now(UTC)) if row else None


TOO_MANY_KEYS = "This account already has {count} active API keys; revoke one first."
TOO_MANY_NEW_KEYS = "Too many new API keys for this account; try again later."


def creation_refusal(
    db: Session, *, user_id: uuid.UUID, max_active: int, rate: rate_limits.RequestRate
) -> tuple[int, str, float | None] | None:
    """(status, reason, retry-after) when this account may not mint another
    key now: each costs a bcrypt hash, and each is a door to the memories."""
    active = count_active_keys(db, user_id=user_id)
    if active >= max_active:
        return 409, TOO_MANY_KEYS.format(count=active), None
    wait = rate.hit(f"user:{user_id}")
    if wait is not None:
        return 429, TOO_MANY_NEW_KEYS, wait
    return None


def still_open(db: Session, key_id: uuid.UUID) -> bool:
    """Whether a cached key still opens the door at this moment: one read by
    primary key, made on every request, so revoking a key, deleting its
    account or its expiry takes effect at once in every process and
    instance sharing the database (the cache spares only the bcrypt)."""
    query = (
        select(APIKey.id)
        .join(User, User.id == APIKey.user_id)
        .where(APIKey.id == key_id, APIKey.revoked.is_(False), User.is_active.is_(True))
        .where(or_(APIKey.expires_at.is_(None), APIKey.expires_at > func.now()))
    )
    return db.execute(query).first() is not None


def key_view(key: APIKey) -> dict:
    """What a user may see of a key: never its hash."""
    return {
        "id": str(key.id),
        "name": key.name,
        "key_prefix": key.key_prefix,
        "scopes": key.scopes,
        "space_ids": None if key.space_ids is None else [str(space) for space in key.space_ids],
        "space_scopes": key.space_scopes,
        "created_at": key.created_at.isoformat() if key.created_at else None,
        "last_used": key.last_used.isoformat() if key.last_used else None,
        "usage_count": key.usage_count,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked": key.revoked,
    }
