"""Sharing a space with other accounts, as reader or writer.

The owner invites an e-mail address; whoever is signed in with that address
accepts or declines on their Spaces page (an invitation for another address
is as unknown to them as one that does not exist). Once accepted, the space
is among those the member's credentials reach (memory/spaces.py reads
memberships on every call, so a change takes effect on the next request in
every process). The owner changes a member's role or removes them; a member
leaves. Every step is in the audit trail of both accounts. What a member
stores belongs to the space (it stays when they leave or their account goes);
``stored_by`` says who stored it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core import audit
from core.errors import Conflict, InvalidInput, NotFound
from memory import spaces
from models import Space, SpaceInvitation, SpaceMember
from oauth_models import User

ROLES = (spaces.READER, spaces.WRITER)
MAX_MEMBERS = 50  # people and invitations, a space
NO_INVITATION = "No such invitation for this account."
NO_MEMBER = "No such member of this space."


def _email(value: Any) -> str:
    email = value.strip().lower() if isinstance(value, str) else ""
    if not email or len(email) > 320 or email.count("@") != 1 or any(char.isspace() for char in email):
        raise InvalidInput("email", "must be one e-mail address")
    return email


def _role(value: Any) -> str:
    if value not in ROLES:
        raise InvalidInput("role", "must be 'reader' or 'writer'")
    return str(value)


def _account_with(db: Session, email: str) -> User | None:
    return db.scalars(select(User).where(func.lower(User.email) == email).limit(1)).first()


def _both(db: Session, event: str, *, owner: uuid.UUID, other: uuid.UUID | None, **targets: Any) -> None:
    """The event in the owner's trail and, when they have an account, the other person's."""
    for actor in (owner, other):
        if actor is not None:
            audit.record(db, event, actor=actor, targets=targets)


def invite(db: Session, *, owner: User, space_id: uuid.UUID, email: Any, role: Any) -> SpaceInvitation:
    """Invite an address to the owner's space (again: with the new role)."""
    space = spaces.owned(db, user_id=owner.id, space_id=space_id)
    address, role = _email(email), _role(role)
    if address == owner.email.lower():
        raise InvalidInput("email", "is your own address: the space is already yours")
    invited = _account_with(db, address)
    if invited is not None and db.get(SpaceMember, (space.id, invited.id)) is not None:
        raise Conflict(f"{address} is already a member; change their role instead.")
    found = db.scalars(
        select(SpaceInvitation).where(SpaceInvitation.space_id == space.id, SpaceInvitation.email == address)
    ).one_or_none()
    if found is None:
        if len(members(db, space.id)) + len(invitations_of(db, space.id)) >= MAX_MEMBERS:
            raise Conflict(f"This space already has {MAX_MEMBERS} members and invitations.")
        found = SpaceInvitation(space_id=space.id, email=address, role=role)
        db.add(found)
    found.role = role
    db.flush()
    _both(
        db,
        audit.SPACE_INVITED,
        owner=owner.id,
        other=invited.id if invited else None,
        space=space.id,
        space_name=space.name,
        email=address,
        role=role,
    )
    return found


def invitations_of(db: Session, space_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = db.scalars(
        select(SpaceInvitation).where(SpaceInvitation.space_id == space_id).order_by(SpaceInvitation.email)
    )
    return [{"id": row.id, "email": row.email, "role": row.role} for row in rows]


def invitations_for(db: Session, user: User) -> list[dict[str, Any]]:
    """Invitations waiting for this account's address, with who sent them."""
    rows = db.execute(
        select(SpaceInvitation, Space.name, User.email)
        .join(Space, Space.id == SpaceInvitation.space_id)
        .join(User, User.id == Space.owner_user_id)
        .where(SpaceInvitation.email == user.email.lower())
        .order_by(SpaceInvitation.created_at)
    )
    return [
        {"id": invitation.id, "space": name, "owner": owner_email, "role": invitation.role}
        for invitation, name, owner_email in rows
    ]


def _invitation_for(db: Session, user: User, invitation_id: uuid.UUID) -> tuple[SpaceInvitation, Space]:
    row = db.execute(
        select(SpaceInvitation, Space)
        .join(Space, Space.id == SpaceInvitation.space_id)
        .where(SpaceInvitation.id == invitation_id, SpaceInvitation.email == user.email.lower())
        .with_for_update(of=SpaceInvitation)
    ).one_or_none()
    if row is None or row[1].owner_user_id == user.id:
        raise NotFound(NO_INVITATION)
    return row[0], row[1]


def accept(db: Session, *, user: User, invitation_id: uuid.UUID) -> spaces.SpaceInfo:
    """Join the space as the invitation says; only the invited address may."""
    invitation, space = _invitation_for(db, user, invitation_id)
    if db.get(SpaceMember, (space.id, user.id)) is None:
        db.add(SpaceMember(space_id=space.id, user_id=user.id, role=invitation.role))
    db.delete(invitation)
    db.flush()
    _both(
        db,
        audit.SPACE_JOINED,
        owner=space.owner_user_id,
        other=user.id,
        space=space.id,
        space_name=space.name,
        email=user.email,
        role=invitation.role,
    )
    return next(each for each in spaces.shared_with(db, user.id) if each.id == space.id)


def decline(db: Session, *, user: User, invitation_id: uuid.UUID) -> None:
    invitation, space = _invitation_for(db, user, invitation_id)
    db.delete(invitation)
    _both(
        db,
        audit.SPACE_INVITATION_DECLINED,
        owner=space.owner_user_id,
        other=user.id,
        space=space.id,
        space_name=space.name,
        email=user.email,
    )


def cancel(db: Session, *, owner: User, invitation_id: uuid.UUID) -> None:
    """Take back an invitation to one of the owner's spaces."""
    row = db.execute(
        select(SpaceInvitation, Space)
        .join(Space, Space.id == SpaceInvitation.space_id)
        .where(SpaceInvitation.id == invitation_id, Space.owner_user_id == owner.id)
    ).one_or_none()
    if row is None:
        raise NotFound(NO_INVITATION)
    invitation, space = row
    invited = _account_with(db, invitation.email)
    db.delete(invitation)
    _both(
        db,
        audit.SPACE_INVITATION_CANCELLED,
        owner=owner.id,
        other=invited.id if invited else None,
        space=space.id,
        space_name=space.name,
        email=invitation.email,
    )


def members(db: Session, space_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = db.execute(
        select(SpaceMember, User.email)
        .join(User, User.id == SpaceMember.user_id)
        .where(SpaceMember.space_id == space_id)
        .order_by(User.email)
    )
    return [{"user_id": member.user_id, "email": email, "role": member.role} for member, email in rows]


def _membership(db: Session, *, owner: User, space_id: uuid.UUID, member_id: uuid.UUID) -> tuple[SpaceMember, Space]:
    space = spaces.owned(db, user_id=owner.id, space_id=space_id)
    member = db.get(SpaceMember, (space.id, member_id))
    if member is None:
        raise NotFound(NO_MEMBER)
    return member, space


def change_role(db: Session, *, owner: User, space_id: uuid.UUID, member_id: uuid.UUID, role: Any) -> None:
    member, space = _membership(db, owner=owner, space_id=space_id, member_id=member_id)
    member.role = _role(role)
    _both(
        db,
        audit.SPACE_ROLE_CHANGED,
        owner=owner.id,
        other=member_id,
        space=space.id,
        space_name=space.name,
        role=member.role,
    )


def remove(db: Session, *, owner: User, space_id: uuid.UUID, member_id: uuid.UUID) -> None:
    """Take the space from a member; what they stored in it stays in it."""
    _, space = _membership(db, owner=owner, space_id=space_id, member_id=member_id)
    db.execute(delete(SpaceMember).where(SpaceMember.space_id == space.id, SpaceMember.user_id == member_id))
    _both(db, audit.SPACE_MEMBER_REMOVED, owner=owner.id, other=member_id, space=space.id, space_name=space.name)


def leave(db: Session, *, user: User, space_id: uuid.UUID) -> None:
    """Stop being a member; what the member stored stays in the space."""
    space = db.get(Space, space_id)
    left = db.execute(
        delete(SpaceMember).where(SpaceMember.space_id == space_id, SpaceMember.user_id == user.id)
    ).rowcount  # type: ignore[attr-defined]
    if not left or space is None:
        raise NotFound("You are not a member of that space.")
    _both(
        db,
        audit.SPACE_LEFT,
        owner=space.owner_user_id,
        other=user.id,
        space=space.id,
        space_name=space.name,
        email=user.email,
    )
