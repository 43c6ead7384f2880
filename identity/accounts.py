"""Users and browser sessions.

Users are identified by (provider, subject). Browser sessions are random
tokens that live only in the ``mg_session`` cookie; the database keeps their
SHA-256, so a leaked table cannot be replayed as cookies.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core import audit
from core.crypto import sha256_hex
from core.settings import LOCAL_OWNER_EMAIL
from oauth_models import User, UserSession

LOCAL_PROVIDER = "local"
LOCAL_OWNER_SUBJECT = "local"
CLIENT_CREDENTIALS_PROVIDER = "client_credentials"
SESSION_COOKIE = "mg_session"
MAX_SESSION_TOKEN_CHARS = 128


def upsert_user(
    db: Session,
    *,
    provider: str,
    subject: str,
    email: str,
    name: str | None = None,
    avatar_url: str | None = None,
    record_login: bool = True,
) -> User:
    """Get or create the user for (provider, subject), refreshing profile fields."""
    values: dict[str, Any] = {
        "oauth_provider": provider,
        "oauth_subject": subject,
        "email": email,
        "name": name,
        "avatar_url": avatar_url,
    }
    changes: dict[str, Any] = {"email": email, "name": name, "avatar_url": avatar_url}
    if record_login:
        values["last_login"] = func.now()
        changes["last_login"] = func.now()
    statement = insert(User).values(**values)
    user_id = db.execute(
        statement.on_conflict_do_update(constraint="uq_users_provider_subject", set_=changes).returning(User.id)
    ).scalar_one()
    return db.get_one(User, user_id, populate_existing=True)


def local_owner(db: Session) -> User:
    """The single owner used when REQUIRE_MCP_AUTH=false (and by the CLI's default)."""
    return upsert_user(
        db,
        provider=LOCAL_PROVIDER,
        subject=LOCAL_OWNER_SUBJECT,
        email=LOCAL_OWNER_EMAIL,
        name="Local owner",
        record_login=False,
    )


def user_for_email(db: Session, email: str) -> User:
    """A CLI-created account: provider 'local', keyed by the lower-cased e-mail."""
    email = email.strip().lower()
    if email == LOCAL_OWNER_EMAIL:
        return local_owner(db)
    return upsert_user(db, provider=LOCAL_PROVIDER, subject=f"email:{email}", email=email, record_login=False)


def create_session(db: Session, *, user: User, max_age_seconds: int, ip: str | None, user_agent: str | None) -> str:
    """Store a new session and return the raw token for the cookie."""
    token = secrets.token_urlsafe(32)
    db.add(
        UserSession(
            user_id=user.id,
            token_hash=sha256_hex(token),
            expires_at=datetime.now(UTC) + timedelta(seconds=max_age_seconds),
            ip=ip,
            user_agent=(user_agent or "")[:500] or None,
        )
    )
    return token


# A session unused for this long ends, whatever its absolute expiry.
SESSION_IDLE_TIMEOUT = timedelta(hours=24)
# last_activity is refreshed at most this often, not on every request.
ACTIVITY_RESOLUTION = timedelta(minutes=1)


def user_for_session_token(db: Session, token: str | None) -> User | None:
    if not token or len(token) > MAX_SESSION_TOKEN_CHARS:
        return None
    now = datetime.now(UTC)
    row = db.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(
            UserSession.token_hash == sha256_hex(token),
            UserSession.revoked.is_(False),
            UserSession.expires_at > now,
            UserSession.last_activity > now - SESSION_IDLE_TIMEOUT,
            User.is_active.is_(True),
        )
    ).one_or_none()
    if row is None:
        return None
    session, user = row
    if now - session.last_activity > ACTIVITY_RESOLUTION:
        session.last_activity = now
    return user


def sign_out(db: Session, token: str | None) -> uuid.UUID | None:
    """End this browser session, audited; returns its user's id (None if none)."""
    user_id = revoke_session(db, token)
    if user_id is not None:
        audit.record(db, audit.LOGOUT, actor=user_id)
    return user_id


def sign_out_everywhere(db: Session, user_id: uuid.UUID) -> int:
    """End every browser session of this user, audited; returns how many."""
    ended = revoke_all_sessions(db, user_id)
    audit.record(db, audit.LOGOUT_EVERYWHERE, actor=user_id, targets={"sessions": ended})
    return ended


def revoke_session(db: Session, token: str | None) -> uuid.UUID | None:
    """Revoke one session; returns its user's id (None if there was none)."""
    if not token or len(token) > MAX_SESSION_TOKEN_CHARS:
        return None
    return db.execute(
        update(UserSession)
        .where(UserSession.token_hash == sha256_hex(token), UserSession.revoked.is_(False))
        .values(revoked=True)
        .returning(UserSession.user_id)
    ).scalar_one_or_none()


def revoke_all_sessions(db: Session, user_id: uuid.UUID) -> int:
    """'Log out everywhere': every browser session of this user ends now."""
    ended = db.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked.is_(False))
        .values(revoked=True)
        .returning(UserSession.id)
    )
    return len(ended.all())


def get_user(db: Session, user_id: uuid.UUID) -> User | None:
    return db.get(User, user_id)
