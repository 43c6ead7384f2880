"""The account page: what a person sees after signing in with Google or GitHub.

Server-rendered with Jinja2 (autoescaped), works without JavaScript; every
form is a POST carrying a CSRF token derived from the browser session, so a
token is useless with any other session. A new API key is rendered once, in
the response to the POST that created it, with ``Cache-Control: no-store``.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

import accounts
import api_keys
import audit
import memory_service
import oauth_login
import oauth_server
import search_service
from db import get_db
from errors import MemoryGateError
from oauth_models import User
from oauth_routes import local_owner_allowed, set_session_cookie
from principal import ALL_SCOPES, READ_SCOPE

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
DB = Annotated[Session, Depends(get_db, scope="function")]

PAGE_SIZE = 10
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
CSRF_REFUSED = "This form has expired or was not issued to you. Reload the page and try again."


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"memorygate-dashboard-csrf", hashlib.sha256).hexdigest()


def _session(request: Request, db: Session) -> tuple[User, str] | None:
    token = request.cookies.get(accounts.SESSION_COOKIE)
    user = accounts.user_for_session_token(db, token)
    return (user, token) if user is not None and token else None


def _csrf_ok(session_token: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(session_token), presented)


def _render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status_code, headers=PAGE_HEADERS)


@router.get("/dashboard")
def dashboard(request: Request, db: DB, q: str | None = None, page: int = 0, notice: str | None = None) -> Response:
    signed_in = _session(request, db)
    if signed_in is None:
        return _sign_in_page(request)
    user, token = signed_in
    return _dashboard_page(request, db, user, token, query=q, page=max(page, 0), notice=notice)


def _sign_in_page(request: Request) -> HTMLResponse:
    providers = list(request.app.state.oauth_providers)
    return _render(request, "signin.html", providers=providers, local_owner=local_owner_allowed(request))


def _dashboard_page(
    request: Request,
    db: Session,
    user: User,
    session_token: str,
    *,
    query: str | None = None,
    page: int = 0,
    notice: str | None = None,
    error: str | None = None,
    new_key: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    settings = request.app.state.settings
    search = None
    if query:
        try:
            search = search_service.search(
                db, owner_id=user.id, embedder=request.app.state.embedder, query=query, limit=PAGE_SIZE
            )
        except MemoryGateError as exc:
            error = exc.message
    recent = memory_service.recall(db, owner_id=user.id, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    return _render(
        request,
        "dashboard.html",
        status_code=status_code,
        user=user,
        csrf=csrf_token(session_token),
        keys=[api_keys.key_view(key) for key in api_keys.list_keys(db, user_id=user.id)],
        connections=oauth_server.list_connections(db, user_id=user.id, settings=settings),
        counts=memory_service.item_counts(db, owner_id=user.id),
        query=query or "",
        search=search,
        recent=recent,
        page=page,
        events=audit.events_for(db, user_id=user.id, limit=10),
        mcp_url=settings.mcp_url,
        notice=notice,
        error=error,
        new_key=new_key,
    )


def _signed_in_form(request: Request, db: Session, csrf: str | None) -> tuple[User, str] | Response:
    """The session behind a form POST, or the refusal to send."""
    signed_in = _session(request, db)
    if signed_in is None:
        return RedirectResponse("/dashboard", status_code=303)
    if not _csrf_ok(signed_in[1], csrf):
        return _render(request, "message.html", status_code=403, title="Not allowed", message=CSRF_REFUSED)
    return signed_in


def _back(notice: str) -> RedirectResponse:
    return RedirectResponse(f"/dashboard?notice={notice}", status_code=303)


@router.post("/dashboard/keys")
def create_key(
    request: Request,
    db: DB,
    name: Annotated[str, Form()] = "",
    expires_days: Annotated[str, Form()] = "",
    access: Annotated[str, Form()] = "read-write",
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    checked = _signed_in_form(request, db, csrf_token_)
    if isinstance(checked, Response):
        return checked
    user, token = checked
    problem = _key_form_problem(name, expires_days, access)
    if problem:
        return _dashboard_page(request, db, user, token, error=problem, status_code=400)
    expires_at = datetime.now(UTC) + timedelta(days=int(expires_days)) if expires_days.strip() else None
    _, raw = api_keys.create_key(
        db,
        user_id=user.id,
        name=name.strip(),
        expires_at=expires_at,
        scopes=(READ_SCOPE,) if access == "read-only" else ALL_SCOPES,
        bcrypt_rounds=request.app.state.settings.bcrypt_rounds,
    )
    db.commit()
    return _dashboard_page(request, db, user, token, new_key=raw, notice="Key created")


def _key_form_problem(name: str, expires_days: str, access: str) -> str | None:
    if not name.strip() or len(name.strip()) > 200:
        return "Name: give the key a name of 1 to 200 characters."
    if expires_days.strip() and not (expires_days.strip().isdigit() and 1 <= int(expires_days) <= 3650):
        return "Expires after: a whole number of days from 1 to 3650, or empty for never."
    if access not in ("read-only", "read-write"):
        return "Access: choose read-only or read-write."
    return None


@router.post("/dashboard/keys/{key_id}/revoke")
def revoke_key(
    request: Request, key_id: str, db: DB, csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None
) -> Response:
    checked = _signed_in_form(request, db, csrf_token_)
    if isinstance(checked, Response):
        return checked
    parsed = _uuid(key_id)
    if parsed is None or not api_keys.revoke_key(db, user_id=checked[0].id, key_id=parsed):
        return _back("Key not found")
    db.commit()
    request.app.state.auth_state.cache.evict_key(parsed)
    return _back("Key revoked")


@router.post("/dashboard/connections/{grant_id}/disconnect")
def disconnect(
    request: Request, grant_id: str, db: DB, csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None
) -> Response:
    checked = _signed_in_form(request, db, csrf_token_)
    if isinstance(checked, Response):
        return checked
    parsed = _uuid(grant_id)
    if parsed is None or not oauth_server.disconnect(db, user_id=checked[0].id, grant_id=parsed):
        return _back("Connection not found")
    db.commit()
    return _back("Client disconnected")


@router.post("/dashboard/memories/forget")
def forget(
    request: Request,
    db: DB,
    ref: Annotated[str, Form()] = "",
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    checked = _signed_in_form(request, db, csrf_token_)
    if isinstance(checked, Response):
        return checked
    try:
        memory_service.delete_item(db, owner_id=checked[0].id, ref=ref)
    except MemoryGateError as exc:
        return _dashboard_page(request, db, checked[0], checked[1], error=exc.message, status_code=400)
    db.commit()
    return _back("Memory forgotten")


@router.post("/dashboard/logout")
def logout(
    request: Request,
    db: DB,
    everywhere: Annotated[str, Form()] = "",
    csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None,
) -> Response:
    checked = _signed_in_form(request, db, csrf_token_)
    if isinstance(checked, Response):
        return checked
    user, token = checked
    if everywhere:
        accounts.revoke_all_sessions(db, user.id)
        audit.record(db, audit.LOGOUT_EVERYWHERE, actor=user.id)
    else:
        accounts.revoke_session(db, token)
        audit.record(db, audit.LOGOUT, actor=user.id)
    db.commit()
    response = RedirectResponse("/dashboard", status_code=303)
    response.delete_cookie(accounts.SESSION_COOKIE, path="/")
    return response


@router.post("/dashboard/local-login")
def local_login(request: Request, db: DB) -> Response:
    settings = request.app.state.settings
    origin = request.headers.get("origin")
    if not local_owner_allowed(request) or (origin and origin.rstrip("/") != settings.public_base_url):
        return _render(
            request,
            "message.html",
            status_code=403,
            title="Not allowed",
            message="Local sign-in is only available on this computer, in local mode.",
        )
    token = oauth_login.local_owner_session(
        db,
        max_age_seconds=settings.session_max_age_seconds,
        ip=request.client.host,
        user_agent=request.headers.get("user-agent"),
    )
    db.commit()
    response = RedirectResponse("/dashboard", status_code=303)
    set_session_cookie(response, settings, token)
    return response


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None
