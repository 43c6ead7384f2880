"""The Spaces page of the account: an account's spaces listed with what
each holds, made, renamed, given a retention, exported, shared (invite by
address as reader or writer, change a role, remove), and deleted (after the
person types its name, told that its memories go with it); the spaces
shared with the person, to leave; invitations waiting for them; and the
shared spaces their owners deleted."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from core import audit
from core.errors import MemoryGateError
from memory import archive, sharing, spaces
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
    user = signed_in.user
    reached = spaces.of_person(db, user.id)
    listed = [
        {
            "space": space,
            "contents": spaces.contents(db, space.id),
            "members": sharing.members(db, space.id),
            "invitations": sharing.invitations_of(db, space.id),
        }
        for space in reached
        if space.shared_by is None
    ]
    shared = [{"space": space, "contents": spaces.contents(db, space.id)} for space in reached if space.shared_by]
    return pages.render(
        "spaces.html",
        status_code=400 if error else 200,
        csrf=csrf_token(signed_in.session_token),
        listed=listed,
        shared=shared,
        invitations=sharing.invitations_for(db, user),
        gone=audit.events_of_kind(db, user_id=user.id, event=audit.SPACE_GONE, limit=10),
        max_spaces=spaces.MAX_SPACES,
        notice=notice,
        error=error,
    )


def _done(notice: str) -> Response:
    return RedirectResponse(f"/dashboard/spaces?notice={notice}", status_code=303)


def _id(raw: str) -> uuid.UUID:
    """An id from the path; one that is not an id is the nil id, which names nothing of anyone's."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        return uuid.UUID(int=0)


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
        spaces.rename(db, user_id=form.user.id, space_id=_id(space_id), name=name)
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
            space_id=_id(space_id),
            days=int(chosen) if chosen else None,
        )
    except MemoryGateError as exc:
        return _page(db, form, error=exc.message)
    return _done("retention-saved")


@router.post("/dashboard/spaces/{space_id}/delete")
def delete_space(space_id: str, db: DB, form: SignedInForm, confirm_name: Annotated[str, Form()] = "") -> Response:
    """Delete a space and its memories, once its name is typed to confirm."""
    try:
        space = spaces.owned(db, user_id=form.user.id, space_id=_id(space_id))
        if not hmac.compare_digest(spaces.name_key(confirm_name).encode(), space.name_key.encode()):
            return _page(db, form, error=NOT_CONFIRMED)
        spaces.delete_space(db, user_id=form.user.id, space_id=space.id)
    except MemoryGateError as exc:
        return _page(db, form, error=exc.message)
    return _done("deleted")


# --- sharing -----------------------------------------------------------------------

SHARING_NOTICES = {
    "invited": "Invitation sent: it waits on their Spaces page when they sign in with that address.",
    "invitation-cancelled": "Invitation taken back.",
    "accepted": "You joined the space: it is now in your search and brief.",
    "declined": "Invitation declined.",
    "role-changed": "Role changed.",
    "removed": "Removed from the space: what they stored stays in it.",
    "left": "You left the space: what you stored stays in it.",
}
SPACE_NOTICES.update(SHARING_NOTICES)


def _shared(db: Session, form: SignedIn, notice: str, act: Callable[[], object]) -> Response:
    """Run one sharing step for the signed-in person; its refusal shown on the page."""
    try:
        act()
    except MemoryGateError as exc:
        db.rollback()
        return _page(db, form, error=exc.message)
    return _done(notice)


@router.post("/dashboard/spaces/{space_id}/invite")
def invite(
    space_id: str,
    db: DB,
    form: SignedInForm,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
) -> Response:
    chosen = _id(space_id)
    return _shared(
        db, form, "invited", lambda: sharing.invite(db, owner=form.user, space_id=chosen, email=email, role=role)
    )


@router.post("/dashboard/spaces/invitations/{invitation_id}/{answer}")
def answer_invitation(invitation_id: str, answer: str, db: DB, form: SignedInForm) -> Response:
    """Accept or decline an invitation to this person (or, its sender: take it back)."""
    chosen = _id(invitation_id)
    steps: dict[str, tuple[str, Callable[[], object]]] = {
        "accept": ("accepted", lambda: sharing.accept(db, user=form.user, invitation_id=chosen)),
        "decline": ("declined", lambda: sharing.decline(db, user=form.user, invitation_id=chosen)),
        "cancel": ("invitation-cancelled", lambda: sharing.cancel(db, owner=form.user, invitation_id=chosen)),
    }
    if answer not in steps:
        return pages.message_page("Not found", "There is no such page.", status_code=404)
    notice, act = steps[answer]
    return _shared(db, form, notice, act)


@router.post("/dashboard/spaces/{space_id}/members/{member_id}/role")
def change_role(
    space_id: str, member_id: str, db: DB, form: SignedInForm, role: Annotated[str, Form()] = ""
) -> Response:
    space, member = _id(space_id), _id(member_id)
    return _shared(
        db,
        form,
        "role-changed",
        lambda: sharing.change_role(db, owner=form.user, space_id=space, member_id=member, role=role),
    )


@router.post("/dashboard/spaces/{space_id}/members/{member_id}/remove")
def remove_member(space_id: str, member_id: str, db: DB, form: SignedInForm) -> Response:
    space, member = _id(space_id), _id(member_id)
    return _shared(db, form, "removed", lambda: sharing.remove(db, owner=form.user, space_id=space, member_id=member))


@router.post("/dashboard/spaces/{space_id}/leave")
def leave(space_id: str, db: DB, form: SignedInForm) -> Response:
    space = _id(space_id)
    return _shared(db, form, "left", lambda: sharing.leave(db, user=form.user, space_id=space))
