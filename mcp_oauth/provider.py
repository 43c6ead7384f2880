"""The MCP SDK's authorization-server handlers, backed by records.py.

The SDK's handlers (mcp.server.auth.handlers) do the protocol validation of
registration, /authorize, /token and /revoke; this module supplies what they
call into:

* ``PostgresOAuthProvider`` — the SDK's provider protocol over PostgreSQL,
  running every database step in a worker thread;
* ``HashedSecretAuthenticator`` — client authentication against SHA-256
  hashes (the SDK's own authenticator needs secrets in plaintext);
* ``RegisteredClient`` — the SDK's client model, with RFC 8252 loopback
  redirect URIs whose port may vary, and our default scopes.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio.to_thread
from mcp.server.auth.middleware.client_auth import AuthenticationError
from mcp.server.auth.provider import (
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    RefreshToken,
    RegistrationError,
    TokenError,
)
from mcp.shared.auth import InvalidRedirectUriError, InvalidScopeError, OAuthClientInformationFull, OAuthToken
from pydantic import AnyUrl
from sqlalchemy.orm import Session
from starlette.requests import Request

from core.addresses import is_loopback
from core.crypto import sha256_hex
from core.principal import MEMORY_SCOPES
from core.settings import Settings
from identity import oauth_records as records
from mcp_oauth import client_documents

MAX_REDIRECT_URIS = 10
log = logging.getLogger("memorygate.oauth")


def is_loopback_http(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and is_loopback(parts.hostname)


MAX_REDIRECT_URI_CHARS = 2_000
MAX_CLIENT_NAME_CHARS = 200
MAX_METADATA_URL_CHARS = 2_000


def redirect_uri_allowed_at_registration(uri: str) -> bool:
    """https, or http on loopback; no fragment, and no user-info, which only
    serves to make ``https://claude.ai@evil.example/`` look like claude.ai."""
    parts = urlsplit(uri)
    if parts.fragment or not parts.hostname or "@" in parts.netloc or len(uri) > MAX_REDIRECT_URI_CHARS:
        return False
    return parts.scheme == "https" or is_loopback_http(uri)


def redirect_matches(presented: str, registered: str) -> bool:
    """Exact match, except that a loopback port may differ (RFC 8252 §7.3)."""
    if presented == registered:
        return True
    if not (is_loopback_http(presented) and is_loopback_http(registered)):
        return False
    a, b = urlsplit(presented), urlsplit(registered)
    return (a.hostname, a.path, a.query) == (b.hostname, b.path, b.query)


class RegisteredClient(OAuthClientInformationFull):
    def validate_redirect_uri(self, redirect_uri: Any) -> Any:
        if redirect_uri is None:
            return super().validate_redirect_uri(None)
        if any(redirect_matches(str(redirect_uri), str(registered)) for registered in self.redirect_uris or []):
            return redirect_uri
        raise InvalidRedirectUriError(f"Redirect URI '{redirect_uri}' is not registered for this client")

    def validate_scope(self, requested_scope: str | None) -> list[str] | None:
        allowed = self.scope.split() if self.scope else list(MEMORY_SCOPES)
        if requested_scope is None or not requested_scope.strip():
            return allowed
        requested = list(dict.fromkeys(requested_scope.split()))
        unknown = [scope for scope in requested if scope not in allowed]
        if unknown:
            raise InvalidScopeError(f"Scope {unknown[0]!r} is not available to this client")
        return requested


class GrantCode(AuthorizationCode):
    grant_id: str


class GrantRefreshToken(RefreshToken):
    grant_id: str


def _sdk_client(record: records.ClientRecord) -> RegisteredClient:
    return RegisteredClient(
        client_id=record.client_id,
        client_name=record.name,
        redirect_uris=[AnyUrl(uri) for uri in record.redirect_uris],
        grant_types=record.grant_types,
        token_endpoint_auth_method=record.auth_method,
        scope=record.scope,
        response_types=["code"],
    )


class PostgresOAuthProvider:
    def __init__(self, session_factory: Callable[[], Session], settings: Settings) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.documents = client_documents.DocumentFetcher(
            allowed_hosts=frozenset(settings.client_metadata_allowed_hosts),
            ca_file=settings.client_metadata_ca_file,
        )

    async def _in_transaction(self, work: Callable[[Session], Any]) -> Any:
        def run() -> Any:
            with self.session_factory() as db:
                try:
                    result = work(db)
                    db.commit()
                    return result
                except BaseException:
                    db.rollback()
                    raise

        return await anyio.to_thread.run_sync(run)

    async def client_record(self, client_id: str) -> records.ClientRecord | None:
        return await self._in_transaction(lambda db: records.load_client(db, client_id, self.settings))

    async def get_client(self, client_id: str) -> RegisteredClient | None:
        if client_documents.is_document_client_id(client_id):
            record = await self.document_client(client_id)
        else:
            record = await self.client_record(client_id)
        return _sdk_client(record) if record else None

    async def document_client(self, client_id: str) -> records.ClientRecord | None:
        """A client known by its metadata document: as kept while its
        caching headers allow, else fetched again (no database session is
        held while the document is fetched)."""
        kept = await self.client_record(client_id)
        if kept is not None and kept.metadata.get("document_expires_at", "") > datetime.now(UTC).isoformat():
            return kept
        try:
            document = await anyio.to_thread.run_sync(self.documents.fetch, client_id)
        except client_documents.ClientDocumentError as exc:
            log.info("client metadata document refused for %s: %s", client_id[:200], exc)
            return None
        uris = [uri for uri in document.redirect_uris if redirect_uri_allowed_at_registration(uri)]
        if not uris:
            log.info("client metadata document refused for %s: no https or loopback redirect URI", client_id[:200])
            return None
        record = records.ClientRecord(
            client_id=client_id,
            secret_hash=None,
            auth_method="none",
            name=(document.client_name or "")[:MAX_CLIENT_NAME_CHARS] or None,
            redirect_uris=uris[:MAX_REDIRECT_URIS],
            grant_types=document.grant_types,
            scope=document.scope,
            metadata={"document_host": document.host, "document_expires_at": document.expires_at.isoformat()},
        )
        await self._in_transaction(lambda db: records.keep_document_client(db, record))
        return await self.client_record(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        uris = [str(uri) for uri in client_info.redirect_uris or []]
        if len(uris) > MAX_REDIRECT_URIS:
            raise RegistrationError("invalid_redirect_uri", f"at most {MAX_REDIRECT_URIS} redirect_uris")
        bad = [uri for uri in uris if not redirect_uri_allowed_at_registration(uri)]
        if bad:
            raise RegistrationError(
                "invalid_redirect_uri",
                f"redirect_uris must be https or loopback http, without user-info, at most "
                f"{MAX_REDIRECT_URI_CHARS} characters: {bad[0][:100]}",
            )
        if client_info.client_name and len(client_info.client_name) > MAX_CLIENT_NAME_CHARS:
            raise RegistrationError(
                "invalid_client_metadata", f"client_name is longer than {MAX_CLIENT_NAME_CHARS} characters"
            )
        for name in ("client_uri", "software_id", "scope"):
            value = getattr(client_info, name)
            if value is not None and len(str(value)) > MAX_METADATA_URL_CHARS:
                raise RegistrationError("invalid_client_metadata", f"{name} is longer than {MAX_METADATA_URL_CHARS}")
        record = records.ClientRecord(
            client_id=client_info.client_id,
            secret_hash=sha256_hex(client_info.client_secret) if client_info.client_secret else None,
            auth_method=client_info.token_endpoint_auth_method or "client_secret_post",
            name=client_info.client_name,
            redirect_uris=uris,
            grant_types=list(client_info.grant_types),
            scope=client_info.scope,
            metadata={
                k: str(v)
                for k, v in (("client_uri", client_info.client_uri), ("software_id", client_info.software_id))
                if v
            },
        )
        await self._in_transaction(lambda db: records.store_client(db, record))

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        resource = self.settings.mcp_url
        if params.resource is not None and params.resource.rstrip("/") != resource:
            raise AuthorizeError("invalid_target", f"this server only issues tokens for {resource}")
        request_id = await self._in_transaction(
            lambda db: records.create_pending(
                db,
                client_id=client.client_id,
                redirect_uri=str(params.redirect_uri),
                redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
                code_challenge=params.code_challenge,
                scopes=params.scopes or list(MEMORY_SCOPES),
                resource=resource,
                state=params.state,
            )
        )
        return f"{self.settings.public_base_url}/oauth/consent?request={request_id}"

    async def load_authorization_code(self, client: OAuthClientInformationFull, authorization_code: str) -> Any:
        row = await self._in_transaction(lambda db: records.load_code(db, authorization_code))
        if row is None or row.client_id != client.client_id:
            return None
        return GrantCode(
            code=authorization_code,
            scopes=row.scopes,
            expires_at=row.expires_at.timestamp(),
            client_id=row.client_id,
            code_challenge=row.code_challenge,
            redirect_uri=row.redirect_uri,
            redirect_uri_provided_explicitly=row.redirect_uri_provided_explicitly,
            resource=row.resource,
            grant_id=str(row.grant_id),
        )

    async def exchange_authorization_code(self, client: OAuthClientInformationFull, authorization_code: Any) -> Any:
        def exchange(db: Session) -> records.IssuedTokens:
            row = records.redeem_code(db, authorization_code.code)
            grant = records.grant_of(db, row.grant_id) if row else None
            if row is None or grant is None or row.client_id != client.client_id:
                raise TokenError("invalid_grant", "authorization code was already used or has expired")
            return records.issue_tokens(db, grant=grant, scopes=row.scopes, settings=self.settings)

        return _token_response(await self._in_transaction(exchange))

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> Any:
        def load(db: Session) -> Any:
            row = records.load_token(db, refresh_token, "refresh")
            if row is None or row.client_id != client.client_id:
                return None
            if row.used_at is not None:
                # A spent refresh token came back: assume theft, end the grant.
                records.revoke_grant(db, row.grant_id, reason="spent refresh token reused")
                return None
            if row.revoked:
                return None
            return GrantRefreshToken(
                token=refresh_token,
                client_id=row.client_id,
                scopes=row.scopes,
                expires_at=int(row.expires_at.timestamp()),
                resource=row.audience,
                grant_id=str(row.grant_id),
            )

        return await self._in_transaction(load)

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: Any, scopes: list[str]
    ) -> OAuthToken:
        def rotate(db: Session) -> records.IssuedTokens | None:
            spent = records.spend_refresh_token(db, refresh_token.token)
            grant = records.grant_of(db, spent.grant_id) if spent else None
            if spent is None or grant is None:
                return None
            return records.issue_tokens(db, grant=grant, scopes=scopes, settings=self.settings)

        issued = await self._in_transaction(rotate)
        if issued is None:
            # Lost a race with another use of the same token: that is reuse too.
            await self._in_transaction(lambda db: _revoke_grant_of(db, refresh_token.token))
            raise TokenError("invalid_grant", "refresh token was already used")
        return _token_response(issued)

    async def revoke_for_client(self, client_id: str, raw_token: str) -> None:
        """Revoke an access or refresh token, if it belongs to this client."""

        def revoke(db: Session) -> None:
            for kind in ("access", "refresh"):
                row = records.load_token(db, raw_token, kind)
                if row is not None and row.client_id == client_id:
                    records.revoke_token(db, row)

        await self._in_transaction(revoke)


def _revoke_grant_of(db: Session, raw_refresh_token: str) -> None:
    row = records.load_token(db, raw_refresh_token, "refresh")
    if row is not None:
        records.revoke_grant(db, row.grant_id, reason="spent refresh token reused")


def _token_response(issued: records.IssuedTokens) -> OAuthToken:
    return OAuthToken(
        access_token=issued.access_token,
        token_type="Bearer",
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        scope=" ".join(issued.scopes),
    )


class HashedSecretAuthenticator:
    """Client authentication for /token and /revoke: none, client_secret_post
    or client_secret_basic, compared against the stored SHA-256."""

    def __init__(self, provider: PostgresOAuthProvider) -> None:
        self.provider = provider

    async def authenticate_request(self, request: Request) -> RegisteredClient:
        form = await request.form()
        client_id = form.get("client_id")
        basic_id, basic_secret = _basic_credentials(request.headers.get("authorization"))
        if basic_id is not None and client_id and basic_id != client_id:
            raise AuthenticationError("client_id does not match the Basic credentials")
        client_id = client_id or basic_id
        if not isinstance(client_id, str) or not client_id:
            raise AuthenticationError("Missing client_id")
        record = await self.provider.client_record(client_id)
        if record is None:
            raise AuthenticationError("Unknown client")
        if record.secret_hash is not None:
            presented = basic_secret if basic_secret is not None else form.get("client_secret")
            if not isinstance(presented, str) or not presented:
                raise AuthenticationError("Client secret is required")
            if not secrets.compare_digest(sha256_hex(presented), record.secret_hash):
                raise AuthenticationError("Invalid client credentials")
        return _sdk_client(record)


def _basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    if not header or not header.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationError("Invalid Basic authentication header") from None
    if ":" not in decoded:
        raise AuthenticationError("Invalid Basic authentication header")
    client_id, secret = decoded.split(":", 1)
    return unquote(client_id), unquote(secret)
