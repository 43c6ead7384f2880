"""HTTP routes for sign-in, sessions, API keys and client credentials.

An ``APIRouter`` only: it reads settings, providers and the auth state from
``request.app.state`` (set by server.py), and its sessions from the app's own database.
"""

from __future__ import annotations

import math
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

import anyio.to_thread
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Security
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

import auth_middleware
from core import audit
from core.principal import ALL_SCOPES, WRITE_SCOPE
from core.settings import Settings
from identity import accounts, api_keys, provider_login
from identity import oauth_records as records
from identity.browser_sign_in import FOREIGN_ORIGIN, origin_of, set_session_cookie
from oauth import OAuthProviderError, Provider
from oauth_models import User
from web.dependencies import DB, NO_STORE
from web.pages import message_page

COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in, or no valid API key"},
    403: {"description": "Cross-site request, or a key asking for more than it has"},
    404: {"description": "Not found, or not configured on this server"},
    413: {"description": "Request body too large"},
    429: {"description": "Too many attempts; see Retry-After"},
}
router = APIRouter(prefix="/auth", tags=["auth"], responses=COMMON_RESPONSES)

# Declared for the OpenAPI schema (clients and schemathesis see how to
# authenticate); auth_middleware does the actual parsing of these headers.
bearer_scheme = HTTPBearer(auto_error=False, description="Authorization: Bearer mg_... (an API key)")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)
session_scheme = APIKeyCookie(name="mg_session", auto_error=False, description="Browser session")
BROWSER_FLOW: dict[int | str, dict[str, Any]] = {
    302: {"description": "Redirect (to the provider, or back into MemoryGate)"},
    400: {"description": "Sign-in failed; an HTML page explains why", "content": {"text/html": {}}},
}

BINDING_COOKIE = "mg_login_binding"
MAX_ID = 2**63 - 1  # PostgreSQL bigint
CLIENT_KEY_LIFETIME = timedelta(days=90)

NOT_SIGNED_IN = "Sign in, or send an API key (Authorization: Bearer mg_...)."
UNKNOWN_PROVIDER = "Unknown or unconfigured sign-in provider: {provider}"
CLIENT_NOT_CONFIGURED = "Client-credential exchange is not configured on this server."
BAD_CLIENT_CREDENTIALS = "Invalid client credentials."
TOO_MANY_ATTEMPTS = "Too many failed attempts. Try again later."
READ_ONLY_CANNOT_MANAGE = "A read-only API key cannot manage the account; use a browser session or a read-write key."
SESSION_REQUIRED = "Only a signed-in browser session can do this."


def endpoint_index(base: str, *, providers: list[str]) -> dict[str, str]:
    """The /auth endpoints for the service index; sign-in only where configured."""
    return {
        **{f"login_{name}": f"{base}/auth/login/{name}" for name in providers},
        "logout": f"{base}/auth/logout",
        "me": f"{base}/auth/me",
        "api_keys": f"{base}/auth/api-keys",
        "client_credentials": f"{base}/auth/client",
        "connections": f"{base}/auth/connections",
    }


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.database.sessions


def _state(request: Request) -> auth_middleware.AuthState:
    return request.app.state.auth_state


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def safe_next_path(raw: str | None) -> str | None:
    """A same-site absolute path, or None. Refuses //host, /\\host, schemes and
    their percent-encoded spellings."""
    if not raw or len(raw) > 2000:
        return None
    candidates = [raw]
    decoded = raw
    for _ in range(3):
        decoded = unquote(decoded)
        candidates.append(decoded)
    for candidate in candidates:
        if not candidate.startswith("/") or candidate.startswith("//") or "\\" in candidate:
            return None
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in candidate):
            return None
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return None
    return raw


# --- who is calling -----------------------------------------------------------


def current_user(
    request: Request,
    db: DB,
    _bearer: Annotated[Any, Security(bearer_scheme)] = None,
    _api_key: Annotated[Any, Security(api_key_scheme)] = None,
    _session: Annotated[Any, Security(session_scheme)] = None,
) -> User:
    found = auth_middleware.authenticate(
        db, headers=request.headers, cookies=request.cookies, client_ip=_client_ip(request), state=_state(request)
    )
    if found is None:
        raise HTTPException(status_code=401, detail=NOT_SIGNED_IN, headers={"WWW-Authenticate": "Bearer"})
    request.state.caller = found
    return found.user


def _refuse_foreign_origin(request: Request) -> None:
    """Cookie-borne requests from other sites are refused (CSRF)."""
    origin = request.headers.get("origin")
    if origin and request.cookies.get(accounts.SESSION_COOKIE):
        settings = _settings(request)
        allowed = {settings.public_base_url.rstrip("/"), settings.frontend_url.rstrip("/")}
        allowed |= {o.rstrip("/") for o in settings.cors_extra_origins}
        if origin.rstrip("/") not in {origin_of(url) for url in allowed}:
            raise HTTPException(status_code=403, detail=FOREIGN_ORIGIN)


def account_manager(request: Request, user: Annotated[User, Depends(current_user)]) -> User:
    """Who may read or change the account (keys, connections, the audit
    trail): a browser session, or an API key that may write. A read-only key
    is for reading memories, and cannot reach the keys that guard them."""
    _refuse_foreign_origin(request)
    caller: auth_middleware.Caller = request.state.caller
    if not caller.via_session and WRITE_SCOPE not in caller.scopes:
        raise HTTPException(status_code=403, detail=READ_ONLY_CANNOT_MANAGE)
    return user


def key_creation_refusal(request: Request, db: Session, user_id: uuid.UUID) -> tuple[int, str, float | None] | None:
    """identity.api_keys.creation_refusal with this app's limits."""
    return api_keys.creation_refusal(
        db, user_id=user_id, max_active=_settings(request).max_active_keys, rate=_state(request).key_creation_rate
    )


def session_user(request: Request, user: Annotated[User, Depends(current_user)]) -> User:
    """Only a browser session (ending every session is not a key's business)."""
    _refuse_foreign_origin(request)
    if not request.state.caller.via_session:
        raise HTTPException(status_code=403, detail=SESSION_REQUIRED)
    return user


# --- browser sign-in -----------------------------------------------------------


def _provider(request: Request, name: str) -> Provider:
    provider = request.app.state.oauth_providers.get(name)
    if provider is None:
        raise HTTPException(status_code=404, detail=UNKNOWN_PROVIDER.format(provider=name[:40]))
    return provider


def _callback_url(settings: Settings, provider: str) -> str:
    return f"{settings.public_base_url}/auth/callback/{provider}"


@router.get("/login/{provider}", responses=BROWSER_FLOW)
async def login(request: Request, provider: str, next: str | None = None) -> Response:
    settings = _settings(request)
    oauth_provider = _provider(request, provider)
    # A fresh binding for every sign-in: one planted in the browser
    # beforehand (or left from an earlier sign-in) binds nothing.
    binding = secrets.token_urlsafe(32)

    def store() -> provider_login.ClaimedLogin:
        with _sessions(request).begin() as db:
            return provider_login.start_login(
                db,
                provider=provider,
                browser_binding=binding,
                next_path=safe_next_path(next),
                uses_nonce=oauth_provider.uses_nonce,
            )

    started = await anyio.to_thread.run_sync(store)
    try:
        url = await oauth_provider.authorization_url(
            state=started.state,
            verifier=started.verifier,
            nonce=started.nonce,
            redirect_uri=_callback_url(settings, provider),
        )
    except OAuthProviderError as exc:
        return _login_failed(settings, str(exc))
    response = RedirectResponse(url, status_code=302, headers=NO_STORE)
    response.set_cookie(
        BINDING_COOKIE,
        binding,
        max_age=int(provider_login.STATE_TTL.total_seconds()),
        path="/auth",
        httponly=True,
        secure=settings.served_over_https,
        samesite="lax",
    )
    return response


def _login_failed(settings: Settings, message: str) -> Response:
    return message_page("Sign-in failed", message, status_code=400, home=settings.frontend_url)


@router.get("/callback/{provider}", responses=BROWSER_FLOW)
async def callback(
    request: Request,
    provider: str,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    settings = _settings(request)
    oauth_provider = _provider(request, provider)
    if error:
        reason = "You cancelled the sign-in." if error == "access_denied" else "The provider reported an error."
        return _login_failed(settings, reason)
    if not code or not state or len(code) > 2048:
        return _login_failed(settings, "The sign-in response was incomplete. Please sign in again.")

    def claim() -> provider_login.ClaimedLogin:
        with _sessions(request).begin() as db:
            return provider_login.claim_state(
                db, state=state, provider=provider, browser_binding=request.cookies.get(BINDING_COOKIE)
            )

    def release() -> None:
        with _sessions(request).begin() as db:
            provider_login.release_state(db, state=state)

    try:
        claimed = await anyio.to_thread.run_sync(claim)
    except provider_login.LoginRefused as exc:
        return _login_failed(settings, str(exc))
    try:
        identity = await oauth_provider.exchange(
            code=code, verifier=claimed.verifier, nonce=claimed.nonce, redirect_uri=_callback_url(settings, provider)
        )
    except OAuthProviderError as exc:
        await anyio.to_thread.run_sync(release)
        return _login_failed(settings, str(exc))

    def finish() -> str:
        with _sessions(request).begin() as db:
            return provider_login.complete_login(
                db,
                state=state,
                identity=identity,
                max_age_seconds=settings.session_max_age_seconds,
                ip=_client_ip(request),
                user_agent=request.headers.get("user-agent"),
            )

    try:
        token = await anyio.to_thread.run_sync(finish)
    except provider_login.LoginRefused as exc:
        await anyio.to_thread.run_sync(release)
        return _login_failed(settings, str(exc))
    response = RedirectResponse(claimed.next_path or settings.frontend_url, status_code=302, headers=NO_STORE)
    set_session_cookie(response, settings, token)
    response.delete_cookie(BINDING_COOKIE, path="/auth")
    return response


@router.post("/logout")
def logout(request: Request, db: DB) -> Response:
    _refuse_foreign_origin(request)
    user_id = accounts.sign_out(db, request.cookies.get(accounts.SESSION_COOKIE))
    return _cleared({"logged_out": user_id is not None}, _settings(request))


@router.post("/logout-everywhere")
def logout_everywhere(
    request: Request,
    user: Annotated[User, Depends(session_user)],
    db: DB,
) -> Response:
    """End every browser session of this account (API keys stay valid)."""
    ended = accounts.sign_out_everywhere(db, user.id)
    return _cleared({"logged_out": True, "sessions_ended": ended}, _settings(request))


def _cleared(body: dict[str, Any], settings: Settings) -> Response:
    response = JSONResponse(body, headers=NO_STORE)
    response.delete_cookie(
        accounts.SESSION_COOKIE,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite=settings.session_cookie_samesite,
    )
    return response


@router.get("/audit")
def audit_events(
    user: Annotated[User, Depends(account_manager)],
    db: DB,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_EVENTS_PAGE)] = 50,
) -> dict[str, Any]:
    """The signed-in user's own security events, newest first."""
    return {"events": audit.events_for(db, user_id=user.id, before_id=before, limit=limit)}


@router.get("/me")
def me(user: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "avatar_url": user.avatar_url,
        "provider": user.oauth_provider,
        "created_at": user.created_at.isoformat() if user.created_at else None,
        "last_login": user.last_login.isoformat() if user.last_login else None,
    }


# --- client credentials --------------------------------------------------------


class ClientCredentials(BaseModel):
    client_id: Annotated[str, Field(min_length=1, max_length=200)]
    client_secret: Annotated[str, Field(min_length=1, max_length=500)]


@router.post("/client")
def exchange_client_credentials(request: Request, body: ClientCredentials, db: DB) -> JSONResponse:
    settings = _settings(request)
    if not settings.desktop_client_id or not settings.desktop_client_secret:
        raise HTTPException(status_code=404, detail=CLIENT_NOT_CONFIGURED)
    state = _state(request)
    # Requests and failures count per address only: a count per client id,
    # which anyone can send, would let strangers lock the real client out.
    throttle_key = f"client:{_client_ip(request)}"
    wait = state.client_credentials_rate.hit(f"addr:{_client_ip(request)}")
    wait = wait or state.throttle.retry_after(throttle_key)
    if wait is not None:
        raise HTTPException(status_code=429, detail=TOO_MANY_ATTEMPTS, headers={"Retry-After": str(math.ceil(wait))})
    id_ok = secrets.compare_digest(body.client_id.encode(), settings.desktop_client_id.encode())
    secret_ok = secrets.compare_digest(body.client_secret.encode(), settings.desktop_client_secret.encode())
    if not (id_ok and secret_ok):
        state.throttle.record_failure(throttle_key)
        raise HTTPException(status_code=401, detail=BAD_CLIENT_CREDENTIALS)
    user = accounts.upsert_user(
        db,
        provider=accounts.CLIENT_CREDENTIALS_PROVIDER,
        subject=body.client_id,
        email=f"{body.client_id}@client.memorygate.internal",
        name=body.client_id,
    )
    expires_at = datetime.now(UTC) + CLIENT_KEY_LIFETIME
    audit.record(db, audit.CLIENT_CREDENTIALS_USED, actor=user.id, targets={"client_id": body.client_id})
    key, raw = api_keys.create_key(
        db,
        user_id=user.id,
        name=f"client:{body.client_id}",
        expires_at=expires_at,
        bcrypt_rounds=settings.bcrypt_rounds,
    )
    return JSONResponse(
        {"api_key": raw, "key_prefix": key.key_prefix, "user_id": str(user.id), "expires_at": expires_at.isoformat()},
        headers=NO_STORE,
    )


# --- API keys ------------------------------------------------------------------


class NewAPIKey(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    expires_in_days: Annotated[int | None, Field(ge=1, le=3650)] = None
    scopes: list[Literal["memory:read", "memory:write"]] | None = None


@router.post("/api-keys", status_code=201)
def create_api_key(
    request: Request,
    body: NewAPIKey,
    user: Annotated[User, Depends(account_manager)],
    db: DB,
) -> JSONResponse:
    scopes = tuple(dict.fromkeys(body.scopes or ALL_SCOPES))
    # A key may only mint keys with scopes it holds itself (no escalation).
    if not set(scopes) <= request.state.caller.scopes:
        raise HTTPException(status_code=403, detail="scopes: a key cannot grant scopes its creator lacks")
    refusal = key_creation_refusal(request, db, user.id)
    if refusal is not None:
        status, reason, wait = refusal
        headers = {"Retry-After": str(math.ceil(wait))} if wait else None
        raise HTTPException(status_code=status, detail=reason, headers=headers)
    expires_at = datetime.now(UTC) + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    key, raw = api_keys.create_key(
        db,
        user_id=user.id,
        name=body.name.strip() or "key",
        expires_at=expires_at,
        scopes=scopes,
        bcrypt_rounds=_settings(request).bcrypt_rounds,
    )
    return JSONResponse({"api_key": raw, **api_keys.key_view(key)}, status_code=201, headers=NO_STORE)


@router.get("/api-keys")
def list_api_keys(user: Annotated[User, Depends(account_manager)], db: DB) -> dict[str, Any]:
    return {"api_keys": [api_keys.key_view(key) for key in api_keys.list_keys(db, user_id=user.id)]}


def _id_or_404(raw: str, not_found: str) -> uuid.UUID:
    """A malformed id is just another id that does not exist."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise HTTPException(status_code=404, detail=not_found) from None


@router.delete("/api-keys/{key_id}")
def revoke_api_key(
    request: Request,
    key_id: str,
    user: Annotated[User, Depends(account_manager)],
    db: DB,
) -> dict[str, Any]:
    parsed = _id_or_404(key_id, "API key not found")
    if not api_keys.revoke_key(db, user_id=user.id, key_id=parsed, cache=_state(request).cache):
        raise HTTPException(status_code=404, detail="API key not found")
    return {"revoked": True, "id": key_id}


# --- connected MCP clients (OAuth grants) ----------------------------------------


@router.get("/connections")
def list_connections(request: Request, user: Annotated[User, Depends(account_manager)], db: DB) -> dict[str, Any]:
    return {"connections": records.list_connections(db, user_id=user.id, settings=_settings(request))}


@router.delete("/connections/{grant_id}")
def disconnect(
    grant_id: str,
    user: Annotated[User, Depends(account_manager)],
    db: DB,
) -> dict[str, Any]:
    """Revoke every token of that client at once."""
    parsed = _id_or_404(grant_id, "Connection not found")
    if not records.disconnect(db, user_id=user.id, grant_id=parsed):
        raise HTTPException(status_code=404, detail="Connection not found")
    return {"disconnected": True, "id": grant_id}
