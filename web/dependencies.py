"""What every route shares, declared once as typed dependencies: the
request's database session (its unit of work), who is calling, and the one
CSRF check of the account page's forms.

- ``DB``: one session per request, committed before the answer is sent.
- ``CurrentUser``: the account behind a browser session or an API key (401 otherwise).
- ``AccountManager``: the same, when it may manage the account (a session, or a key that may write).
- ``BrowserSession``: only a signed-in browser session.
- ``ApiPrincipal``: the /api caller: an API key or MCP access token, as the tools take.
- ``SignedInForm``: an account-page form POST: its session, and the token derived from that session.

Cookie-borne calls from another site are refused by the caller checks
(CSRF for the JSON API); the page's forms carry the session's token instead.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Form, HTTPException, Request, Security
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPBearer
from sqlalchemy.orm import Session

import auth_middleware
from core import crypto
from core.principal import ALL_SCOPES, MANAGE_SCOPE, Principal
from core.settings import Settings
from identity import accounts, api_keys
from identity.browser_sign_in import FOREIGN_ORIGIN, origin_of
from oauth_models import User
from web import pages

NOT_SIGNED_IN = "Sign in, or send an API key (Authorization: Bearer mg_...)."
TOO_MANY_FAILURES = "Too many failed authentication attempts. Try again later."
TOO_MANY_REQUESTS = "Too many requests for this credential. Try again later."
CANNOT_MANAGE = (
    "This API key lacks account:manage, so it cannot manage the account; use a browser session or a key with it."
)
SESSION_REQUIRED = "Only a signed-in browser session can do this."
FORM_PURPOSE = "dashboard"  # every form of the account page (core.crypto.form_token)
CSRF_REFUSED = "This form has expired or was not issued to you. Reload the page and try again."


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def auth_state_of(request: Request) -> auth_middleware.AuthState:
    return request.app.state.auth_state


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


# --- the database ----------------------------------------------------------------


def get_db(request: Request) -> Iterator[Session]:
    """One session per request, from the app's own database."""
    with request.app.state.database.session_scope() as session:
        yield session


# One database session per request, committed before the response is sent:
# FastAPI's default ("request" scope) would commit after sending, so a client
# could act on an answer whose write is not yet durable.
DB = Annotated[Session, Depends(get_db, scope="function")]


# --- who is calling ----------------------------------------------------------------

# Declared for the OpenAPI schema (clients and schemathesis see how to
# authenticate); auth_middleware does the actual parsing of these headers.
bearer_scheme = HTTPBearer(auto_error=False, description="Authorization: Bearer mg_... (an API key)")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)
session_scheme = APIKeyCookie(name="mg_session", auto_error=False, description="Browser session")


def current_user(
    request: Request,
    db: DB,
    _bearer: Annotated[Any, Security(bearer_scheme)] = None,
    _api_key: Annotated[Any, Security(api_key_scheme)] = None,
    _session: Annotated[Any, Security(session_scheme)] = None,
) -> User:
    found = auth_middleware.authenticate(
        db, headers=request.headers, cookies=request.cookies, client_ip=client_ip(request), state=auth_state_of(request)
    )
    if found is None:
        raise HTTPException(status_code=401, detail=NOT_SIGNED_IN, headers={"WWW-Authenticate": "Bearer"})
    request.state.caller = found
    return found.user


CurrentUser = Annotated[User, Depends(current_user)]


def refuse_foreign_origin(request: Request) -> None:
    """Cookie-borne requests from other sites are refused (CSRF)."""
    origin = request.headers.get("origin")
    if origin and request.cookies.get(accounts.SESSION_COOKIE):
        settings = settings_of(request)
        allowed = {settings.public_base_url.rstrip("/"), settings.frontend_url.rstrip("/")}
        allowed |= {o.rstrip("/") for o in settings.cors_extra_origins}
        if origin.rstrip("/") not in {origin_of(url) for url in allowed}:
            raise HTTPException(status_code=403, detail=FOREIGN_ORIGIN)


def account_manager(request: Request, user: CurrentUser) -> User:
    """Who may read or change the account (keys, connections, the audit
    trail): a browser session, or an API key with the right to manage it. A
    key for memories alone cannot reach the keys that guard them."""
    refuse_foreign_origin(request)
    caller: auth_middleware.Caller = request.state.caller
    if not caller.via_session and MANAGE_SCOPE not in caller.scopes:
        raise HTTPException(status_code=403, detail=CANNOT_MANAGE)
    return user


AccountManager = Annotated[User, Depends(account_manager)]


def session_user(request: Request, user: CurrentUser) -> User:
    """Only a browser session (ending every session is not a key's business)."""
    refuse_foreign_origin(request)
    if not request.state.caller.via_session:
        raise HTTPException(status_code=403, detail=SESSION_REQUIRED)
    return user


BrowserSession = Annotated[User, Depends(session_user)]


def api_principal(
    request: Request,
    db: DB,
    _bearer: Annotated[Any, Security(bearer_scheme)] = None,
    _api_key: Annotated[Any, Security(api_key_scheme)] = None,
) -> Principal:
    """The /api caller, with the credentials the MCP tools take (an API key,
    or an OAuth access token issued for this server's MCP resource) and the
    same per-credential rate; the local owner when MCP needs no sign-in."""
    settings, state = settings_of(request), auth_state_of(request)
    if not settings.require_mcp_auth:
        owner = accounts.local_owner(db)
        return Principal(user_id=owner.id, email=owner.email, scopes=frozenset(ALL_SCOPES), credential_type="local")
    principal = auth_middleware.cached_principal(request.headers, state=state)
    if principal is None or not auth_middleware.confirm_cached(db, principal, state=state):
        check = auth_middleware.verify_request_credentials(
            db, request.headers, audience=settings.mcp_url, client_ip=client_ip(request), state=state
        )
        if check.principal is None:
            db.commit()  # audit events of failure bursts
            if check.error == auth_middleware.THROTTLED:
                raise HTTPException(status_code=429, detail=TOO_MANY_FAILURES, headers=_retry_after(check.retry_after))
            raise HTTPException(status_code=401, detail=NOT_SIGNED_IN, headers={"WWW-Authenticate": "Bearer"})
        principal = check.principal
    wait = state.mcp_rate.hit(str(principal.credential_id or principal.user_id))
    if wait is not None:
        raise HTTPException(status_code=429, detail=TOO_MANY_REQUESTS, headers=_retry_after(wait))
    return principal


def _retry_after(seconds: float | None) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds or 1)))}


ApiPrincipal = Annotated[Principal, Depends(api_principal)]


def key_creation_refusal(request: Request, db: Session, user_id: uuid.UUID) -> tuple[int, str, float | None] | None:
    """identity.api_keys.creation_refusal with this app's limits."""
    return api_keys.creation_refusal(
        db,
        user_id=user_id,
        max_active=settings_of(request).max_active_keys,
        rate=auth_state_of(request).key_creation_rate,
    )


def id_or_404(raw: str, not_found: str) -> uuid.UUID:
    """A malformed id is just another id that does not exist."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise HTTPException(status_code=404, detail=not_found) from None


# --- the account page's forms: one CSRF mechanism ------------------------------------


@dataclass(frozen=True)
class SignedIn:
    user: User
    session_token: str


def current_session(request: Request, db: Session) -> SignedIn | None:
    token = request.cookies.get(accounts.SESSION_COOKIE)
    user = accounts.user_for_session_token(db, token)
    return SignedIn(user, token) if user is not None and token else None


def csrf_token(session_token: str) -> str:
    return crypto.form_token(session_token, FORM_PURPOSE)


def csrf_ok(session_token: str, presented: object) -> bool:
    return crypto.form_token_ok(session_token, FORM_PURPOSE, presented)


def csrf_refused() -> HTMLResponse:
    return pages.message_page("Not allowed", CSRF_REFUSED, status_code=403)


class FormRefused(Exception):
    """A form POST that is not signed in or not this session's own;
    server.py answers it with ``response``."""

    def __init__(self, response: Response) -> None:
        super().__init__("form refused")
        self.response = response


def signed_in_form(
    request: Request, db: DB, csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None
) -> SignedIn:
    """The CSRF check of every account-page form: the session behind the
    POST, which must carry the token derived from that same session."""
    signed_in = current_session(request, db)
    if signed_in is None:
        raise FormRefused(RedirectResponse("/dashboard", status_code=303))
    if not csrf_ok(signed_in.session_token, csrf_token_):
        raise FormRefused(csrf_refused())
    return signed_in


SignedInForm = Annotated[SignedIn, Depends(signed_in_form)]
