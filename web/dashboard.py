"""The account page: what a person sees after signing in.

Server-rendered with Jinja2 (autoescaped), works without JavaScript; every
form is a POST carrying a CSRF token derived from the browser session, so a
token is useless with any other session. Every successful POST answers with a
redirect, so reloading never repeats it. A new API key crosses that redirect
in a short-lived cookie encrypted with a key derived from the session, and is
shown once, on the page the redirect leads to (``Cache-Control: no-store``).
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from cryptography.fernet import Fernet, InvalidToken
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from core import audit, crypto
from core.db import after_commit
from core.errors import MemoryGateError, NotFound
from core.principal import ALL_SCOPES, MANAGE_SCOPE, READ_SCOPE, RIGHTS
from identity import accounts, api_keys, deletion, provider_login
from identity import oauth_records as records
from identity.browser_sign_in import local_login_form, local_login_refusal, local_owner_allowed, set_session_cookie
from memory import hybrid_search, items, observations, space_access, spaces, turns, undo
from oauth_models import User
from web import pages
from web.dependencies import DB, SignedInForm, csrf_token, current_session, key_creation_refusal

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 10
MAX_PAGE = 10_000
NEW_KEY_COOKIE = "mg_new_key"
NEW_KEY_SECONDS = 120
LOCAL_LOGIN_PURPOSE = "dashboard"
# Notices are named in the redirect's query string and worded here, so a
# link from elsewhere cannot make the page say something of its choosing.
DELETE_NOT_CONFIRMED = "Delete account: type your e-mail address exactly as shown to confirm."
ACCOUNT_DELETED = (
    "Your account and everything in it are gone: memories, API keys, connected clients and sessions. "
    "Signing in again starts a new, empty account."
)
NOTICES = {
    "key-created": "API key created.",
    "key-revoked": "Key revoked.",
    "key-not-found": "Key not found.",
    "disconnected": "Client disconnected.",
    "narrowed": "Client's rights changed.",
    "rights-needed": "Rights: keep at least one; to take them all away, disconnect the client.",
    "spaces-needed": "Spaces: keep at least one; to take them all away, disconnect the client.",
    "connection-not-found": "Connection not found.",
    "forgotten": "Memory forgotten.",
    "restored": "Memory brought back.",
    "edited": "Saved as a new version; the one before is kept.",
    "archived": "Archived: kept, but out of search, recall and the brief until you bring it back.",
    "rehydrated": "Brought back from the archive.",
    "retention-saved": "Retention saved.",
    "conversation-forgotten": "Conversation forgotten.",
    "capture-on": "Conversation capture is on.",
    "capture-off": "Conversation capture is off: turns that clients send are not kept.",
    "import-cancelled": "Import cancelled; nothing was added.",
}
PROVIDER_WORDS = {
    "github": "signed in with GitHub",
    "google": "signed in with Google",
    "local": "a local account on this server",
    "client_credentials": "the desktop client's account",
}
EVENT_WORDS = {
    audit.LOGIN: "Signed in",
    audit.LOGOUT: "Signed out",
    audit.LOGOUT_EVERYWHERE: "Signed out everywhere",
    audit.AUTH_FAILURE_BURST: "Many failed sign-in attempts",
    audit.API_KEY_CREATED: "API key created",
    audit.API_KEY_REVOKED: "API key revoked",
    audit.CLIENT_CREDENTIALS_USED: "Desktop client signed in",
    audit.CLIENT_REGISTERED: "Client registered",
    audit.OAUTH_TOKENS_ISSUED: "Client connected",
    audit.OAUTH_TOKEN_REVOKED: "Client token revoked",
    audit.OAUTH_GRANT_REVOKED: "Client disconnected",
    audit.OAUTH_GRANT_NARROWED: "Client's rights narrowed",
    audit.MEMORY_DELETED: "Memory forgotten",
    audit.CONVERSATION_FORGOTTEN: "Conversation forgotten",
    audit.CAPTURE_TURNED_ON: "Conversation capture turned on",
    audit.CAPTURE_TURNED_OFF: "Conversation capture turned off",
    audit.MEMORY_ARCHIVED: "Memories archived",
    audit.MEMORY_REHYDRATED: "Memories brought back from the archive",
    audit.RETENTION_ARCHIVED: "Unused memories archived by your retention setting",
    audit.MEMORY_EXPORTED: "Memory exported",
    audit.MEMORY_IMPORTED: "Memory imported",
    audit.SPACE_INVITED: "Invitation to a space",
    audit.SPACE_JOINED: "Space joined",
    audit.SPACE_INVITATION_DECLINED: "Invitation to a space declined",
    audit.SPACE_INVITATION_CANCELLED: "Invitation to a space taken back",
    audit.SPACE_ROLE_CHANGED: "Role in a space changed",
    audit.SPACE_MEMBER_REMOVED: "Member removed from a space",
    audit.SPACE_LEFT: "Space left",
    audit.SPACE_GONE: "Shared space deleted by its owner",
}


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


@router.get("/dashboard")
def dashboard(
    request: Request,
    db: DB,
    q: str | None = None,
    page: str = "0",
    notice: str | None = None,
    undo_id: Annotated[str, Query(alias="undo")] = "",
) -> Response:
    signed_in = current_session(request, db)
    if signed_in is None:
        return _sign_in_page(request)
    user, token = signed_in.user, signed_in.session_token
    page_number = int(page) if page.isdigit() and int(page) <= MAX_PAGE else 0
    new_key = _take_new_key(request, token)
    response = dashboard_page(
        request,
        db,
        user,
        token,
        query=q,
        page=page_number,
        notice=NOTICES.get(notice or ""),
        new_key=new_key,
        undo_id=undo_of(notice, undo_id),
    )
    if NEW_KEY_COOKIE in request.cookies:
        response.delete_cookie(NEW_KEY_COOKIE, path="/dashboard")
    return response


def _sign_in_page(request: Request) -> HTMLResponse:
    providers = list(request.app.state.oauth_providers)
    if not local_owner_allowed(request):
        return pages.render("signin.html", providers=providers, local_csrf=None)
    form = local_login_form(request, purpose=LOCAL_LOGIN_PURPOSE)
    page = pages.render("signin.html", providers=providers, local_csrf=form.token)
    form.bind(page, request.app.state.settings)
    return page


def dashboard_page(
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
    undo_id: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    settings = request.app.state.settings
    reached = spaces.of_person(db, user.id)
    account_spaces = [space for space in reached if space.shared_by is None]
    shared = [space for space in reached if space.shared_by is not None]
    every_space = [space.id for space in account_spaces]
    readable = [space.id for space in reached]  # the shared ones searched and listed, never changed, here
    search = None
    if query:
        try:
            search = hybrid_search.search(
                db,
                owner_id=readable,
                embedder=request.app.state.embedder,
                query=query,
                limit=PAGE_SIZE,
                viewer=user.id,
            )
        except MemoryGateError as exc:
            error = exc.message
    recent = observations.recall(db, owner_id=readable, limit=PAGE_SIZE, offset=page * PAGE_SIZE, viewer=user.id)
    space_names = {str(space.id): space.name for space in account_spaces}  # by id as text: forms and JSON carry it so
    keys = [
        {
            **api_keys.key_view(key),
            "spaces": _names(key.space_ids, space_names),
            "reads_only": _reads_only(key.space_scopes, space_names),
        }
        for key in api_keys.list_keys(db, user_id=user.id)
    ]
    events = audit.events_for(db, user_id=user.id, limit=10)
    _describe(db, events, keys)
    return pages.render(
        "dashboard.html",
        status_code=status_code,
        user=user,
        provider_words=PROVIDER_WORDS.get(user.oauth_provider, f"signed in with {user.oauth_provider}"),
        csrf=csrf_token(session_token),
        rights=RIGHTS,
        key_default_rights=[scope for scope in ALL_SCOPES if scope != MANAGE_SCOPE],
        keys=keys,
        connections=[
            {
                **connection,
                "spaces": _names(connection["space_ids"], space_names),
                "reads_only": _reads_only(connection["space_scopes"], space_names),
            }
            for connection in records.list_connections(db, user_id=user.id, settings=settings)
        ],
        counts=items.item_counts(db, owner_id=every_space),
        spaces=account_spaces,
        space_names=space_names,
        shared_labels={space.label for space in shared},
        reach_choices=pages.REACH_WORDS,
        captured=turns.captured(db, owner_id=every_space),
        query=query or "",
        search=search,
        recent=recent,
        page=page,
        events=events,
        mcp_url=settings.mcp_url,
        publicly_reachable=publicly_reachable(settings.mcp_url),
        notice=notice,
        error=error,
        new_key=new_key,
        undo_id=undo_id,
    )


def undo_of(notice: str | None, undo: str) -> str | None:
    """The undo a "forgotten" notice offers (its id, as the forget answered); the owner is checked on use."""
    return undo if notice == "forgotten" and _uuid(undo) is not None else None


def safe_back(path: str) -> str:
    """Where a form returns to: one of the account's own pages, never elsewhere."""
    return path if path.startswith("/dashboard") and not path.startswith("//") and "\\" not in path else "/dashboard"


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


def _describe(db: Session, events: list[dict], keys: list[dict]) -> None:
    """Each event in words, with what it was about: the key or client by its
    name, the memory or conversation by its ref (never a secret or a text)."""
    key_names = {key["id"]: f"“{key['name']}” ({key['key_prefix']}…)" for key in keys}
    client_ids = {event["targets"]["client_id"] for event in events if "client_id" in event["targets"]}
    client_names = records.client_names(db, client_ids)
    for event in events:
        targets = event["targets"]
        event["words"] = EVENT_WORDS.get(event["event"], event["event"].replace("_", " ").capitalize())
        if "key_id" in targets:
            event["subject"] = key_names.get(targets["key_id"]) or targets.get("key_prefix")
        elif "client_id" in targets:
            event["subject"] = targets.get("client_name") or client_names.get(targets["client_id"])
        elif "ref" in targets:
            event["subject"] = targets["ref"]
        elif "conversation_id" in targets:
            event["subject"] = targets["conversation_id"]
        elif "space_name" in targets:  # a sharing step: the space, and who else took part
            event["subject"] = " · ".join(
                filter(None, [targets["space_name"], targets.get("email"), targets.get("role")])
            )


BackTo = Annotated[str, Form(alias="back")]
UndoId = Annotated[str, Form(alias="undo")]


def _with_query(path: str, **params: str) -> str:
    return path + ("&" if "?" in path else "?") + urlencode(params)


def back(notice: str, anchor: str = "") -> RedirectResponse:
    assert notice in NOTICES
    return RedirectResponse(f"/dashboard?notice={notice}{anchor}", status_code=303)


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
        return dashboard_page(request, db, user, token, error=problem, status_code=400)
    refusal = key_creation_refusal(request, db, user.id)
    if refusal:
        return dashboard_page(request, db, user, token, error=refusal[1], status_code=refusal[0])
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
    response = back("key-created", "#new-key")
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


def _reads_only(held: dict[str, list[str]] | None, space_names: dict[str, str]) -> list[str]:
    """Where a credential was given reads only: its spaces' names ("other spaces" for '*')."""
    return [space_names.get(space, "other spaces") for space, scopes in (held or {}).items() if scopes == [READ_SCOPE]]


def _names(space_ids: list[uuid.UUID] | list[str] | None, space_names: dict[str, str]) -> list[str] | None:
    """The names of a credential's spaces that still exist (None: every space)."""
    if space_ids is None:
        return None
    return [space_names[str(i)] for i in space_ids if str(i) in space_names]


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
    parsed = _uuid(key_id)
    cache = request.app.state.auth_state.cache
    if parsed is None or not api_keys.revoke_key(db, user_id=form.user.id, key_id=parsed, cache=cache):
        return back("key-not-found")
    return back("key-revoked")


@router.post("/dashboard/connections/{grant_id}/disconnect")
def disconnect(grant_id: str, db: DB, form: SignedInForm) -> Response:
    parsed = _uuid(grant_id)
    if parsed is None or not records.disconnect(db, user_id=form.user.id, grant_id=parsed):
        return back("connection-not-found")
    return back("disconnected")


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
    parsed = _uuid(grant_id)
    if not rights:
        return back("rights-needed", "#connections")
    keep_spaces = space_access.ticked(db, form.user.id, reach or []) if reach_offered else None
    if keep_spaces == []:
        return back("spaces-needed", "#connections")
    if parsed is None or not records.narrow(
        db, user_id=form.user.id, grant_id=parsed, keep=set(rights), keep_spaces=keep_spaces
    ):
        return back("connection-not-found")
    return back("narrowed", "#connections")


@router.post("/dashboard/memories/forget")
def forget(
    request: Request, db: DB, form: SignedInForm, ref: Annotated[str, Form()] = "", back_to: BackTo = "/dashboard"
) -> Response:
    """Forget now, with an Undo on the page it returns to (memory/undo.py)."""
    try:
        undo_id = undo.forget(db, owner_id=space_access.space_of(db, form.user.id, ref), ref=ref)
    except MemoryGateError as exc:
        return dashboard_page(request, db, form.user, form.session_token, error=exc.message, status_code=400)
    path = safe_back(back_to)
    if path.startswith("/dashboard/memories/"):  # the forgotten memory's own page is gone with it
        path = "/dashboard/memories"
    return RedirectResponse(f"{_with_query(path, notice='forgotten', undo=str(undo_id))}", status_code=303)


@router.post("/dashboard/memories/undo")
def undo_forget(request: Request, db: DB, form: SignedInForm, undo_id: UndoId = "") -> Response:
    """Put a memory forgotten on the page back, within its window; then show it."""
    parsed = _uuid(undo_id)
    try:
        if parsed is None:
            raise NotFound(undo.TOO_LATE)
        ref = undo.restore(db, owner_id=spaces.ids_of_account(db, form.user.id), undo_id=parsed)
    except MemoryGateError as exc:
        return dashboard_page(request, db, form.user, form.session_token, error=exc.message, status_code=400)
    return RedirectResponse(f"/dashboard/memories/{ref}?notice=restored", status_code=303)


@router.post("/dashboard/conversations/forget")
def forget_conversation(
    request: Request,
    db: DB,
    form: SignedInForm,
    conversation_id: Annotated[str, Form()] = "",
    space: Annotated[str, Form()] = "",
) -> Response:
    try:
        owner = spaces.of_account_chosen(db, form.user.id, space).id  # one of the person's own, else the default
        turns.forget(db, owner_id=owner, conversation_id=conversation_id)
    except MemoryGateError as exc:
        return dashboard_page(request, db, form.user, form.session_token, error=exc.message, status_code=400)
    return back("conversation-forgotten", "#conversations")


@router.post("/dashboard/capture")
def set_capture(db: DB, form: SignedInForm, capture: Annotated[str, Form()] = "") -> Response:
    """Keep the turns clients append (on), or refuse them (off)."""
    turned_on = capture == "on"
    form.user.capture_conversations = turned_on
    event = audit.CAPTURE_TURNED_ON if turned_on else audit.CAPTURE_TURNED_OFF
    audit.record(db, event, actor=form.user.id)
    return back("capture-on" if turned_on else "capture-off", "#conversations")


@router.post("/dashboard/logout")
def logout(db: DB, form: SignedInForm, everywhere: Annotated[str, Form()] = "") -> Response:
    user, token = form.user, form.session_token
    if everywhere:
        accounts.sign_out_everywhere(db, user.id)
    else:
        accounts.sign_out(db, token)
    response = RedirectResponse("/dashboard", status_code=303)
    response.delete_cookie(accounts.SESSION_COOKIE, path="/")
    return response


@router.post("/dashboard/account/delete")
def delete_account(
    request: Request, db: DB, form: SignedInForm, confirm_email: Annotated[str, Form()] = ""
) -> Response:
    """Delete the account, once its e-mail address is typed to confirm."""
    user = form.user
    if not hmac.compare_digest(confirm_email.strip().lower().encode(), user.email.lower().encode()):
        return dashboard_page(request, db, user, form.session_token, error=DELETE_NOT_CONFIRMED, status_code=400)
    user_id = user.id
    deletion.delete_account(db, user_id, by="self")
    cache = request.app.state.auth_state.cache
    after_commit(db, lambda: cache.evict_user(user_id))
    response = pages.message_page("Account deleted", ACCOUNT_DELETED, status_code=200)
    response.delete_cookie(accounts.SESSION_COOKIE, path="/")
    return response


@router.post("/dashboard/local-login")
def local_login(
    request: Request, db: DB, csrf_token_: Annotated[str | None, Form(alias="csrf_token")] = None
) -> Response:
    settings = request.app.state.settings
    refusal = local_login_refusal(request, purpose=LOCAL_LOGIN_PURPOSE, presented=csrf_token_)
    if refusal is not None:
        return pages.message_page("Not allowed", refusal, status_code=403)
    token = provider_login.local_owner_session(
        db,
        max_age_seconds=settings.session_max_age_seconds,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
    response = RedirectResponse("/dashboard", status_code=303)
    set_session_cookie(response, settings, token)
    return response


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None
