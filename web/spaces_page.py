"""The Spaces page of the account: an account's spaces listed with what
each holds, made, renamed, given a retention, exported, and deleted (after
the person types its name, told that its memories go with it)."""

from __future__ import annotations

import hmac
import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from core.errors import MemoryGateError
from memory import archive, spaces
from web import pages
from web.dependencies import DB, SignedIn, SignedInForm, csrf_token, current_session

router = APIRouter(include_in_schema=False)

SPACE_NOTICES = {
    "created": "Space made.",
    "renamed": "Space renamed.",
    "retention-saved": "Retention saved.",
    "deleted": "Space deleted, and every memory that was in it.",
}
NOT_CONFIRMED = "Delete a space: type its name exactly as shown to confirm."
RETENTION_RULE = f"Retention: a whole number of days from 1 to {archive.MAX_RETENTION_DAYS}, or empty for never."


@router.get("/dashboard/spaces")
def spaces_page(request: Request, db: DB, notice: str | None = None) -> Response:
    signed_in = current_session(request, db)
    if signed_in is None:
        return RedirectResponse("/dashboard", status_code=303)
    return _page(db, signed_in, notice=SPACE_NOTICES.get(notice or ""))


def _page(db: Session, signed_in: SignedIn, *, notice: str | None = None, error: str | None = None) -> Response:
    listed = [
        {"space": space, "contents": spaces.contents(db, space.id)}
        for space in spaces.of_account(db, signed_in.user.id)
    ]
    return pages.render(
        "spaces.html",
        status_code=400 if error else 200,
        csrf=csrf_token(signed_in.session_token),
        listed=listed,
        max_spaces=spaces.MAX_SPACES,
        notice=notice,
        error=error,
    )


def _done(notice: str) -> Response:
    return RedirectResponse(f"/dashboard/spaces?notice={notice}", status_code=303)


def _space_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


@router.post("/dashboard/spaces")
def create_space(db: DB, form: SignedInForm, name: Annotated[str, Form()] = "") -> Response:
    try:
        spaces.create(db, user_id=form.user.id, name=name)
    except MemoryGateError as exc:
        return _page(db, form, error=exc.message)
    return _done("created")


@router.post("/dashboard/spaces/{space_id}/rename")
def rename_space(space_id: str, db: DB, form: SignedInForm, name: Annotated[str, Form()] = "") -> Response:
    try:
        spaces.rename(db, user_id=form.user.id, space_id=_space_id(space_id) or uuid.UUID(int=0), name=name)
    except MemoryGateError as exc:
        return _page(db, form, error=exc.message)
    return _done("renamed")


@router.post("/dashboard/spaces/{space_id}/retention")
def set_retention(space_id: str, db: DB, form: SignedInForm, days: Annotated[str, Form()] = "") -> Response:
    """Archive the space's memories unused for this many days (empty: never)."""
    chosen = days.strip()
    if chosen and not (chosen.isdigit() and 1 <= int(chosen) <= archive.MAX_RETENTION_DAYS):
        return _page(db, form, error=RETENTION_RULE)
    try:
        spaces.set_retention(
            db,
            user_id=form.user.id,
            space_id=_space_id(space_id) or uuid.UUID(int=0),
            days=int(chosen) if chosen else None,
        )
    except MemoryGateError as exc:
        return _page(db, form, error=exc.message)
    return _done("retention-saved")


@router.post("/dashboard/spaces/{space_id}/delete")
def delete_space(space_id: str, db: DB, form: SignedInForm, confirm_name: Annotated[str, Form()] = "") -> Response:
    """Delete a space and its memories, once its name is typed to confirm."""
    try:
        space = spaces.owned(db, user_id=form.user.id, space_id=_space_id(space_id) or uuid.UUID(int=0))
        if not hmac.compare_digest(spaces.name_key(confirm_name).encode(), space.name_key.encode()):
            return _page(db, form, error=NOT_CONFIRMED)
        spaces.delete_space(db, user_id=form.user.id, space_id=space.id)
    except MemoryGateError as exc:
        return _page(db, form, error=exc.message)
    return _done("deleted")
