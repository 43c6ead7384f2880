"""The account page (``/dashboard``): what a person sees after signing in
(their memories, the conversations kept, recent activity), and what every
page of the account shares (``section_page``, the notices, ``back``).

Server-rendered with Jinja2 (autoescaped), works without JavaScript; every
form is a POST carrying a CSRF token derived from the browser session, so a
token is useless with any other session. Every successful POST answers with a
redirect, so reloading never repeats it. The other pages of the account:
keys and clients (keys_page.py), import and export (transfer.py), settings
(settings_page.py), spaces (spaces_page.py), and the memory browser, graph
and timeline (browse.py).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from core import audit
from core.errors import MemoryGateError, NotFound
from identity import accounts, api_keys, provider_login
from identity import oauth_records as records
from identity.browser_sign_in import local_login_form, local_login_refusal, local_owner_allowed, set_session_cookie
from memory import hybrid_search, items, observations, space_access, spaces, turns, undo
from oauth_models import User
from web import pages
from web.dependencies import DB, SignedInForm, csrf_token, current_session

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 10
MAX_PAGE = 10_000
LOCAL_LOGIN_PURPOSE = "dashboard"
# Notices are named in the redirect's query string and worded here, so a
# link from elsewhere cannot make the page say something of its choosing.
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
    page_number = int(page) if page.isdigit() and int(page) <= MAX_PAGE else 0
    return dashboard_page(
        request,
        db,
        signed_in.user,
        signed_in.session_token,
        query=q,
        page=page_number,
        notice=NOTICES.get(notice or ""),
        undo_id=undo_of(notice, undo_id),
    )


def _sign_in_page(request: Request) -> HTMLResponse:
    providers = list(request.app.state.oauth_providers)
    if not local_owner_allowed(request):
        return pages.render("signin.html", providers=providers, local_csrf=None)
    form = local_login_form(request, purpose=LOCAL_LOGIN_PURPOSE)
    page = pages.render("signin.html", providers=providers, local_csrf=form.token)
    form.bind(page, request.app.state.settings)
    return page


def section_page(
    request: Request,
    db: Session,
    user: User,
    session_token: str,
    template: str,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """One of the account's pages: what every one of them shows (the person,
    the notice or error, the forms' CSRF token) and its own ``context``."""
    return pages.render(
        template,
        status_code=status_code,
        user=user,
        csrf=csrf_token(session_token),
        notice=notice,
        error=error,
        **context,
    )


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
    undo_id: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The account page: the person, their memories (searched, or the newest
    observations), the conversations kept, and the latest activity."""
    reached = spaces.of_person(db, user.id)
    account_spaces = [space for space in reached if space.shared_by is None]
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
    events = audit.events_for(db, user_id=user.id, limit=10)
    _describe(db, events, [api_keys.key_view(key) for key in api_keys.list_keys(db, user_id=user.id)])
    return section_page(
        request,
        db,
        user,
        session_token,
        "dashboard.html",
        notice=notice,
        error=error,
        status_code=status_code,
        spaces=account_spaces,
        provider_words=PROVIDER_WORDS.get(user.oauth_provider, f"signed in with {user.oauth_provider}"),
        counts=items.item_counts(db, owner_id=every_space),
        space_names={str(space.id): space.name for space in account_spaces},
        shared_labels={space.label for space in reached if space.shared_by is not None},
        captured=turns.captured(db, owner_id=every_space),
        query=query or "",
        search=search,
        recent=recent,
        page=page,
        events=events,
        undo_id=undo_id,
    )


def undo_of(notice: str | None, undo: str) -> str | None:
    """The undo a "forgotten" notice offers (its id, as the forget answered); the owner is checked on use."""
    return undo if notice == "forgotten" and uuid_or_none(undo) is not None else None


def safe_back(path: str) -> str:
    """Where a form returns to: one of the account's own pages, never elsewhere."""
    return path if path.startswith("/dashboard") and not path.startswith("//") and "\\" not in path else "/dashboard"


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


def back(notice: str, anchor: str = "", *, to: str = "/dashboard") -> RedirectResponse:
    """Back to one of the account's pages (``to``), saying ``notice``."""
    assert notice in NOTICES
    return RedirectResponse(f"{to}?notice={notice}{anchor}", status_code=303)


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
    parsed = uuid_or_none(undo_id)
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


def uuid_or_none(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None
