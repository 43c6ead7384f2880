"""Observations, AI instances, conversations, and item-level get/delete/stats.

Plain functions over a SQLAlchemy session. Each takes the owner explicitly
(keyword-only) and filters every query on it; callers get the owner from the
authenticated request, never from a tool argument.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete, func, select
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, selectinload

from core import audit
from core.db import take_turns
from core.errors import InvalidInput, NotFound
from memory import access, indexing, item_types
from memory import validation as check
from memory.embeddings import EmbeddingProvider
from memory.scope import Scope
from models import AIInstance, ConversationSession, Observation, Pattern

DEFAULT_AI_NAME = "Unknown"
DEFAULT_AI_PLATFORM = "Unknown"
MAX_EVIDENCE_ITEM_CHARS = 2_000


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


def store_observation(
    db: Session,
    *,
    owner_id: uuid.UUID,
    observation: str,
    confidence: float = 0.8,
    domain: str | None = None,
    evidence: list[str] | None = None,
    ai_name: str | None = None,
    ai_platform: str | None = None,
    conversation_id: str | None = None,
    conversation_title: str | None = None,
    occurred_at: str | None = None,
    supersedes: str | None = None,
    allow_duplicate: bool = False,
    credential_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Store an observation; or, when a live one already says the same thing,
    strengthen that one instead; or replace one (``supersedes``), keeping it
    as the previous version."""
    text = check.required_text("observation", observation, max_chars=check.MAX_OBSERVATION_CHARS)
    confidence = check.unit_interval("confidence", confidence)
    domain = check.text("domain", domain, max_chars=check.MAX_NAME_CHARS, required=False)
    evidence = check.string_list("evidence", evidence, max_item_chars=MAX_EVIDENCE_ITEM_CHARS)
    conversation_id = check.text("conversation_id", conversation_id, max_chars=500, required=False)
    conversation_title = check.text(
        "conversation_title", conversation_title, max_chars=check.MAX_TITLE_CHARS, required=False
    )
    happened = check.moment("occurred_at", occurred_at)
    replaced = _live_observation(db, owner_id=owner_id, ref=supersedes) if supersedes else None
    if replaced is None and not allow_duplicate:
        existing = _same_as(db, owner_id=owner_id, text=text)
        if existing is not None:
            return _strengthen(existing, confidence=confidence, evidence=evidence)

    if ai_name is None and ai_platform is None:
        instance = introduced_instance(
            db, owner_id=owner_id, conversation_id=conversation_id, credential_id=credential_id
        ) or upsert_ai_instance(db, owner_id=owner_id, name=None, platform=None)
    else:
        instance = upsert_ai_instance(db, owner_id=owner_id, name=ai_name, platform=ai_platform)
    session = None
    if conversation_id:
        session = upsert_session(
            db, owner_id=owner_id, conversation_id=conversation_id, title=conversation_title, ai_instance=instance
        )
    row = Observation(
        owner_id=owner_id,
        observation=text,
        confidence=confidence,
        domain=domain,
        evidence=evidence,
        ai_instance_id=instance.id,
        session_id=session.id if session else None,
        occurred_at=happened,
        supersedes_id=replaced.id if replaced else None,
    )
    db.add(row)
    indexing.index_after_commit(db, row)  # flushes: the row has its id
    result: dict[str, Any] = {"id": row.id, "ref": item_types.ref("observation", row.id), "stored": True}
    if replaced is not None:
        replaced.superseded_by_id = row.id
        result["supersedes"] = item_types.ref("observation", replaced.id)
    return result


def _live_observation(db: Session, *, owner_id: uuid.UUID, ref: str) -> Observation:
    """The caller's current version named by ``supersedes``, locked for the change."""
    kind, item_id = check.parse_ref("supersedes", ref)
    if kind != "observation":
        raise InvalidInput("supersedes", "must name an observation (an observation replaces an observation)")
    row = db.scalars(
        select(Observation).where(Observation.id == item_id, Observation.owner_id == owner_id).with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound(f"No memory found for supersedes observation:{item_id}")
    if row.superseded_by_id is not None:
        newer = item_types.ref("observation", row.superseded_by_id)
        raise InvalidInput("supersedes", f"observation:{item_id} was already replaced by {newer}; supersede that")
    return row


def _same_as(db: Session, *, owner_id: uuid.UUID, text: str) -> Observation | None:
    """A current observation of this owner saying the same thing (equal
    observation_key: the same word stems in order, negations counted).

    Two stores of the same thing at once would each find nothing and both
    insert; a transaction lock on (owner, key) makes the second wait for the
    first's commit and then find its row."""
    take_turns(db, "observation", owner_id, func.observation_key(text))
    return db.scalars(
        select(Observation)
        .where(
            Observation.owner_id == owner_id,
            Observation.text_key == func.observation_key(text),
            Observation.superseded_by_id.is_(None),
            Observation.archived_at.is_(None),
        )
        .order_by(Observation.id)
        .limit(1)
        .with_for_update()
    ).one_or_none()


def _strengthen(row: Observation, *, confidence: float, evidence: list[str]) -> dict[str, Any]:
    """Another sighting of what ``row`` says: count it, keep the stronger
    confidence and every piece of evidence; the text stays as first stored."""
    row.seen_count += 1
    row.last_seen_at = datetime.now(UTC)
    row.confidence = max(row.confidence, confidence)
    row.evidence = list(dict.fromkeys([*row.evidence, *evidence]))[: check.MAX_LIST_ITEMS]
    return {"stored": False, "duplicate_of": item_types.ref("observation", row.id), "seen_count": row.seen_count}


def recall(
    db: Session,
    *,
    owner_id: uuid.UUID,
    domain: str | None = None,
    min_confidence: float = 0.0,
    limit: int = 10,
    offset: int = 0,
    ai_name: str | None = None,
    include_history: bool = False,
    since: str | None = None,
    until: str | None = None,
    time_field: str = "recorded",
    archived: str = "exclude",
) -> dict[str, Any]:
    scope = Scope.parse(include_history, since, until, time_field, archived)
    domain = check.text("domain", domain, max_chars=check.MAX_NAME_CHARS, required=False)
    min_confidence = check.unit_interval("min_confidence", min_confidence)
    limit = check.limit("limit", limit)
    offset = check.offset("offset", offset)
    ai_name = check.text("ai_name", ai_name, max_chars=check.MAX_NAME_CHARS, required=False)

    query = (
        select(Observation)
        .options(selectinload(Observation.ai_instance), selectinload(Observation.session))
        .where(Observation.owner_id == owner_id, Observation.confidence >= min_confidence)
    )
    if domain:
        query = query.where(Observation.domain == domain)
    if ai_name:
        query = query.join(AIInstance, Observation.ai_instance_id == AIInstance.id).where(AIInstance.name == ai_name)
    for condition in scope.sql("observation"):  # the same conditions search applies
        query = query.where(sql_text(f"observations.{condition}"))
    query = query.params(since=scope.since, until=scope.until)
    rows = list(
        db.scalars(query.order_by(Observation.created_at.desc(), Observation.id.desc()).offset(offset).limit(limit + 1))
    )
    has_more = len(rows) > limit
    rows = rows[:limit]
    access.mark_accessed(db, owner_id=owner_id, hits=[("observation", row.id) for row in rows])
    return {
        "count": len(rows),
        "offset": offset,
        "has_more": has_more,
        "observations": [item_types.observation_dict(row) for row in rows],
    }


def load_item(db: Session, *, owner_id: uuid.UUID, ref: str, field: str = "ref") -> item_types.MemoryItem:
    kind, item_id = check.parse_ref(field, ref)
    model_class = item_types.ITEM_MODELS[kind]
    item = db.scalars(
        select(model_class).where(model_class.id == item_id, model_class.owner_id == owner_id)
    ).one_or_none()
    if item is None:
        raise NotFound(f"No memory found for {field} {kind}:{item_id}")
    return cast(item_types.MemoryItem, item)


def get_item(db: Session, *, owner_id: uuid.UUID, ref: str) -> dict[str, Any]:
    item = load_item(db, owner_id=owner_id, ref=ref)
    shown = item_types.full(item)
    access.mark_accessed(db, owner_id=owner_id, hits=[(item_types.kind_of(item), item.id)])
    if isinstance(item, Observation | Pattern) and (item.supersedes_id or item.superseded_by_id):
        shown["versions"] = versions(db, owner_id=owner_id, item=item)
    return shown


MAX_VERSIONS_SHOWN = 50


def versions(db: Session, *, owner_id: uuid.UUID, item: Observation | Pattern) -> list[dict[str, Any]]:
    """The chain of versions this memory belongs to, oldest first."""
    kind = item_types.kind_of(item)
    chain: list[Observation | Pattern] = [item]
    for link in ("supersedes_id", "superseded_by_id"):
        current: Observation | Pattern | None = item
        while current is not None and getattr(current, link) is not None and len(chain) < MAX_VERSIONS_SHOWN:
            found = item_types.get(db, kind, getattr(current, link))
            current = found if isinstance(found, Observation | Pattern) and found.owner_id == owner_id else None
            if current is not None:
                chain.insert(0, current) if link == "supersedes_id" else chain.append(current)
    return [
        {
            "ref": item_types.ref(kind, row.id),
            "recorded_at": row.created_at.isoformat(),
            "text": item_types.content(row),
        }
        for row in chain
    ]


def delete_item(db: Session, *, owner_id: uuid.UUID, ref: str) -> dict[str, Any]:
    """Forget one memory and its vectors, in one transaction."""
    item = load_item(db, owner_id=owner_id, ref=ref)
    kind = item_types.kind_of(item)
    indexing.forget_vectors(db, owner_id=owner_id, kind=kind, item_id=item.id)
    model_class = item_types.ITEM_MODELS[kind]
    db.execute(delete(model_class).where(model_class.id == item.id, model_class.owner_id == owner_id))
    audit.record(db, audit.MEMORY_DELETED, actor=owner_id, targets={"ref": item_types.ref(kind, item.id)})
    return {"deleted": True, "ref": item_types.ref(kind, item.id)}


def item_counts(db: Session, *, owner_id: uuid.UUID) -> dict[str, int]:
    """Current memories by type: what search and recall see by default."""
    counts = {}
    for kind, model_class in item_types.ITEM_MODELS.items():
        current = [sql_text(condition) for condition in Scope().sql(kind)]
        query = select(func.count()).select_from(model_class).where(model_class.owner_id == owner_id, *current)
        counts[kind + "s"] = db.execute(query).scalar_one()
    return counts


def set_aside_counts(db: Session, *, owner_id: uuid.UUID) -> dict[str, int]:
    """Memories kept but out of search: archived, and replaced versions."""

    def count(kind: str, condition: str) -> int:
        model_class = item_types.ITEM_MODELS[kind]
        query = select(func.count()).select_from(model_class).where(model_class.owner_id == owner_id)
        return db.execute(query.where(sql_text(condition))).scalar_one()

    return {
        "archived": sum(count(kind, "archived_at IS NOT NULL") for kind in item_types.ITEM_MODELS),
        "superseded": sum(count(kind, "superseded_by_id IS NOT NULL") for kind in item_types.VERSIONED),
    }


def stats(db: Session, *, owner_id: uuid.UUID, embedder: EmbeddingProvider) -> dict[str, Any]:
    counts = item_counts(db, owner_id=owner_id)
    domains = db.execute(
        select(Observation.domain, func.count())
        .where(Observation.owner_id == owner_id)
        .group_by(Observation.domain)
        .order_by(func.count().desc())
        .limit(20)
    ).all()
    instances = list(
        db.scalars(select(AIInstance).where(AIInstance.owner_id == owner_id).order_by(AIInstance.last_seen.desc()))
    )
    sessions = db.execute(select(func.count()).where(ConversationSession.owner_id == owner_id)).scalar_one()
    return {
        "counts": counts,
        **set_aside_counts(db, owner_id=owner_id),
        "sessions": sessions,
        "top_domains": [{"domain": d or "(none)", "observations": n} for d, n in domains],
        "ai_instances": [
            {"name": i.name, "platform": i.platform, "last_seen": i.last_seen.isoformat()} for i in instances[:20]
        ],
        "embedding": {
            "provider": embedder.name,
            "model": embedder.model,
            "pending": indexing.pending_count(db, model=embedder.model, owner_id=owner_id),
        },
    }


def bootstrap(
    db: Session, *, owner_id: uuid.UUID, ai_name: str | None = None, ai_platform: str | None = None
) -> dict[str, Any]:
    """What an agent needs on first contact; registers the instance if named."""
    instance = None
    is_new = None
    if ai_name:
        name = check.required_text("ai_name", ai_name, max_chars=check.MAX_NAME_CHARS)
        platform = check.text("ai_platform", ai_platform, max_chars=check.MAX_NAME_CHARS, required=False)
        platform = platform or DEFAULT_AI_PLATFORM
        existing = db.scalars(
            select(AIInstance).where(
                AIInstance.owner_id == owner_id, AIInstance.name == name, AIInstance.platform == platform
            )
        ).one_or_none()
        is_new = existing is None
        first_seen_before: datetime | None = existing.first_seen if existing else None
        last_seen_before: datetime | None = existing.last_seen if existing else None
        instance = upsert_ai_instance(db, owner_id=owner_id, name=name, platform=platform)
    counts = item_counts(db, owner_id=owner_id)
    result: dict[str, Any] = {
        "memory_counts": counts,
        "recent_changes": recent_changes(db, owner_id=owner_id),
        "recommended_first_steps": _first_steps(is_new, counts),
    }
    if instance is not None:
        session_count = db.execute(
            select(func.count()).where(
                ConversationSession.owner_id == owner_id, ConversationSession.ai_instance_id == instance.id
            )
        ).scalar_one()
        own_observations = db.execute(
            select(func.count()).where(Observation.owner_id == owner_id, Observation.ai_instance_id == instance.id)
        ).scalar_one()
        result["ai_instance"] = {
            "name": instance.name,
            "platform": instance.platform,
            "is_new": is_new,
            "first_seen": (first_seen_before or instance.first_seen).isoformat(),
            "last_seen_before_now": last_seen_before.isoformat() if last_seen_before else None,
            "sessions": session_count,
            "observations": own_observations,
        }
    return result


RECENT_DAYS = 7
RECENT_SHOWN = 5


def recent_changes(db: Session, *, owner_id: uuid.UUID) -> dict[str, Any]:
    """What changed in the last week: observations recorded (the newest few),
    replaced by newer versions, and archived."""
    since = datetime.now(UTC) - timedelta(days=RECENT_DAYS)
    mine = Observation.owner_id == owner_id

    def count(*conditions: Any) -> int:
        return db.execute(select(func.count()).where(mine, *conditions)).scalar_one()

    newest = db.scalars(
        select(Observation)
        .where(mine, Observation.created_at >= since, Observation.archived_at.is_(None))
        .where(Observation.superseded_by_id.is_(None))
        .order_by(Observation.created_at.desc(), Observation.id.desc())
        .limit(RECENT_SHOWN)
    ).all()
    return {
        "days": RECENT_DAYS,
        "recorded": count(Observation.created_at >= since),
        "replaced": count(Observation.supersedes_id.is_not(None), Observation.created_at >= since),
        "archived": count(Observation.archived_at >= since),
        "newest": [
            {"ref": item_types.ref("observation", o.id), "text": item_types.shortened(o.observation, 200)}
            for o in newest
        ],
    }


def _first_steps(is_new: bool | None, counts: dict[str, int]) -> list[str]:
    steps = ["Call memory_init_session with this conversation's id and title."]
    if sum(counts.values()) == 0:
        steps.append("Memory is empty: store durable facts about the user with memory_store as you learn them.")
    else:
        steps.append("Call memory_search with the topic at hand before answering from scratch.")
        steps.append("Call memory_patterns to load established preferences and working patterns.")
    if is_new:
        steps.append("Read memory_user_guide once for domains, the confidence scale and workflows.")
    return steps
