"""The database side of a Google/GitHub sign-in, from redirect to session.

1. ``start_login`` stores a state row (PKCE verifier, nonce, the hash of a
   browser-binding cookie, the post-login path), valid for 10 minutes.
2. ``claim_state`` checks a callback's state — it exists, is unexpired, is for
   this provider and this browser — and claims it atomically, so of several
   concurrent callbacks exactly one proceeds.
3. ``release_state`` un-claims it when the code exchange fails (retry works).
4. ``complete_login`` creates or updates the user and a session and deletes the
   state row, all in one transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, update
from sqlalchemy.orm import Session

from core import audit
from core.crypto import sha256_hex
from identity import accounts
from oauth import ProviderIdentity, new_code_verifier
from oauth_models import OAuthState

STATE_TTL = timedelta(minutes=10)

LOGIN_EXPIRED = "This sign-in link has expired or was already used. Please sign in again."
LOGIN_WRONG_BROWSER = "This sign-in was started in a different browser. Please sign in again here."
ACCOUNT_DISABLED = "This account is disabled."


class LoginRefused(Exception):
    """The callback cannot complete; the message is shown to the person."""


@dataclass(frozen=True)
class ClaimedLogin:
    state: str
    verifier: str
    nonce: str | None
    next_path: str | None


def start_login(
    db: Session, *, provider: str, browser_binding: str, next_path: str | None, uses_nonce: bool
) -> ClaimedLogin:
    db.execute(delete(OAuthState).where(OAuthState.expires_at < func.now()))
    login = ClaimedLogin(
        state=secrets.token_urlsafe(32),
        verifier=new_code_verifier(),
        nonce=secrets.token_urlsafe(24) if uses_nonce else None,
        next_path=next_path,
    )
    db.add(
        OAuthState(
            state=login.state,
            provider=provider,
            code_verifier=login.verifier,
            nonce=login.nonce,
            browser_binding_hash=sha256_hex(browser_binding),
            next_path=next_path,
            expires_at=datetime.now(UTC) + STATE_TTL,
        )
    )
    return login


def claim_state(db: Session, *, state: str, provider: str, browser_binding: str | None) -> ClaimedLogin:
    row = db.get(OAuthState, state) if state and len(state) <= 128 else None
    if row is None or row.provider != provider or row.expires_at <= datetime.now(UTC):
        raise LoginRefused(LOGIN_EXPIRED)
    presented = sha256_hex(browser_binding or "")
    if not browser_binding or not secrets.compare_digest(presented, row.browser_binding_hash):
        raise LoginRefused(LOGIN_WRONG_BROWSER)
    claimed = db.execute(
        update(OAuthState)
        .where(OAuthState.state == state, OAuthState.claimed_at.is_(None))
        .values(claimed_at=func.now())
        .returning(OAuthState.state)
    ).first()
    if claimed is None:
        raise LoginRefused(LOGIN_EXPIRED)
    return ClaimedLogin(state=row.state, verifier=row.code_verifier, nonce=row.nonce, next_path=row.next_path)


def release_state(db: Session, *, state: str) -> None:
    db.execute(update(OAuthState).where(OAuthState.state == state).values(claimed_at=None))


def complete_login(
    db: Session,
    *,
    state: str,
    identity: ProviderIdentity,
    max_age_seconds: int,
    ip: str | None,
    user_agent: str | None,
) -> str:
    """Returns the raw session token for the cookie."""
    user = accounts.upsert_user(
        db,
        provider=identity.provider,
        subject=identity.subject,
        email=identity.email,
        name=identity.name,
        avatar_url=identity.avatar_url,
    )
    if not user.is_active:
        raise LoginRefused(ACCOUNT_DISABLED)
    token = accounts.create_session(db, user=user, max_age_seconds=max_age_seconds, ip=ip, user_agent=user_agent)
    audit.record(db, audit.LOGIN, actor=user.id, targets={"provider": identity.provider}, address=ip)
    consumed = db.execute(delete(OAuthState).where(OAuthState.state == state).returning(OAuthState.state))
    if consumed.first() is None:
        raise LoginRefused(LOGIN_EXPIRED)
    return token


def local_owner_session(db: Session, *, max_age_seconds: int, ip: str | None, user_agent: str | None) -> str:
    """Sign the local owner in (local mode only; callers check that)."""
    owner = accounts.local_owner(db)
    token = accounts.create_session(db, user=owner, max_age_seconds=max_age_seconds, ip=ip, user_agent=user_agent)
    audit.record(db, audit.LOGIN, actor=owner.id, targets={"provider": accounts.LOCAL_PROVIDER}, address=ip)
    return token
