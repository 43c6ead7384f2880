"""Resolving the caller of a request: API keys, OAuth access tokens, cookies.

Framework-free and synchronous (callers run it in a worker thread).
``verify_request_api_key(db, headers)`` is the one path every API key takes,
from the MCP gate and from the HTTP routes alike; the gate's
``verify_request_credentials`` also accepts MemoryGate's own OAuth access
tokens for the MCP resource:

* ``Authorization: Bearer mg_...`` (scheme case-insensitive) or ``X-API-Key``;
* anything that is not shaped like one of our keys is refused before the
  database is touched, as are duplicated or conflicting headers;
* the throttle is consulted before bcrypt; a verified key is cached briefly,
  which spares the bcrypt, and every request still reads its row by id;
* revoked or expired keys and inactive users are refused, on the next
  request in every process.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core import audit, rate_limits
from core.principal import ALL_SCOPES, Principal
from core.settings import Settings
from identity import accounts, api_keys
from identity import oauth_records as records
from oauth_models import User

MAX_AUTH_HEADER_BYTES = 512

MISSING = "missing"
MALFORMED = "malformed"
INVALID = "invalid"
THROTTLED = "throttled"


@dataclass
class AuthState:
    """The collaborators of authentication, built once per app from its
    settings (``from_settings``); two apps in one process share none of it."""

    limiter: rate_limits.Limiter
    cache: api_keys.VerifiedKeyCache
    bcrypt_gate: api_keys.BcryptGate
    single_flight: api_keys.SingleFlight
    usage: api_keys.UsageTracker
    throttle: rate_limits.FailureThrottle
    mcp_rate: rate_limits.RequestRate
    client_credentials_rate: rate_limits.RequestRate
    oauth_token_rate: rate_limits.RequestRate
    oauth_registration_rate: rate_limits.RequestRate
    oauth_authorize_rate: rate_limits.RequestRate
    key_creation_rate: rate_limits.RequestRate
    import_rate: rate_limits.RequestRate

    @classmethod
    def from_settings(cls, settings: Settings, *, engine: Callable[[], Engine] | None = None) -> AuthState:
        """``engine``: the app's database, for RATE_LIMIT_STORAGE_URI=database."""
        limiter = rate_limits.Limiter(settings.rate_limit_storage, engine=engine)

        def rate(spec: str, name: str) -> rate_limits.RequestRate:
            return rate_limits.RequestRate(limiter, spec, name)

        return cls(
            limiter=limiter,
            cache=api_keys.VerifiedKeyCache(settings.api_key_cache_ttl_seconds),
            bcrypt_gate=api_keys.BcryptGate(total=settings.max_concurrent_bcrypt),
            single_flight=api_keys.SingleFlight(),
            usage=api_keys.UsageTracker(),
            throttle=rate_limits.FailureThrottle(
                limiter, settings.auth_failure_limit, settings.auth_failure_window_seconds
            ),
            mcp_rate=rate(settings.mcp_rate_limit, "mcp"),
            client_credentials_rate=rate(settings.client_credentials_rate_limit, "client"),
            oauth_token_rate=rate(settings.oauth_token_rate_limit, "token"),
            oauth_registration_rate=rate(f"{settings.oauth_registrations_per_hour}/hour", "register"),
            oauth_authorize_rate=rate(settings.oauth_authorize_rate_limit, "authorize"),
            key_creation_rate=rate(settings.key_creation_rate_limit, "keys"),
            import_rate=rate(settings.import_rate_limit, "imports"),
        )


@dataclass(frozen=True)
class KeyCheck:
    principal: Principal | None = None
    error: str | None = None
    retry_after: float | None = None


HeaderSource = Mapping[str, str] | Iterable[tuple[bytes, bytes]]


def _header_values(headers: HeaderSource, name: str) -> list[str]:
    """All values of one header, from a mapping or raw ASGI header pairs."""
    if isinstance(headers, Mapping):
        getlist = getattr(headers, "getlist", None)
        if getlist is not None:
            return list(getlist(name))
        value = next((v for k, v in headers.items() if k.lower() == name), None)
        return [] if value is None else [value]
    wanted = name.encode()
    return [value.decode("latin-1") for key, value in headers if key.lower() == wanted]


def extract_api_key(headers: HeaderSource) -> tuple[str | None, str | None]:
    """(key, None) when one candidate key is presented, else (None, error)."""
    authorization = _header_values(headers, "authorization")
    api_key_headers = _header_values(headers, "x-api-key")
    if not authorization and not api_key_headers:
        return None, MISSING
    if len(authorization) > 1 or len(api_key_headers) > 1:
        return None, MALFORMED
    candidates = []
    if authorization:
        value = authorization[0]
        if len(value.encode("latin-1", "replace")) > MAX_AUTH_HEADER_BYTES:
            return None, MALFORMED
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or " " in token.strip():
            return None, MALFORMED
        candidates.append(token.strip())
    if api_key_headers:
        value = api_key_headers[0].strip()
        if len(value.encode("latin-1", "replace")) > MAX_AUTH_HEADER_BYTES:
            return None, MALFORMED
        candidates.append(value)
    if len(set(candidates)) > 1:
        return None, MALFORMED
    key = candidates[0]
    if not api_keys.looks_like_key(key):
        return None, MALFORMED
    return key, None


def verify_request_api_key(
    db: Session, headers: HeaderSource, *, client_ip: str | None = None, state: AuthState
) -> KeyCheck:
    """API keys only (the /auth routes); OAuth tokens are for /mcp alone."""
    raw, error = extract_api_key(headers)
    if raw is None or records.looks_like_access_token(raw):
        return _refused_before_lookup(error or INVALID, client_ip, state, db)
    return _verify_key(db, raw, client_ip=client_ip, state=state)


def verify_request_credentials(
    db: Session, headers: HeaderSource, *, audience: str, client_ip: str | None = None, state: AuthState
) -> KeyCheck:
    """What the MCP gate accepts: an API key, or an OAuth access token that
    MemoryGate issued for this resource (audience)."""
    raw, error = extract_api_key(headers)
    if raw is None:
        return _refused_before_lookup(error or MISSING, client_ip, state, db)
    if not records.looks_like_access_token(raw):
        return _verify_key(db, raw, client_ip=client_ip, state=state)
    throttle_key = f"ip:{client_ip}" if client_ip else None
    wait = state.throttle.retry_after(throttle_key) if throttle_key else None
    if wait is not None:
        return KeyCheck(error=THROTTLED, retry_after=wait)
    principal = records.verify_access_token(db, raw, audience=audience)
    if principal is None:
        if throttle_key:
            _count_failure(db, state, throttle_key, client_ip)
        return KeyCheck(error=INVALID)
    return KeyCheck(principal=principal)


def cached_principal(headers: HeaderSource, *, state: AuthState) -> Principal | None:
    """The principal for an API key verified recently, without bcrypt.

    Cheap enough (a SHA-256 and a dict lookup) to run on the event loop.
    The caller must still confirm it (``confirm_cached``: one read by key id)
    before acting on it. None sends the request to the full path — also
    when the entry is due for its refresh, which one caller there performs."""
    raw, _ = extract_api_key(headers)
    if raw is None or records.looks_like_access_token(raw):
        return None
    fingerprint = api_keys.fingerprint(raw)
    cached = state.cache.get(fingerprint)
    if cached is None or cached.expired(datetime.now(UTC)) or state.cache.refresh_due(fingerprint):
        return None
    return _principal(cached)


def confirm_cached(db: Session, principal: Principal, *, state: AuthState) -> bool:
    """Whether a cached key still opens the door (revoked, expired or its
    account deleted in any process: refused on the next request); a key
    that no longer does leaves the cache."""
    assert principal.credential_id is not None
    if not api_keys.still_open(db, principal.credential_id):
        state.cache.evict_key(principal.credential_id)
        return False
    state.usage.record(principal.credential_id)
    return True


def _refused_before_lookup(error: str, client_ip: str | None, state: AuthState, db: Session) -> KeyCheck:
    if error != MISSING and client_ip:
        _count_failure(db, state, f"ip:{client_ip}", client_ip)
    return KeyCheck(error=error)


def _count_failure(db: Session, state: AuthState, key: str, client_ip: str | None) -> None:
    """Count a failed authentication; the one that starts a burst is audited."""
    if state.throttle.record_failure(key):
        _audit_burst(db, key, client_ip)


def _audit_burst(db: Session, key: str, client_ip: str | None) -> None:
    audit.record(db, audit.AUTH_FAILURE_BURST, targets={"throttled": key}, address=client_ip)


def _verify_key(db: Session, raw: str, *, client_ip: str | None, state: AuthState) -> KeyCheck:
    fingerprint = api_keys.fingerprint(raw)
    _refresh_if_due(db, state, fingerprint)
    found = _from_cache(db, state, fingerprint)
    if found is not None:
        return found
    with state.single_flight.hold(fingerprint):
        # Whoever verified this key while we waited has left it in the cache.
        return _from_cache(db, state, fingerprint) or _verify_uncached(db, raw, fingerprint, client_ip, state)


def _refresh_if_due(db: Session, state: AuthState, fingerprint: str) -> None:
    """Re-read the row of a cached key nearing the end of its trust, if this
    caller is the one to claim it; the others meanwhile use the entry."""
    claimed = state.cache.claim_refresh(fingerprint)
    if claimed is None:
        return
    try:
        fresh = api_keys.recheck_key(db, claimed.key_id)
    except BaseException:
        state.cache.release(fingerprint)
        raise
    state.cache.refreshed(fingerprint, fresh)


def _from_cache(db: Session, state: AuthState, fingerprint: str) -> KeyCheck | None:
    cached = state.cache.get(fingerprint)
    if cached is None:
        return None
    principal = _principal(cached)
    if cached.expired(datetime.now(UTC)) or not confirm_cached(db, principal, state=state):
        state.cache.evict_key(cached.key_id)
        return KeyCheck(error=INVALID)
    return KeyCheck(principal=principal)


def _verify_uncached(db: Session, raw: str, fingerprint: str, client_ip: str | None, state: AuthState) -> KeyCheck:
    """The bcrypt path: an attempt is reserved under the key's prefix and the
    caller's address before the work starts, and the work is bounded."""
    throttle_keys = [f"prefix:{raw[: api_keys.PREFIX_CHARS]}"] + ([f"ip:{client_ip}"] if client_ip else [])
    wait = state.throttle.reserve(throttle_keys)
    if wait is not None:
        return KeyCheck(error=THROTTLED, retry_after=wait)
    verified, admitted = None, False
    try:
        with state.bcrypt_gate.admit(client_ip) as admitted:
            if not admitted:
                return KeyCheck(error=THROTTLED, retry_after=1.0)
            verified = _verify_against_database(db, raw, raw[: api_keys.PREFIX_CHARS], datetime.now(UTC))
    finally:
        for burst in state.throttle.settle(throttle_keys, failed=verified is None and admitted):
            _audit_burst(db, burst, client_ip)
    if verified is None:
        return KeyCheck(error=INVALID)
    state.cache.put(fingerprint, verified)
    state.usage.record(verified.key_id)
    return KeyCheck(principal=_principal(verified))


def _verify_against_database(db: Session, raw: str, prefix: str, now: datetime) -> api_keys.VerifiedKey | None:
    found = api_keys.find_active_key(db, prefix)
    if found is None:
        return None
    key, user = found
    verified = api_keys.verified_key(key, user, now)  # refuse dead rows before paying for bcrypt
    if verified is None or not api_keys.check_key(raw, key.key_hash):
        return None
    return verified


def _principal(key: api_keys.VerifiedKey) -> Principal:
    return Principal(
        user_id=key.user_id,
        email=key.email,
        scopes=key.scopes,
        credential_type="api_key",
        credential_id=key.key_id,
        space_ids=key.space_ids,
        space_scopes=key.space_scopes,
    )


def get_current_user_from_session(db: Session, cookies: Mapping[str, str]) -> User | None:
    return accounts.user_for_session_token(db, cookies.get(accounts.SESSION_COOKIE))


def authenticate(
    db: Session,
    *,
    headers: HeaderSource,
    cookies: Mapping[str, str],
    client_ip: str | None = None,
    state: AuthState,
) -> Caller | None:
    """The user behind the session cookie or, failing that, an API key, with
    the scopes that credential grants (a browser session grants all)."""
    user = get_current_user_from_session(db, cookies)
    if user is not None:
        return Caller(user, frozenset(ALL_SCOPES), via_session=True)
    check = verify_request_api_key(db, headers, client_ip=client_ip, state=state)
    if check.principal is None:
        return None
    user = accounts.get_user(db, check.principal.user_id)
    if user is None:
        return None
    principal = check.principal
    return Caller(
        user, principal.scopes, via_session=False, space_ids=principal.space_ids, space_scopes=principal.space_scopes
    )


@dataclass(frozen=True)
class Caller:
    """Who called an /auth route, and with what: a browser session or an API key."""

    user: User
    scopes: frozenset[str]
    via_session: bool
    space_ids: frozenset[uuid.UUID] | None = None  # the key's spaces (None: every space)
    space_scopes: Mapping[str, frozenset[str]] | None = None  # its rights per space, when fewer in some
