"""Account tables: users, browser sessions, API keys, sign-in state, and the
tables of MemoryGate's own OAuth 2.1 authorization server (clients, pending
authorizations, grants, codes, tokens).

Same declarative Base as models.py. No secret is stored in plaintext: session
tokens, browser-binding cookies, client secrets, codes and OAuth tokens are
kept as SHA-256 hashes, API keys as bcrypt hashes with a non-secret prefix.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import Base


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def _user_fk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("oauth_provider", "oauth_subject", name="uq_users_provider_subject"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    email: Mapped[str] = mapped_column(String(320), nullable=False, index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    avatar_url: Mapped[str | None] = mapped_column(String(2000))
    # Identity is (provider, subject): Google's `sub`, GitHub's numeric id —
    # never the e-mail address or login, which can change hands.
    oauth_provider: Mapped[str] = mapped_column(String(50), nullable=False)
    oauth_subject: Mapped[str] = mapped_column(String(200), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[datetime] = _now()
    last_login: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Keep the turns of conversations that clients append (off: appends store nothing).
    capture_conversations: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )


class UserSession(Base):
    __tablename__ = "user_sessions"

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = _user_fk()
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # Set while one callback is exchanging the code, so a concurrent callback
    # with the same state is refused; cleared again if the exchange fails.
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity: Mapped[datetime] = _now()
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    user: Mapped[User] = relationship()


class APIKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = _user_fk()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    key_prefix: Mapped[str] = mapped_column(String(32), nullable=False, unique=True, index=True)
    key_hash: Mapped[str] = mapped_column(String(100), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text('\'["memory:read", "memory:write", "memory:forget", "account:manage"]\'::jsonb'),
    )
    created_at: Mapped[datetime] = _now()
    last_used: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    usage_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # The spaces it may reach (None: every space of the account, present and future).
    space_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))
    # Fewer rights in some spaces: space id (or "*", every other) -> scopes (migration 0029).
    space_scopes: Mapped[dict[str, list[str]] | None] = mapped_column(JSONB)

    user: Mapped[User] = relationship()


class OAuthState(Base):
    """A login in flight: one row per redirect to Google or GitHub."""

    __tablename__ = "oauth_states"

    state: Mapped[str] = mapped_column(String(128), primary_key=True)
    provider: Mapped[str] = mapped_column(String(50), nullable=False)
    code_verifier: Mapped[str] = mapped_column(String(128), nullable=False)
    nonce: Mapped[str | None] = mapped_column(String(128))
    browser_binding_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    next_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # Set while one callback is exchanging the code, so a concurrent callback
    # with the same state is refused; cleared again if the exchange fails.
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- MemoryGate as an OAuth 2.1 authorization server for MCP clients ---------------


class OAuthClient(Base):
    """A client registered through RFC 7591 dynamic client registration."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    # SHA-256 of the client secret (high-entropy, server-generated); None for public clients.
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(40), nullable=False)
    client_name: Mapped[str | None] = mapped_column(String(200))
    redirect_uris: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    grant_types: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    scope: Mapped[str | None] = mapped_column(String(200))
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = _now()


class OAuthPendingAuthorization(Base):
    """An /oauth/authorize request waiting for the person's sign-in and consent."""

    __tablename__ = "oauth_pending_authorizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(512), nullable=False)
    redirect_uri: Mapped[str] = mapped_column(Text, nullable=False)
    redirect_uri_provided_explicitly: Mapped[bool] = mapped_column(Boolean, nullable=False)
    code_challenge: Mapped[str] = mapped_column(String(128), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    resource: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str | None] = mapped_column(Text)
    # Set when the consent page is shown: the viewing session (as SHA-256), so
    # only that session can answer, with the form token derived from it.
    session_hash: Mapped[str | None] = mapped_column(String(64))
    # No longer written: the consent form's token is derived (core.crypto.form_token).
    # Kept while instances of the previous release may still run; drop it in a later migration.
    csrf_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class OAuthGrant(Base):
    """One consent: a user connected a client. Disconnecting revokes its tokens."""

    __tablename__ = "oauth_grants"

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = _user_fk()
    client_id: Mapped[str] = mapped_column(String(512), nullable=False, index=True)
    scopes: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    resource: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = _now()
    last_used: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # The spaces its tokens may reach (None: every space of the account, present and future).
    space_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))
    # Fewer rights in some spaces: space id (or "*", every other) -> scopes (migration 0029).
    space_scopes: Mapped[dict[str, list[str]] | None] = mapped_column(JSONB)


class OAuthAuthorizationCode(Base):
    __tablename__ = "oauth_authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("oauth_grants.id", ondelete="CASCADE"), nullable=False
    )
    client_id: Mapped[str] = mapped_column(String(512), nullable=False)
    redirect_uri: Mapped[str] = mapped_column(Text, nullable=False)
    redirect_uri_provided_explicitly: Mapped[bool] = mapped_column(Boolean, nullable=False)
    code_challenge: Mapped[str] = mapped_column(String(128), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    resource: Mapped[str] = mapped_column(Text, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class OAuthToken(Base):
    """Opaque access and refresh tokens, stored as SHA-256 only."""

    __tablename__ = "oauth_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # "access" | "refresh"
    grant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("oauth_grants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[uuid.UUID] = _user_fk()
    client_id: Mapped[str] = mapped_column(String(512), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    audience: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # A refresh token is spent once it has been exchanged (rotation).
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
