"""Any memory by its ref (get, versions, delete) and the account's overview
(counts, stats, what changed lately, the bootstrap a client starts with).

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
from sqlalchemy.orm import Session

from core import audit
from core.errors import NotFound
from core.principal import WRITE_SCOPE
from memory import access, concept_statements, conversations, indexing, item_types, spaces, turns
from memory import validation as check
from memory.embeddings import EmbeddingProvider
from memory.scope import Scope
from models import AIInstance, ConversationSession, Observation, Pattern, Turn


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
    shown = item_types.full(item, item_types.valid_until(db, item_types.kind_of(item), [item]).get(item.id))
    access.mark_accessed(db, owner_id=owner_id, hits=[(item_types.kind_of(item), item.id)])
    if isinstance(item, Observation | Pattern) and (item.supersedes_id or item.superseded_by_id):
        shown["versions"] = versions(db, owner_id=owner_id, item=item)
    if isinstance(item, Turn):
        shown["neighbours"] = turns.neighbours(db, owner_id=owner_id, turn=item)
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
    # A concept's relationships go with it, and what they said about the others.
    related = [] if kind != "concept" else concept_statements.related_concept_ids(db, item.id)
    model_class = item_types.ITEM_MODELS[kind]
    db.execute(delete(model_class).where(model_class.id == item.id, model_class.owner_id == owner_id))
    indexing.reindex_concepts(db, owner_id=owner_id, concept_ids=related)
    audit.record_in_space(db, audit.MEMORY_DELETED, space=owner_id, targets={"ref": item_types.ref(kind, item.id)})
    return {"deleted": True, "ref": item_types.ref(kind, item.id)}


def item_counts(db: Session, *, owner_id: spaces.Owners) -> dict[str, int]:
    """Current memories by type (in one space or several): what search and recall see by default."""
    counts = {}
    for kind, model_class in item_types.ITEM_MODELS.items():
        current = [sql_text(condition) for condition in Scope().sql(kind)]
        mine = model_class.owner_id.in_(spaces.owners(owner_id))
        query = select(func.count()).select_from(model_class).where(mine, *current)
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


def stats(
    db: Session, *, owner_id: uuid.UUID, embedder: EmbeddingProvider, viewer: uuid.UUID | None = None
) -> dict[str, Any]:
    counts = item_counts(db, owner_id=owner_id)
    space_name = spaces.names(db, [owner_id], viewer)[owner_id]
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
        "space": space_name,
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
    db: Session,
    *,
    owner_id: uuid.UUID,
    reached: list[spaces.SpaceInfo],
    ai_name: str | None = None,
    ai_platform: str | None = None,
) -> dict[str, Any]:
    """What an agent needs on first contact, from the space ``owner_id``
    (the credential's default), and the spaces it ``reached``; registers the
    instance if named."""
    instance = None
    is_new = None
    if ai_name:
        name = check.required_text("ai_name", ai_name, max_chars=check.MAX_NAME_CHARS)
        platform = check.text("ai_platform", ai_platform, max_chars=check.MAX_NAME_CHARS, required=False)
        platform = platform or conversations.DEFAULT_AI_PLATFORM
        existing = db.scalars(
            select(AIInstance).where(
                AIInstance.owner_id == owner_id, AIInstance.name == name, AIInstance.platform == platform
            )
        ).one_or_none()
        is_new = existing is None
        first_seen_before: datetime | None = existing.first_seen if existing else None
        last_seen_before: datetime | None = existing.last_seen if existing else None
        instance = conversations.upsert_ai_instance(db, owner_id=owner_id, name=name, platform=platform)
    counts = item_counts(db, owner_id=owner_id)
    result: dict[str, Any] = {
        "spaces": [
            {
                "name": space.label,
                "default": space.id == owner_id or None,
                "role": None if space.shared_by is None else space.role,
                "read_only": True if space.held is not None and WRITE_SCOPE not in space.rights else None,
            }
            for space in reached
        ],
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
