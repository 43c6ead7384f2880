"""Spaces: an account's memory in parts kept apart.

A space owns its memories (every memory table's ``owner_id`` is a space).
An account's default space has the account's own id and cannot be deleted.
Here: names (how they are checked and compared), an account's spaces made,
renamed, given a retention and deleted, those shared with a person, and how
a person names each. Which of them a call reaches is memory/space_access.py.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from core import audit
from core.errors import Conflict, InvalidInput, NotFound
from core.principal import MEMORY_SCOPES, READ_SCOPE, WRITE_SCOPE
from memory import item_types
from models import Space, SpaceMember
from oauth_models import User

DEFAULT_NAME = "personal"  # the default space's name until its owner renames it (migration 0027)
MAX_NAME_CHARS = 64
MAX_SPACES = 50  # an account's; each is a query per search that spans them
EVERY_SPACE = "*"  # a read's space argument meaning every space the credential reaches
# One id or several: what a read that may span spaces is given as its owner.
Owners = uuid.UUID | Sequence[uuid.UUID]


def owners(owner_id: Owners) -> tuple[uuid.UUID, ...]:
    return (owner_id,) if isinstance(owner_id, uuid.UUID) else tuple(owner_id)


def name_key(name: str) -> str:
    """A name as compared: compatibility forms folded (NFKC: a full-width
    'Ｗork' is 'Work'), case folded, runs of white space made one space."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def checked_name(field: str, value: Any) -> tuple[str, str]:
    """(name as shown, name as compared), or InvalidInput naming ``field``."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    shown = " ".join(unicodedata.normalize("NFKC", value).split())
    if not shown:
        raise InvalidInput(field, "must not be empty")
    if len(shown) > MAX_NAME_CHARS:
        raise InvalidInput(field, f"must be at most {MAX_NAME_CHARS} characters")
    if any(unicodedata.category(char).startswith("C") for char in shown):
        raise InvalidInput(field, "must not contain control or invisible characters")
    if shown == EVERY_SPACE or re.fullmatch(r"[\W_]+", shown):
        raise InvalidInput(field, "must contain a letter or digit")
    if "/" in shown:  # it parts a shared space's owner from its name
        raise InvalidInput(field, "must not contain '/'")
    return shown, name_key(shown)


OWNER, WRITER, READER = "owner", "writer", "reader"
# What each role may do in a space. A member never deletes for good: that stays with the owner.
ROLE_RIGHTS = {
    OWNER: frozenset(MEMORY_SCOPES),
    WRITER: frozenset({READ_SCOPE, WRITE_SCOPE}),
    READER: frozenset({READ_SCOPE}),
}


@dataclass(frozen=True)
class SpaceInfo:
    id: uuid.UUID
    name: str  # as its owner named it
    is_default: bool
    retention_days: int | None
    role: str = OWNER  # the viewer's
    shared_by: str | None = None  # the owner's e-mail address, when the viewer is a member
    held: frozenset[str] | None = None  # what the credential holds here (None: not worked out: a person's page)

    @property
    def label(self) -> str:
        """How the viewer names it: its name, or for a space shared with
        them 'owner@example.com/name' (never the same as one of theirs)."""
        return self.name if self.shared_by is None else f"{self.shared_by}/{self.name}"

    @property
    def rights(self) -> frozenset[str]:
        """What a call may do here: what the role allows, of what the credential holds here."""
        allowed = ROLE_RIGHTS[self.role]
        return allowed if self.held is None else allowed & self.held


def _info(space: Space) -> SpaceInfo:
    return SpaceInfo(space.id, space.name, space.is_default, space.retention_days)


# --- an account's spaces ---------------------------------------------------------


def of_account(db: Session, user_id: uuid.UUID) -> list[SpaceInfo]:
    """The account's spaces, the default first, then by name."""
    return [space for space in of_person(db, user_id) if space.shared_by is None]


def ids_of_account(db: Session, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Every space of the account: what its own pages (a browser session) reach."""
    return list(db.scalars(select(Space.id).where(Space.owner_user_id == user_id)))


def account_of(db: Session, space_id: uuid.UUID) -> uuid.UUID:
    """The account that owns the space."""
    return db.scalars(select(Space.owner_user_id).where(Space.id == space_id)).one()


def owned(db: Session, *, user_id: uuid.UUID, space_id: uuid.UUID) -> Space:
    space = db.scalars(select(Space).where(Space.id == space_id, Space.owner_user_id == user_id)).one_or_none()
    if space is None:
        raise NotFound("No such space in this account.")
    return space


def create(db: Session, *, user_id: uuid.UUID, name: Any, field: str = "name") -> SpaceInfo:
    shown, key = checked_name(field, name)
    count = db.scalar(select(func.count()).select_from(Space).where(Space.owner_user_id == user_id)) or 0
    if count >= MAX_SPACES:
        raise Conflict(f"This account already has {count} spaces, the most it may have; delete one first.")
    space = Space(owner_user_id=user_id)
    _save_named(db, space, shown, key, field)
    return _info(space)


def rename(db: Session, *, user_id: uuid.UUID, space_id: uuid.UUID, name: Any, field: str = "name") -> SpaceInfo:
    space = owned(db, user_id=user_id, space_id=space_id)
    _save_named(db, space, *checked_name(field, name), field)
    return _info(space)


def _save_named(db: Session, space: Space, name: str, key: str, field: str) -> None:
    """Name the space and flush, in a savepoint: a name that reads the same
    as another of the account's spaces is one line, and changes nothing."""
    try:
        with db.begin_nested():
            space.name, space.name_key = name, key
            db.add(space)
            db.flush()
    except IntegrityError:
        raise InvalidInput(field, f"'{name}' reads the same as a space this account already has") from None


def set_retention(db: Session, *, user_id: uuid.UUID, space_id: uuid.UUID, days: int | None) -> None:
    owned(db, user_id=user_id, space_id=space_id).retention_days = days


def contents(db: Session, space_id: uuid.UUID) -> dict[str, int]:
    """How many memories of each type the space holds, every version and the archive included."""
    return {
        kind: db.scalar(select(func.count()).select_from(model).where(model.owner_id == space_id)) or 0
        for kind, model in item_types.ITEM_MODELS.items()
    }


def delete_space(db: Session, *, user_id: uuid.UUID, space_id: uuid.UUID) -> dict[str, int]:
    """Delete a space and, with it, every memory, concept and conversation it
    holds (they are not moved anywhere); returns what was deleted. The
    default space cannot be deleted (the account's deletion takes it)."""
    space = owned(db, user_id=user_id, space_id=space_id)
    if space.is_default:
        raise InvalidInput("space", "the default space cannot be deleted (rename it, or delete the account)")
    deleted = contents(db, space_id)
    tell_members_it_is_gone(db, [space.id])
    db.execute(delete(Space).where(Space.id == space.id))  # the database's cascade takes its rows
    return deleted


def tell_members_it_is_gone(db: Session, space_ids: list[uuid.UUID]) -> None:
    """Before spaces go: each member's trail says so, which their Spaces page shows."""
    rows = db.execute(
        select(SpaceMember.user_id, Space.id, Space.name, User.email)
        .join(Space, Space.id == SpaceMember.space_id)
        .join(User, User.id == Space.owner_user_id)
        .where(SpaceMember.space_id.in_(space_ids))
    )
    for member, space_id, name, owner_email in rows:
        audit.record(
            db, audit.SPACE_GONE, actor=member, targets={"space": space_id, "space_name": name, "owner": owner_email}
        )


# --- the spaces a person reaches ------------------------------------------------


def shared_with(db: Session, user_id: uuid.UUID) -> list[SpaceInfo]:
    """The spaces other accounts share with this one, by owner and name."""
    return [space for space in of_person(db, user_id) if space.shared_by is not None]


def of_account_chosen(db: Session, user_id: uuid.UUID, chosen: Any) -> SpaceInfo:
    """The account's space whose id a page's form sent, else its default space."""
    listed = of_account(db, user_id)
    return next((space for space in listed if str(space.id) == chosen), listed[0])


def of_person(db: Session, user_id: uuid.UUID) -> list[SpaceInfo]:
    """The person's spaces (the default first, then by name), then those
    shared with them (by owner and name): one query, made on every call."""
    member = aliased(SpaceMember)
    rows = db.execute(
        select(Space.id, Space.name, Space.owner_user_id, Space.retention_days, member.role, User.email)
        .join(User, User.id == Space.owner_user_id)
        .outerjoin(member, (member.space_id == Space.id) & (member.user_id == user_id))
        .where((Space.owner_user_id == user_id) | (member.user_id == user_id))
    ).all()
    own = sorted(
        (SpaceInfo(i, name, i == owner, days) for i, name, owner, days, _, _ in rows if owner == user_id),
        key=lambda space: (not space.is_default, name_key(space.name)),
    )
    shared = sorted(
        (
            SpaceInfo(i, name, False, days, role=role, shared_by=email)
            for i, name, owner, days, role, email in rows
            if owner != user_id
        ),
        key=lambda space: (space.shared_by or "", name_key(space.name)),
    )
    return own + shared


def names(db: Session, space_ids: Sequence[uuid.UUID], viewer: uuid.UUID | None = None) -> dict[uuid.UUID, str]:
    """How ``viewer`` names these spaces (SpaceInfo.label): theirs by name,
    others' as 'owner@example.com/name'."""
    rows = db.execute(
        select(Space.id, Space.name, Space.owner_user_id, User.email)
        .join(User, User.id == Space.owner_user_id)
        .where(Space.id.in_(list(space_ids)))
    )
    return {
        space_id: name if viewer is None or owner == viewer else f"{email}/{name}"
        for space_id, name, owner, email in rows
    }


def storers(db: Session, items: Sequence[Any]) -> dict[uuid.UUID, str]:
    """The e-mail addresses of the members who stored these memories (stored_by)."""
    ids = {item.stored_by for item in items if getattr(item, "stored_by", None)}
    return dict(db.execute(select(User.id, User.email).where(User.id.in_(ids))).all()) if ids else {}
