"""The account's settings page (``/dashboard/settings``): whether
conversations are kept, where retention is set, and deleting the account."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from core import audit
from core.db import after_commit
from identity import accounts, deletion
from web import pages
from web.dashboard import NOTICES, back, section_page
from web.dependencies import DB, SignedInForm, current_session

router = APIRouter(include_in_schema=False)

PATH = "/dashboard/settings"
DELETE_NOT_CONFIRMED = "Delete account: type your e-mail address exactly as shown to confirm."
ACCOUNT_DELETED = (
    "Your account and everything in it are gone: memories, API keys, connected clients and sessions. "
    "Signing in again starts a new, empty account."
)


@router.get(PATH)
def settings(request: Request, db: DB, notice: str | None = None) -> Response:
    signed_in = current_session(request, db)
    if signed_in is None:
        return RedirectResponse("/dashboard", status_code=303)
    return section_page(
        request, db, signed_in.user, signed_in.session_token, "settings.html", notice=NOTICES.get(notice or "")
    )


@router.post("/dashboard/capture")
def set_capture(db: DB, form: SignedInForm, capture: Annotated[str, Form()] = "") -> Response:
    """Keep the turns clients append (on), or refuse them (off)."""
    turned_on = capture == "on"
    form.user.capture_conversations = turned_on
    event = audit.CAPTURE_TURNED_ON if turned_on else audit.CAPTURE_TURNED_OFF
    audit.record(db, event, actor=form.user.id)
    return back("capture-on" if turned_on else "capture-off", "#capture", to=PATH)


@router.post("/dashboard/account/delete")
def delete_account(
    request: Request, db: DB, form: SignedInForm, confirm_email: Annotated[str, Form()] = ""
) -> Response:
    """Delete the account, once its e-mail address is typed to confirm."""
    user = form.user
    if not hmac.compare_digest(confirm_email.strip().lower().encode(), user.email.lower().encode()):
        return section_page(
            request, db, user, form.session_token, "settings.html", error=DELETE_NOT_CONFIRMED, status_code=400
        )
    user_id = user.id
    deletion.delete_account(db, user_id, by="self")
    cache = request.app.state.auth_state.cache
    after_commit(db, lambda: cache.evict_user(user_id))
    response = pages.message_page("Account deleted", ACCOUNT_DELETED, status_code=200)
    response.delete_cookie(accounts.SESSION_COOKIE, path="/")
    return response
