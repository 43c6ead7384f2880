"""The AI instances and conversation sessions memories come from.

Plain functions over a SQLAlchemy session. Each takes the owner explicitly
(keyword-only) and filters every query on it; callers get the owner from the
authenticated request, never from a tool argument.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from memory import validation as check
from models import AIInstance, ConversationSession, Observation

DEFAULT_AI_NAME = "Unknown"
DEFAULT_AI_PLATFORM = "Unknown"


def upsert_ai_instance(db: Session, *, owner_id: uuid.UUID, name: str | None, platform: str | None) -> AIInstance:
    name = check.text("ai_name", name, max_chars=check.MAX_NAME_CHARS, required=False) or DEFAULT_AI_NAME
    platform = check.text("ai_platform", platform, max_chars=check.MAX_NAME_CHARS, required=False)
    platform = platform or DEFAULT_AI_PLATFORM
    statement = insert(AIInstance).values(owner_id=owner_id, name=name, platform=platform)
    instance_id = db.execute(
        statement.on_conflict_do_update(
            constraint="uq_ai_instances_owner_name_platform", set_={"last_seen": func.now()}
        ).returning(AIInstance.id)
    ).scalar_one()
    return db.get_one(AIInstance, instance_id, populate_existing=True)


def upsert_session(
    db: Session,
    *,
    owner_id: uuid.UUID,
    conversation_id: str,
    title: str | None,
    ai_instance: AIInstance | None,
    source_url: str | None = None,
    credential_id: uuid.UUID | None = None,
) -> ConversationSession:
    values: dict[str, Any] = {"owner_id": owner_id, "conversation_id": conversation_id}
    changes: dict[str, Any] = {"last_active": func.now()}
    for column, value in (
        ("title", title),
        ("ai_instance_id", ai_instance.id if ai_instance else None),
        ("source_url", source_url),
        ("credential_id", credential_id),
    ):
        if value is not None:
            values[column] = value
            changes[column] = value
    statement = insert(ConversationSession).values(**values)
    session_id = db.execute(
        statement.on_conflict_do_update(constraint="uq_sessions_owner_conversation", set_=changes).returning(
            ConversationSession.id
        )
    ).scalar_one()
    return db.get_one(ConversationSession, session_id, populate_existing=True)


def init_session(
    db: Session,
    *,
    owner_id: uuid.UUID,
    conversation_id: str,
    title: str | None,
    ai_name: str | None,
    ai_platform: str | None,
    source_url: str | None = None,
    credential_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    conversation_id = check.required_text("conversation_id", conversation_id, max_chars=500)
    title = check.text("title", title, max_chars=check.MAX_TITLE_CHARS, required=False)
    source_url = check.text("source_url", source_url, max_chars=check.MAX_URL_CHARS, required=False)
    instance = upsert_ai_instance(db, owner_id=owner_id, name=ai_name, platform=ai_platform)
    session = upsert_session(
        db,
        owner_id=owner_id,
        conversation_id=conversation_id,
        title=title,
        ai_instance=instance,
        source_url=source_url,
        credential_id=credential_id,
    )
    observation_count = db.execute(
        select(func.count()).where(Observation.owner_id == owner_id, Observation.session_id == session.id)
    ).scalar_one()
    return {
        "session_id": session.id,
        "conversation_id": session.conversation_id,
        "title": session.title,
        "ai_name": instance.name,
        "ai_platform": instance.platform,
        "started_at": session.started_at.isoformat(),
        "last_active": session.last_active.isoformat(),
        "observations_in_session": observation_count,
    }


def introduced_instance(
    db: Session, *, owner_id: uuid.UUID, conversation_id: str | None, credential_id: uuid.UUID | None
) -> AIInstance | None:
    """The AI instance a store that names none belongs to: the one registered
    for its conversation, else the one this credential last introduced with
    memory_init_session (stateless HTTP has no MCP session to remember it)."""
    query = (
        select(AIInstance)
        .join(ConversationSession, ConversationSession.ai_instance_id == AIInstance.id)
        .where(ConversationSession.owner_id == owner_id)
    )
    if conversation_id:
        found = db.scalars(query.where(ConversationSession.conversation_id == conversation_id)).first()
        if found is not None:
            return found
    credential = (
        ConversationSession.credential_id.is_(None)
        if credential_id is None
        else ConversationSession.credential_id == credential_id
    )
    return db.scalars(query.where(credential).order_by(ConversationSession.last_active.desc()).limit(1)).first()
