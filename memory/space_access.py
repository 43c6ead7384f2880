"""Which spaces a call reaches, and what it may do in each.

A credential reaches every space of its account, and those shared with the
account, unless it was given fewer (``Principal.space_ids``), with its
rights in each (``Principal.space_scopes``) bounded by the person's role
there. It is worked out from the database on every call, so a deleted space,
a removed member or a narrowed client takes effect on the next request in
every process. Nothing the caller sends is trusted as an owner: a space
name is looked up among the spaces reached, a ref among the memories of
those spaces.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.principal import ALL_SCOPES, EVERY_OTHER_SPACE, READ_SCOPE, WRITE_SCOPE, Principal
from memory import item_types
from memory import validation as check
from memory.spaces import EVERY_SPACE, SpaceInfo, name_key, of_account, of_person


def reachable(db: Session, principal: Principal) -> list[SpaceInfo]:
    """The spaces this credential may use: its account's (the default
    first), then those shared with the account; less any it was not given."""
    spaces = of_person(db, principal.user_id)
    if principal.space_ids is not None:
        spaces = [space for space in spaces if space.id in principal.space_ids]
    return [replace(space, held=principal.scopes_in(space.id)) for space in spaces]


def _no_space(field: str) -> InvalidInput:
    return InvalidInput(field, "this credential reaches no space (its spaces were deleted); ask for a new one")


def named(db: Session, principal: Principal, name: Any, *, field: str = "space") -> SpaceInfo:
    """The reachable space called ``name`` (compared as name_key compares)."""
    if not isinstance(name, str):
        raise InvalidInput(field, "must be a space name")
    spaces = reachable(db, principal)
    key = name_key(name)
    for space in spaces:
        if name_key(space.label) == key:
            return space
    choices = ", ".join(f"'{space.label}'" for space in spaces) or "none"
    raise InvalidInput(field, f"no space named '{name}' that this credential reaches (it reaches {choices})")


def default_for(db: Session, principal: Principal) -> SpaceInfo:
    """Where a write goes when no space is named: the account's default
    space, or, for a credential limited to others or that may write only in
    others, the first of those it may write in."""
    spaces = reachable(db, principal)
    if not spaces:
        raise _no_space("space")
    return next((space for space in spaces if WRITE_SCOPE in space.rights), spaces[0])


def holding(db: Session, within: list[SpaceInfo], refs: list[str], *, field: str) -> SpaceInfo | None:
    """Which of the spaces ``within`` holds these memories, or None when none
    of them is in one (the operation then answers "not found" as for any
    unknown ref). Refs in two spaces are refused: one call, one space."""
    by_id = {space.id: space for space in within}
    found: set[uuid.UUID] = set()
    for ref in refs:
        kind, item_id = check.parse_ref(field, ref)
        model = item_types.ITEM_MODELS[kind]
        owner = db.scalar(select(model.owner_id).where(model.id == item_id, model.owner_id.in_(list(by_id))))
        if owner is not None:
            found.add(owner)
    if len(found) > 1:
        raise InvalidInput(field, "must all be in one space; call once per space")
    return by_id[found.pop()] if found else None


def ticked(db: Session, user_id: uuid.UUID, reach: list[str]) -> list[uuid.UUID] | None:
    """The spaces a form's "reach" boxes chose for a credential, as ids of
    the account's spaces (None: every space, now and later, the box '*';
    [] when none was ticked)."""
    if EVERY_SPACE in reach:
        return None
    chosen = set(reach)
    return [space.id for space in of_account(db, user_id) if str(space.id) in chosen]


# In a space: everything the credential may; reading and writing, never deleting; reads only (or "none").
REACH_RIGHTS = {"all": sorted(ALL_SCOPES), "write": [READ_SCOPE, WRITE_SCOPE], "read": [READ_SCOPE]}


def reach_and_rights(
    db: Session, user_id: uuid.UUID, choices: list[str]
) -> tuple[list[uuid.UUID] | None, dict[str, list[str]] | None]:
    """What a form's per-space choices ("<space id>:all|write|read|none", and
    "*:…" for the spaces made later and those shared with the account) give
    a credential: the spaces it reaches (None: every space, now and later;
    [] when it was given nothing anywhere) and its rights per space (None:
    the same everywhere). A space the form does not name gets "all"."""
    own = [str(space.id) for space in of_account(db, user_id)]
    picked = {}
    for choice in choices:
        space, _, how = choice.rpartition(":")
        if (space in own or space == EVERY_OTHER_SPACE) and (how in REACH_RIGHTS or how == "none"):
            picked[space] = how
    given = {space: picked.get(space, "all") for space in [*own, EVERY_OTHER_SPACE]}
    reached = [uuid.UUID(space) for space in own if given[space] != "none"]
    space_ids = None if given[EVERY_OTHER_SPACE] != "none" else reached
    if set(given.values()) <= {"all", "none"}:
        return space_ids, None
    space_scopes = {space: REACH_RIGHTS[how] for space, how in given.items() if how != "none"}
    return space_ids, space_scopes


def space_of(db: Session, user_id: uuid.UUID, ref: str) -> uuid.UUID:
    """The space of this account holding ``ref`` (the default space when none
    does, where looking it up answers "not found")."""
    holder = holding(db, of_account(db, user_id), [ref], field="ref")
    return holder.id if holder is not None else user_id


def spaces_for_call(
    db: Session, principal: Principal, *, space: Any, refs: list[str], ref_field: str, spans: bool
) -> list[SpaceInfo]:
    """The space a call acts on (or, for a read that spans, the spaces):
    the one named; else the one holding the refs it names; else, for a read,
    every reachable space, and for anything else the credential's default."""
    if space is not None and space != EVERY_SPACE:
        chosen = named(db, principal, space)
        if refs:
            holder = holding(db, reachable(db, principal), refs, field=ref_field)
            if holder is not None and holder.id != chosen.id:
                raise InvalidInput(ref_field, f"is not in space '{chosen.label}'")
        return [chosen]
    if space == EVERY_SPACE and not spans:
        raise InvalidInput("space", "'*' (every space) is only for reads; name one space")
    if refs:
        holder = holding(db, reachable(db, principal), refs, field=ref_field)
        if holder is not None:
            return [holder]
    if spans:
        reached = reachable(db, principal)
        if not reached:
            raise _no_space("space")
        return reached
    return [default_for(db, principal)]
