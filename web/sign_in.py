"""Browser sign-in with Google or GitHub, and signing out: the routes under
``/auth`` that set and clear the ``mg_session`` cookie."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from identity import accounts, provider_login
from identity.browser_sign_in import set_session_cookie
from oauth import OAuthProviderError, Provider
from web.dependencies import DB, BrowserSession, client_ip, refuse_foreign_origin, settings_of
from web.pages import NO_STORE, message_page

router = APIRouter()

BROWSER_FLOW: dict[int | str, dict[str, Any]] = {
    302: {"description": "Redirect (to the provider, or back into MemoryGate)"},
    400: {"description": "Sign-in failed; an HTML page explains why", "content": {"text/html": {}}},
}
BINDING_COOKIE = "mg_login_binding"
UNKNOWN_PROVIDER = "Unknown or unconfigured sign-in provider: {provider}"


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.database.sessions


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


def _provider(request: Request, name: str) -> Provider:
    provider = request.app.state.oauth_providers.get(name)
    if provider is None:
        raise HTTPException(status_code=404, detail=UNKNOWN_PROVIDER.format(provider=name[:40]))
    return provider


def _callback_url(settings: Settings, provider: str) -> str:
    return f"{settings.public_base_url}/auth/callback/{provider}"


@router.get("/login/{provider}", responses=BROWSER_FLOW)
async def login(request: Request, provider: str, next: str | None = None) -> Response:
    settings = settings_of(request)
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
    settings = settings_of(request)
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
                ip=client_ip(request),
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
    refuse_foreign_origin(request)
    user_id = accounts.sign_out(db, request.cookies.get(accounts.SESSION_COOKIE))
    return _cleared({"logged_out": user_id is not None}, settings_of(request))


@router.post("/logout-everywhere")
def logout_everywhere(
    request: Request,
    user: BrowserSession,
    db: DB,
) -> Response:
    """End every browser session of this account (API keys stay valid)."""
    ended = accounts.sign_out_everywhere(db, user.id)
    return _cleared({"logged_out": True, "sessions_ended": ended}, settings_of(request))


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
