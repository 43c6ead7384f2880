"""The account's keys and clients page (``/dashboard/keys``): API keys (made
with their rights and spaces, listed with their use, revoked), the MCP
clients connected by signing in (their rights narrowed, or disconnected),
and how to connect a client.

A new API key crosses the redirect after its creation in a short-lived
cookie encrypted with a key derived from the browser session, and is shown
once, on the page the redirect leads to (``Cache-Control: no-store``), in
every snippet that needs it.
"""

from __future__ import annotations

import base64
import ipaddress
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from core import crypto
from core.principal import ALL_SCOPES, MANAGE_SCOPE, READ_SCOPE, RIGHTS, WRITE_SCOPE
from identity import api_keys
from identity import oauth_records as records
from memory import space_access, spaces
from oauth_models import User
from web import pages
from web.dashboard import NOTICES, back, section_page, uuid_or_none
from web.dependencies import DB, SignedInForm, current_session, key_creation_refusal

router = APIRouter(include_in_schema=False)

PATH = "/dashboard/keys"
NEW_KEY_COOKIE = "mg_new_key"
NEW_KEY_SECONDS = 120


@router.get(PATH)
def keys(request: Request, db: DB, notice: str | None = None) -> Response:
    signed_in = current_session(request, db)
    if signed_in is None:
        return RedirectResponse("/dashboard", status_code=303)
    new_key = _take_new_key(request, signed_in.session_token)
    response = keys_page(
        request, db, signed_in.user, signed_in.session_token, notice=NOTICES.get(notice or ""), new_key=new_key
    )
    if NEW_KEY_COOKIE in request.cookies:
        response.delete_cookie(NEW_KEY_COOKIE, path="/dashboard")
    return response


def keys_page(
    request: Request,
    db: Session,
    user: User,
    session_token: str,
    *,
    notice: str | None = None,
    error: str | None = None,
    new_key: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    settings = request.app.state.settings
    account_spaces = spaces.of_account(db, user.id)
    space_names = {str(space.id): space.name for space in account_spaces}  # by id as text: forms and JSON carry it so
    return section_page(
        request,
        db,
        user,
        session_token,
        "keys.html",
        notice=notice,
        error=error,
        status_code=status_code,
        spaces=account_spaces,
        rights=RIGHTS,
        key_default_rights=[scope for scope in ALL_SCOPES if scope != MANAGE_SCOPE],
        keys=[
            {**api_keys.key_view(key), **_reach(key.space_ids, key.space_scopes, space_names)}
            for key in api_keys.list_keys(db, user_id=user.id)
        ],
        connections=[
            {**connection, **_reach(connection["space_ids"], connection["space_scopes"], space_names)}
            for connection in records.list_connections(db, user_id=user.id, settings=settings)
        ],
        reach_choices=pages.REACH_WORDS,
        mcp_url=settings.mcp_url,
        publicly_reachable=publicly_reachable(settings.mcp_url),
        new_key=new_key,
    )


def _reach(
    space_ids: list[uuid.UUID] | list[str] | None, held: dict[str, list[str]] | None, space_names: dict[str, str]
) -> dict[str, list[str] | None]:
    """Where a credential reaches (the names of its spaces that still exist;
    None: every space), where it was given reads only, and where it may
    read and write but never delete ("other spaces" for '*')."""
    reached = None if space_ids is None else [space_names[str(i)] for i in space_ids if str(i) in space_names]

    def where(scopes: list[str]) -> list[str]:
        return [space_names.get(space, "other spaces") for space, given in (held or {}).items() if given == scopes]

    return {"spaces": reached, "reads_only": where([READ_SCOPE]), "never_deletes": where([READ_SCOPE, WRITE_SCOPE])}


def _flash_cipher(session_token: str) -> Fernet:
    key = crypto.derived_key(session_token, "new-key-flash")
    return Fernet(base64.urlsafe_b64encode(key))


def _take_new_key(request: Request, session_token: str) -> str | None:
    sealed = request.cookies.get(NEW_KEY_COOKIE)
    if not sealed:
        return None
    try:
        return _flash_cipher(session_token).decrypt(sealed.encode(), ttl=NEW_KEY_SECONDS).decode()
    except (InvalidToken, ValueError):
        return None


def publicly_reachable(url: str) -> bool:
    """Whether a hosted client (claude.ai, ChatGPT) could reach ``url``: https
    on a name or address that is not this machine's or a private network's."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a name
    return address.is_global


@router.post("/dashboard/keys")
def create_key(
    request: Request,
    db: DB,
    form: SignedInForm,
    name: Annotated[str, Form()] = "",
    expires_days: Annotated[str, Form()] = "",
    rights: Annotated[list[str] | None, Form()] = None,
    reach: Annotated[list[str] | None, Form()] = None,
) -> Response:
    user, token = form.user, form.session_token
    rights = rights or []
    space_ids, space_scopes = space_access.reach_and_rights(db, user.id, reach or [])
    problem = _key_form_problem(name, expires_days, rights) or (
        "Spaces: let it reach at least one space." if space_ids == [] else None
    )
    if problem:
        return keys_page(request, db, user, token, error=problem, status_code=400)
    refusal = key_creation_refusal(request, db, user.id)
    if refusal:
        return keys_page(request, db, user, token, error=refusal[1], status_code=refusal[0])
    expires_at = datetime.now(UTC) + timedelta(days=int(expires_days)) if expires_days.strip() else None
    _, raw = api_keys.create_key(
        db,
        user_id=user.id,
        name=name.strip(),
        expires_at=expires_at,
        scopes=tuple(scope for scope in ALL_SCOPES if scope in rights),
        space_ids=space_ids,
        space_scopes=space_scopes,
        bcrypt_rounds=request.app.state.settings.bcrypt_rounds,
    )
    response = back("key-created", "#new-key", to=PATH)
    sealed = _flash_cipher(token).encrypt(raw.encode()).decode()
    response.set_cookie(
        NEW_KEY_COOKIE,
        sealed,
        max_age=NEW_KEY_SECONDS,
        path="/dashboard",
        httponly=True,
        secure=request.app.state.settings.cookie_secure,
        samesite="lax",
    )
    return response


def _key_form_problem(name: str, expires_days: str, rights: list[str]) -> str | None:
    if not name.strip() or len(name.strip()) > 200:
        return "Name: give the key a name of 1 to 200 characters."
    if expires_days.strip() and not (expires_days.strip().isdigit() and 1 <= int(expires_days) <= 3650):
        return "Expires after: a whole number of days from 1 to 3650, or empty for never."
    if not rights or not set(rights) <= set(ALL_SCOPES):
        return "Rights: tick at least one of read, write, forget and manage."
    return None


@router.post("/dashboard/keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: str, db: DB, form: SignedInForm) -> Response:
    parsed = uuid_or_none(key_id)
    cache = request.app.state.auth_state.cache
    if parsed is None or not api_keys.revoke_key(db, user_id=form.user.id, key_id=parsed, cache=cache):
        return back("key-not-found", to=PATH)
    return back("key-revoked", to=PATH)


@router.post("/dashboard/connections/{grant_id}/disconnect")
def disconnect(grant_id: str, db: DB, form: SignedInForm) -> Response:
    parsed = uuid_or_none(grant_id)
    if parsed is None or not records.disconnect(db, user_id=form.user.id, grant_id=parsed):
        return back("connection-not-found", to=PATH)
    return back("disconnected", to=PATH)


@router.post("/dashboard/connections/{grant_id}/rights")
def narrow_connection(
    grant_id: str,
    db: DB,
    form: SignedInForm,
    rights: Annotated[list[str] | None, Form()] = None,
    reach: Annotated[list[str] | None, Form()] = None,
    reach_offered: Annotated[str, Form()] = "",
) -> Response:
    """Keep only the ticked rights and spaces of a connected client (never more than it holds)."""
    parsed = uuid_or_none(grant_id)
    if not rights:
        return back("rights-needed", "#connections", to=PATH)
    keep_spaces = space_access.ticked(db, form.user.id, reach or []) if reach_offered else None
    if keep_spaces == []:
        return back("spaces-needed", "#connections", to=PATH)
    if parsed is None or not records.narrow(
        db, user_id=form.user.id, grant_id=parsed, keep=set(rights), keep_spaces=keep_spaces
    ):
        return back("connection-not-found", to=PATH)
    return back("narrowed", "#connections", to=PATH)
