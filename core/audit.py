"""The audit trail: security-relevant events, recorded in the caller's transaction.

Events name the actor and target ids only — never memory content, never a
secret. The request id comes from the request being served.

    audit.record(db, LOGIN, actor=user.id, targets={"provider": "github"}, address=ip)
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Text, func, select, text
from sqlalchemy.orm import Session

from core.request_context import current_client_address, current_request_id
from models import AuditEvent, Space

LOGIN = "login"
LOGOUT = "logout"
LOGOUT_EVERYWHERE = "logout_everywhere"
AUTH_FAILURE_BURST = "auth_failure_burst"
API_KEY_CREATED = "api_key_created"
API_KEY_REVOKED = "api_key_revoked"
CLIENT_CREDENTIALS_USED = "client_credentials_used"
CLIENT_REGISTERED = "oauth_client_registered"
CLIENTS_PRUNED = "oauth_clients_pruned"
OAUTH_TOKENS_ISSUED = "oauth_tokens_issued"
OAUTH_TOKEN_REVOKED = "oauth_token_revoked"
OAUTH_GRANT_REVOKED = "oauth_grant_revoked"
OAUTH_GRANT_NARROWED = "oauth_grant_narrowed"
MEMORY_DELETED = "memory_deleted"
MEMORY_RESTORED = "memory_restored"
CONVERSATION_FORGOTTEN = "conversation_forgotten"
CAPTURE_TURNED_ON = "conversation_capture_on"
CAPTURE_TURNED_OFF = "conversation_capture_off"
MEMORY_ARCHIVED = "memory_archived"
MEMORY_REHYDRATED = "memory_rehydrated"
ACCOUNT_DELETED = "account_deleted"
RETENTION_ARCHIVED = "retention_archived"
MEMORY_EXPORTED = "memory_exported"
MEMORY_IMPORTED = "memory_imported"
SPACE_INVITED = "space_invited"
SPACE_JOINED = "space_joined"
SPACE_INVITATION_DECLINED = "space_invitation_declined"
SPACE_INVITATION_CANCELLED = "space_invitation_cancelled"
SPACE_ROLE_CHANGED = "space_role_changed"
SPACE_MEMBER_REMOVED = "space_member_removed"
SPACE_LEFT = "space_left"
SPACE_GONE = "space_gone"  # in a member's trail: its owner deleted the space (or their account)

MAX_EVENTS_PAGE = 100


def record(
    db: Session,
    event: str,
    *,
    actor: uuid.UUID | None = None,
    targets: dict[str, Any] | None = None,
    address: str | None = None,
) -> None:
    db.add(
        AuditEvent(
            event=event,
            actor_user_id=actor,
            targets={k: str(v) for k, v in (targets or {}).items() if v is not None},
            request_id=current_request_id.get(),
            client_address=address or current_client_address.get(),
        )
    )


def record_in_space(
    db: Session,
    event: str,
    *,
    space: uuid.UUID,
    targets: dict[str, Any] | None = None,
    actor: uuid.UUID | None = None,
) -> None:
    """An event about memories of ``space``, the space among its targets, in
    the trail of who acted: by default the member acting in a space shared
    with them (the transaction's memorygate.actor), else the space's owner."""
    if actor is None:
        member = db.scalar(text("SELECT nullif(current_setting('memorygate.actor', true), '')"))
        actor = uuid.UUID(member) if member else db.scalar(select(Space.owner_user_id).where(Space.id == space))
    record(db, event, actor=actor, targets={**(targets or {}), "space": space})


def forgotten_since(
    db: Session, *, space: uuid.UUID, since: datetime, limit: int = MAX_EVENTS_PAGE
) -> list[tuple[str, datetime]]:
    """(ref, when) of the memories of ``space`` deleted since ``since``,
    newest first: a deleted memory leaves only its audit event behind. One
    brought back since (undo on the account page) is not among them."""
    # Events from before spaces name no space: they were the account's, now its default space (same id).
    in_space = func.coalesce(AuditEvent.targets["space"].astext, func.cast(AuditEvent.actor_user_id, Text))
    rows = db.execute(
        select(AuditEvent.event, AuditEvent.targets["ref"].astext, AuditEvent.occurred_at)
        .where(
            AuditEvent.actor_user_id == select(Space.owner_user_id).where(Space.id == space).scalar_subquery(),
            in_space == str(space),
            AuditEvent.event.in_((MEMORY_DELETED, MEMORY_RESTORED)),
            AuditEvent.occurred_at >= since,
        )
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    forgotten, restored = [], set()
    for event, ref, when in rows:  # newest first: a restore is seen before the delete it undid
        if event == MEMORY_RESTORED:
            restored.add(ref)
        elif ref and ref not in restored:
            forgotten.append((ref, when))
    return forgotten


def events_of_kind(db: Session, *, user_id: uuid.UUID, event: str, limit: int = 10) -> list[dict[str, Any]]:
    """This account's latest events of one kind: when, and their targets."""
    rows = db.execute(
        select(AuditEvent.occurred_at, AuditEvent.targets)
        .where(AuditEvent.actor_user_id == user_id, AuditEvent.event == event)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return [{"occurred_at": when, **targets} for when, targets in rows]


def events_for(db: Session, *, user_id: uuid.UUID, before_id: int | None = None, limit: int = 50) -> list[dict]:
    query = select(AuditEvent).where(AuditEvent.actor_user_id == user_id)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    rows = db.scalars(query.order_by(AuditEvent.id.desc()).limit(min(limit, MAX_EVENTS_PAGE)))
    return [
        {
            "id": row.id,
            "event": row.event,
            "occurred_at": row.occurred_at.isoformat(),
            "targets": row.targets,
            "request_id": row.request_id,
            "client_address": row.client_address,
        }
        for row in rows
    ]
