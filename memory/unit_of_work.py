"""One operation for one caller, as every edge runs it (the MCP tools, the
/api routes): check the caller's scope, run the service operation for the
caller's account, commit, then embed what it stored and commit the vectors.
Service errors pass through (``core.errors``); each edge words them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from core.errors import InsufficientScope
from core.principal import Principal
from memory import indexing
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
    **arguments: Any,
) -> dict[str, Any]:
    if not principal.can(needs):
        raise InsufficientScope(INSUFFICIENT_SCOPE.format(scope=needs))
    if pass_credential:
        arguments["credential_id"] = principal.credential_id
    try:
        result = operation(db, owner_id=principal.user_id, **arguments)
        db.commit()
    except BaseException:
        db.rollback()
        raise
    # The second step: what the call stored is safe; now embed it.
    status = indexing.index_committed(db, embedder=embedder)
    if status is not None:
        result["embedding"] = status
    return result
