"""One operation for one caller, as every edge runs it (the MCP tools, the
/api routes): check the caller's scope, find the space it acts on (or the
spaces a read spans) among those its credential reaches, run the service
operation there, commit, then embed what it stored and commit the vectors.
Service errors pass through (``core.errors``); each edge words them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import Forbidden, InsufficientScope
from core.principal import FORGET_SCOPE, READ_SCOPE, WRITE_SCOPE, Principal
from memory import indexing, space_access, spaces
from memory.embeddings import EmbeddingProvider

DATABASE_UNAVAILABLE = "The memory database is unavailable right now; nothing was changed. Try again shortly."
INSUFFICIENT_SCOPE = "Insufficient scope: this credential lacks {scope}, so the call was refused and nothing changed."


def run_operation(  # positional-only: an operation's own arguments may share these names (embedder)
    db: Session,
    principal: Principal,
    embedder: EmbeddingProvider,
    operation: Callable[..., dict[str, Any]],
    /,
    *,
    needs: str,
    pass_credential: bool = False,
    spans: bool = False,
    **arguments: Any,
) -> dict[str, Any]:
    """``space`` among the arguments names the space (else the one holding
    the refs the call names, else the credential's default); an operation
    that ``spans`` is given every space the credential reaches unless one
    is named."""
    if not principal.can(needs):
        raise InsufficientScope(INSUFFICIENT_SCOPE.format(scope=needs))
    if pass_credential:
        arguments["credential_id"] = principal.credential_id
    space = arguments.pop("space", None)
    try:
        reached = space_access.spaces_for_call(db, principal, space=space, spans=spans, **_refs_named(arguments))
        owner: spaces.Owners
        if spans:  # a read, of the spaces the credential may read
            readable = [each.id for each in reached if READ_SCOPE in each.rights]
            if not readable:
                raise Forbidden(NOTHING_READABLE)
            owner, arguments["viewer"] = readable, principal.user_id
        else:
            owner = _may_act_in(db, principal, reached[0], needs)
        result = operation(db, owner_id=owner, **arguments)
        db.commit()
    except BaseException:
        db.rollback()
        raise
    # The second step: what the call stored is safe; now embed it.
    status = indexing.index_committed(db, embedder=embedder)
    if status is not None:
        result["embedding"] = status
    return result


NOT_ALLOWED = "Not allowed: '{space}' is shared with you as {role}, who may not {what} there; nothing changed."
NOT_GIVEN = "Not allowed: this credential may not {what} in space '{space}'; nothing changed."
NOTHING_READABLE = "Not allowed: this credential may read no space; nothing was read."
RIGHT_WORDS = {READ_SCOPE: "read", WRITE_SCOPE: "store or change memories", FORGET_SCOPE: "delete memories"}


def _may_act_in(db: Session, principal: Principal, space: spaces.SpaceInfo, needs: str) -> uuid.UUID:
    """The space, once the caller's role there allows ``needs``. What a
    member writes is marked as theirs (the database fills stored_by from
    the transaction's memorygate.actor)."""
    if needs not in space.rights:
        what = RIGHT_WORDS.get(needs, needs)
        if needs in spaces.ROLE_RIGHTS[space.role]:  # the role would allow it: the credential was given less here
            raise Forbidden(NOT_GIVEN.format(space=space.label, what=what))
        raise Forbidden(NOT_ALLOWED.format(space=space.label, role=space.role, what=what))
    if space.shared_by is not None:
        db.execute(text("SELECT set_config('memorygate.actor', :actor, true)"), {"actor": str(principal.user_id)})
    return space.id


REF_ARGUMENTS = ("ref", "refs", "supersedes")


def _refs_named(arguments: dict[str, Any]) -> dict[str, Any]:
    """The memory refs a call names, and the argument that names them."""
    for field in REF_ARGUMENTS:
        value = arguments.get(field)
        if isinstance(value, str):
            return {"refs": [value], "ref_field": field}
        if isinstance(value, list) and all(isinstance(ref, str) for ref in value):
            return {"refs": value, "ref_field": field}
    return {"refs": [], "ref_field": "ref"}
