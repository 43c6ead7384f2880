"""The account over HTTP (a session or a key that may manage it): who I am,
my security events, and the MCP clients connected by OAuth."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from core import audit
from identity import oauth_records as records
from web.dependencies import DB, AccountManager, CurrentUser, id_or_404, settings_of

router = APIRouter()

MAX_ID = 2**63 - 1  # PostgreSQL bigint


@router.get("/audit")
def audit_events(
    user: AccountManager,
    db: DB,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_EVENTS_PAGE)] = 50,
) -> dict[str, Any]:
    """The signed-in user's own security events, newest first."""
    return {"events": audit.events_for(db, user_id=user.id, before_id=before, limit=limit)}


@router.get("/me")
def me(user: CurrentUser) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "avatar_url": user.avatar_url,
        "provider": user.oauth_provider,
        "created_at": user.created_at.isoformat() if user.created_at else None,
        "last_login": user.last_login.isoformat() if user.last_login else None,
    }


@router.get("/connections")
def list_connections(request: Request, user: AccountManager, db: DB) -> dict[str, Any]:
    return {"connections": records.list_connections(db, user_id=user.id, settings=settings_of(request))}


@router.delete("/connections/{grant_id}")
def disconnect(
    grant_id: str,
    user: AccountManager,
    db: DB,
) -> dict[str, Any]:
    """Revoke every token of that client at once."""
    parsed = id_or_404(grant_id, "Connection not found")
    if not records.disconnect(db, user_id=user.id, grant_id=parsed):
        raise HTTPException(status_code=404, detail="Connection not found")
    return {"disconnected": True, "id": grant_id}
