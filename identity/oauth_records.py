"""MemoryGate's OAuth 2.1 authorization server: the database side (its HTTP
side and the MCP SDK provider are in ``mcp_oauth``).

Clients, pending authorizations, grants (one per consent), single-use codes
and opaque tokens. Everything lives in PostgreSQL, so any instance can serve
any step of a flow, and every secret is stored as a SHA-256 hash only.

Token shapes: access tokens ``mg_oat_`` + 43 characters, refresh tokens
``mg_ort_`` + 43 — distinct from API keys (``mg_`` + 43) by prefix and length.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core import audit, crypto
from core.crypto import sha256_hex
from core.principal import Principal, space_scopes_of
from core.settings import Settings
from oauth_models import (
    OAuthAuthorizationCode,
    OAuthClient,
    OAuthGrant,
    OAuthPendingAuthorization,
    OAuthToken,
    User,
)

ACCESS_PREFIX = "mg_oat_"
REFRESH_PREFIX = "mg_ort_"
TOKEN_RANDOM_CHARS = 43  # secrets.token_urlsafe(32)
CODE_TTL = timedelta(seconds=60)
PENDING_TTL = timedelta(minutes=10)


def destination_host(redirect_uri: str) -> str:
    """Where the consent answer goes, as a person should read it: the exact
    host and port, never the user-info part (``claude.ai@evil.example``)."""
    parts = urlsplit(redirect_uri)
    if not parts.hostname:
        return f"{parts.scheme}:"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port}" if parts.port else host


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def looks_like_access_token(value: str) -> bool:
    return value.startswith(ACCESS_PREFIX) and len(value) == len(ACCESS_PREFIX) + TOKEN_RANDOM_CHARS


# --- clients ---------------------------------------------------------------------


# A registered client's id is ours (short); a document client's is its URL.
MAX_CLIENT_ID_CHARS = 512


@dataclass(frozen=True)
class ClientRecord:
    client_id: str
    secret_hash: str | None
    auth_method: str
    name: str | None
    redirect_uris: list[str]
    grant_types: list[str]
    scope: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    registered_at: datetime | None = None


def _desktop_client(client_id: str, settings: Settings) -> ClientRecord | None:
    """The pre-registered client from settings, for apps with a fixed id and secret."""
    if not (settings.desktop_client_id and settings.desktop_client_secret and settings.desktop_redirect_uris):
        return None
    if not secrets.compare_digest(client_id.encode(), settings.desktop_client_id.encode()):
        return None
    return ClientRecord(
        client_id=settings.desktop_client_id,
        secret_hash=sha256_hex(settings.desktop_client_secret),
        auth_method="client_secret_post",
        name=settings.desktop_client_id,
        redirect_uris=settings.desktop_redirect_uris,
        grant_types=["authorization_code", "refresh_token"],
        scope=None,
    )


def load_client(db: Session, client_id: str, settings: Settings) -> ClientRecord | None:
    desktop = _desktop_client(client_id, settings)
    if desktop is not None:
        return desktop
    if len(client_id) > MAX_CLIENT_ID_CHARS:
        return None
    row = db.get(OAuthClient, client_id)
    if row is None:
        return None
    return ClientRecord(
        client_id=row.client_id,
        secret_hash=row.client_secret_hash,
        auth_method=row.token_endpoint_auth_method,
        name=row.client_name,
        redirect_uris=row.redirect_uris,
        grant_types=row.grant_types,
        scope=row.scope,
        metadata=row.metadata_,
        registered_at=row.created_at,
    )


def keep_document_client(db: Session, record: ClientRecord) -> None:
    """A client known by its metadata document (its client_id a URL): what
    the document said, kept until ``record.metadata["document_expires_at"]``,
    replacing what an earlier fetch said."""
    statement = insert(OAuthClient).values(
        client_id=record.client_id,
        client_secret_hash=None,
        token_endpoint_auth_method="none",
        client_name=record.name,
        redirect_uris=record.redirect_uris,
        grant_types=record.grant_types,
        scope=record.scope,
        metadata_=record.metadata,
    )
    changed = {name: statement.excluded[name] for name in ("client_name", "redirect_uris", "grant_types", "scope")}
    db.execute(
        statement.on_conflict_do_update(
            index_elements=["client_id"], set_={**changed, "metadata": statement.excluded.metadata}
        )
    )


def store_client(db: Session, record: ClientRecord) -> None:
    audit.record(db, audit.CLIENT_REGISTERED, targets={"client_id": record.client_id, "client_name": record.name})
    db.add(
        OAuthClient(
            client_id=record.client_id,
            client_secret_hash=record.secret_hash,
            token_endpoint_auth_method=record.auth_method,
            client_name=record.name,
            redirect_uris=record.redirect_uris,
            grant_types=record.grant_types,
            scope=record.scope,
            metadata_=record.metadata,
        )
    )


# Registrations are free to make, so they do not live for ever: one that no
# person ever consented to is removed after a day, and one whose connections
# have all gone unused for six months is removed with them.
UNUSED_CLIENT_TTL = timedelta(days=1)
IDLE_CLIENT_TTL = timedelta(days=180)


def prune_clients(db: Session, *, now: datetime | None = None) -> list[str]:
    """Delete stale dynamic registrations (revoking what grants they have); returns their ids."""
    now = now or datetime.now(UTC)
    ever_used = select(OAuthGrant.client_id)
    recently_used = select(OAuthGrant.client_id).where(
        OAuthGrant.revoked.is_(False),
        func.coalesce(OAuthGrant.last_used, OAuthGrant.created_at) > now - IDLE_CLIENT_TTL,
    )
    stale = db.scalars(
        delete(OAuthClient)
        .where(
            or_(
                and_(OAuthClient.created_at < now - UNUSED_CLIENT_TTL, OAuthClient.client_id.not_in(ever_used)),
                and_(OAuthClient.created_at < now - IDLE_CLIENT_TTL, OAuthClient.client_id.not_in(recently_used)),
            )
        )
        .returning(OAuthClient.client_id)
    ).all()
    if stale:
        db.execute(update(OAuthGrant).where(OAuthGrant.client_id.in_(stale)).values(revoked=True))
        db.execute(update(OAuthToken).where(OAuthToken.client_id.in_(stale)).values(revoked=True))
        audit.record(db, audit.CLIENTS_PRUNED, targets={"count": len(stale)})
    return list(stale)


def forget_clients_of(db: Session, user_id: uuid.UUID) -> int:
    """Delete the client registrations only this user ever granted (their
    account is going); clients others use stay. Returns how many."""
    theirs = select(OAuthGrant.client_id).where(OAuthGrant.user_id == user_id)
    others = select(OAuthGrant.client_id).where(OAuthGrant.user_id != user_id)
    gone = db.scalars(
        delete(OAuthClient)
        .where(OAuthClient.client_id.in_(theirs), OAuthClient.client_id.not_in(others))
        .returning(OAuthClient.client_id)
    ).all()
    return len(gone)


# --- pending authorizations and consent ------------------------------------------


class ConsentRefused(Exception):
    """The consent form is stale, forged or from another session."""


def create_pending(
    db: Session,
    *,
    client_id: str,
    redirect_uri: str,
    redirect_uri_provided_explicitly: bool,
    code_challenge: str,
    scopes: list[str],
    resource: str,
    state: str | None,
) -> str:
    db.execute(delete(OAuthPendingAuthorization).where(OAuthPendingAuthorization.expires_at < func.now()))
    request_id = new_secret()
    db.add(
        OAuthPendingAuthorization(
            id=request_id,
            client_id=client_id,
            redirect_uri=redirect_uri,
            redirect_uri_provided_explicitly=redirect_uri_provided_explicitly,
            code_challenge=code_challenge,
            scopes=scopes,
            resource=resource,
            state=state,
            expires_at=datetime.now(UTC) + PENDING_TTL,
        )
    )
    return request_id


def load_pending(db: Session, request_id: str | None) -> OAuthPendingAuthorization | None:
    if not request_id or len(request_id) > 64:
        return None
    pending = db.get(OAuthPendingAuthorization, request_id)
    if pending is None or pending.expires_at <= datetime.now(UTC):
        return None
    return pending


NOT_YOUR_FORM = "This consent form was not issued to you. Start again from your app."


def bind_consent(pending: OAuthPendingAuthorization, session_token: str) -> str:
    """Tie the consent form to the viewing session; returns its CSRF token
    (core.crypto.form_token, like every other form's)."""
    pending.session_hash = sha256_hex(session_token)
    return crypto.form_token(session_token, _consent_purpose(pending.id))


def _consent_purpose(request_id: str) -> str:
    return f"consent:{request_id}"


def consent_form_ok(*, request_id: str, session_token: str, csrf: str) -> bool:
    """Whether this session was given this request's consent form."""
    return crypto.form_token_ok(session_token, _consent_purpose(request_id), csrf)


def take_pending(db: Session, *, request_id: str, session_token: str, csrf: str) -> OAuthPendingAuthorization:
    """Consume the pending request if this session answered its own form."""
    pending = load_pending(db, request_id)
    if pending is None or pending.session_hash is None:
        raise ConsentRefused("This authorization request has expired. Start again from your app.")
    session_ok = secrets.compare_digest(pending.session_hash, sha256_hex(session_token))
    csrf_ok = crypto.form_token_ok(session_token, _consent_purpose(request_id), csrf)
    if not (session_ok and csrf_ok):
        raise ConsentRefused(NOT_YOUR_FORM)
    taken = db.execute(
        delete(OAuthPendingAuthorization)
        .where(OAuthPendingAuthorization.id == request_id)
        .returning(OAuthPendingAuthorization.id)
    ).first()
    if taken is None:
        raise ConsentRefused("This authorization request was already answered.")
    return pending


def approve(
    db: Session,
    *,
    pending: OAuthPendingAuthorization,
    user_id: uuid.UUID,
    scopes: list[str],
    space_ids: list[uuid.UUID] | None = None,
    space_scopes: dict[str, list[str]] | None = None,
) -> str:
    """Record the consent, for the ``scopes`` the person granted of those
    asked and the spaces it reaches (None: every space), as a grant and
    return a fresh authorization code."""
    grant = OAuthGrant(
        user_id=user_id,
        client_id=pending.client_id,
        scopes=scopes,
        resource=pending.resource,
        space_ids=space_ids,
        space_scopes=space_scopes,
    )
    db.add(grant)
    db.flush()
    code = new_secret()
    db.add(
        OAuthAuthorizationCode(
            code_hash=sha256_hex(code),
            grant_id=grant.id,
            client_id=pending.client_id,
            redirect_uri=pending.redirect_uri,
            redirect_uri_provided_explicitly=pending.redirect_uri_provided_explicitly,
            code_challenge=pending.code_challenge,
            scopes=scopes,
            resource=pending.resource,
            expires_at=datetime.now(UTC) + CODE_TTL,
        )
    )
    return code


# --- codes and tokens ------------------------------------------------------------


def load_code(db: Session, code: str) -> OAuthAuthorizationCode | None:
    return db.get(OAuthAuthorizationCode, sha256_hex(code)) if len(code) <= 128 else None


def redeem_code(db: Session, code: str) -> OAuthAuthorizationCode | None:
    """Delete-and-return: of concurrent redemptions, exactly one gets the row."""
    row = db.execute(
        delete(OAuthAuthorizationCode)
        .where(OAuthAuthorizationCode.code_hash == sha256_hex(code), OAuthAuthorizationCode.expires_at > func.now())
        .returning(OAuthAuthorizationCode)
    ).scalar_one_or_none()
    return row


def grant_of(db: Session, grant_id: uuid.UUID) -> OAuthGrant | None:
    grant = db.get(OAuthGrant, grant_id)
    return grant if grant is not None and not grant.revoked else None


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    scopes: list[str]


def issue_tokens(db: Session, *, grant: OAuthGrant, scopes: list[str], settings: Settings) -> IssuedTokens:
    access, refresh = new_secret(ACCESS_PREFIX), new_secret(REFRESH_PREFIX)
    now = datetime.now(UTC)
    for raw, kind, ttl in (
        (access, "access", settings.oauth_access_token_ttl_seconds),
        (refresh, "refresh", settings.oauth_refresh_token_ttl_seconds),
    ):
        db.add(
            OAuthToken(
                token_hash=sha256_hex(raw),
                kind=kind,
                grant_id=grant.id,
                user_id=grant.user_id,
                client_id=grant.client_id,
                scopes=scopes,
                audience=grant.resource,
                expires_at=now + timedelta(seconds=ttl),
            )
        )
    grant.last_used = now
    audit.record(
        db, audit.OAUTH_TOKENS_ISSUED, actor=grant.user_id, targets={"client_id": grant.client_id, "grant_id": grant.id}
    )
    return IssuedTokens(access, refresh, settings.oauth_access_token_ttl_seconds, scopes)


def load_token(db: Session, raw: str, kind: str) -> OAuthToken | None:
    if len(raw) > 128:
        return None
    token = db.get(OAuthToken, sha256_hex(raw))
    return token if token is not None and token.kind == kind else None


def spend_refresh_token(db: Session, raw: str) -> OAuthToken | None:
    """Mark a refresh token used, once; None if it was already spent or revoked."""
    return db.execute(
        update(OAuthToken)
        .where(
            OAuthToken.token_hash == sha256_hex(raw),
            OAuthToken.kind == "refresh",
            OAuthToken.used_at.is_(None),
            OAuthToken.revoked.is_(False),
        )
        .values(used_at=func.now())
        .returning(OAuthToken)
    ).scalar_one_or_none()


def revoke_grant(db: Session, grant_id: uuid.UUID, *, reason: str) -> None:
    grant = db.execute(
        update(OAuthGrant)
        .where(OAuthGrant.id == grant_id, OAuthGrant.revoked.is_(False))
        .values(revoked=True)
        .returning(OAuthGrant.user_id, OAuthGrant.client_id)
    ).first()
    db.execute(update(OAuthToken).where(OAuthToken.grant_id == grant_id).values(revoked=True))
    if grant is not None:
        audit.record(
            db,
            audit.OAUTH_GRANT_REVOKED,
            actor=grant.user_id,
            targets={"grant_id": grant_id, "client_id": grant.client_id, "reason": reason},
        )


def revoke_token(db: Session, token: OAuthToken) -> None:
    """RFC 7009: a refresh token takes its whole grant with it."""
    if token.kind == "refresh":
        revoke_grant(db, token.grant_id, reason="refresh token revoked")
    else:
        db.execute(update(OAuthToken).where(OAuthToken.token_hash == token.token_hash).values(revoked=True))
        audit.record(
            db,
            audit.OAUTH_TOKEN_REVOKED,
            actor=token.user_id,
            targets={"grant_id": token.grant_id, "client_id": token.client_id},
        )


def verify_access_token(db: Session, raw: str, *, audience: str) -> Principal | None:
    row = db.execute(
        select(OAuthToken, User, OAuthGrant.space_ids, OAuthGrant.space_scopes)
        .join(User, User.id == OAuthToken.user_id)
        .join(OAuthGrant, OAuthGrant.id == OAuthToken.grant_id)
        .where(
            OAuthToken.token_hash == sha256_hex(raw),
            OAuthToken.kind == "access",
            OAuthToken.revoked.is_(False),
            OAuthToken.expires_at > func.now(),
            OAuthGrant.revoked.is_(False),
            User.is_active.is_(True),
        )
    ).one_or_none()
    if row is None:
        return None
    token, user, space_ids, space_scopes = row
    if token.audience.rstrip("/") != audience.rstrip("/"):
        return None
    return Principal(
        user_id=user.id,
        email=user.email,
        scopes=frozenset(token.scopes),
        credential_type="oauth_token",
        credential_id=token.grant_id,
        space_ids=None if space_ids is None else frozenset(space_ids),
        space_scopes=space_scopes_of(space_scopes),
    )


# --- connections (grants seen from the user's side) ------------------------------


def list_connections(db: Session, *, user_id: uuid.UUID, settings: Settings) -> list[dict[str, Any]]:
    grants = db.scalars(
        select(OAuthGrant)
        .where(OAuthGrant.user_id == user_id, OAuthGrant.revoked.is_(False))
        .order_by(OAuthGrant.created_at.desc())
    )
    connections = []
    for grant in grants:
        client = load_client(db, grant.client_id, settings)
        connections.append(
            {
                "id": str(grant.id),
                "client_id": grant.client_id,
                "client_name": (client.name if client else None) or grant.client_id,
                "redirect_host": destination_host(client.redirect_uris[0]) if client and client.redirect_uris else None,
                "registered_at": client.registered_at.isoformat() if client and client.registered_at else None,
                "scopes": grant.scopes,
                "space_ids": None if grant.space_ids is None else [str(space) for space in grant.space_ids],
                "space_scopes": grant.space_scopes,
                "connected_at": grant.created_at.isoformat(),
                "last_used": grant.last_used.isoformat() if grant.last_used else None,
            }
        )
    return connections


def narrow(
    db: Session,
    *,
    user_id: uuid.UUID,
    grant_id: uuid.UUID,
    keep: set[str],
    keep_spaces: list[uuid.UUID] | None = None,
) -> bool:
    """Take rights away from a connected client: its grant and every token
    of it (refresh tokens too, so none can win them back) keep only ``keep``
    of what they hold, and only ``keep_spaces`` of the spaces it reaches
    (None: as they are), from the next request on (tokens are checked
    against their grant on every request). False when the grant is not this
    user's live one; never widens."""
    grant = db.get(OAuthGrant, grant_id, with_for_update=True)
    if grant is None or grant.user_id != user_id or grant.revoked:
        return False
    if keep_spaces is not None:
        held = grant.space_ids
        narrower = keep_spaces if held is None else [space for space in held if space in keep_spaces]
        if narrower != held:
            grant.space_ids = narrower
            audit.record(
                db,
                audit.OAUTH_GRANT_NARROWED,
                actor=user_id,
                targets={"grant_id": grant_id, "client_id": grant.client_id, "spaces": len(narrower)},
            )
    kept = [scope for scope in grant.scopes if scope in keep]
    removed = [scope for scope in grant.scopes if scope not in keep]
    if not removed:
        return True
    grant.scopes = kept
    for token in db.scalars(select(OAuthToken).where(OAuthToken.grant_id == grant_id).with_for_update()):
        token.scopes = [scope for scope in token.scopes if scope in keep]
    audit.record(
        db,
        audit.OAUTH_GRANT_NARROWED,
        actor=user_id,
        targets={"grant_id": grant_id, "client_id": grant.client_id, "removed": removed},
    )
    return True


def disconnect(db: Session, *, user_id: uuid.UUID, grant_id: uuid.UUID) -> bool:
    grant = db.get(OAuthGrant, grant_id)
    if grant is None or grant.user_id != user_id or grant.revoked:
        return False
    revoke_grant(db, grant_id, reason="disconnected by the user")
    return True


def client_names(db: Session, client_ids: Iterable[str]) -> dict[str, str]:
    """Registered clients' names by client id (those that gave one)."""
    wanted = list(client_ids)
    if not wanted:
        return {}
    rows = db.execute(select(OAuthClient.client_id, OAuthClient.client_name).where(OAuthClient.client_id.in_(wanted)))
    return {client_id: name for client_id, name in rows if name}
