"""Observations: storing one (its duplicate check and versions), and recall.

Plain functions over a SQLAlchemy session. Each takes the owner explicitly
(keyword-only) and filters every query on it; callers get the owner from the
authenticated request, never from a tool argument.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session, selectinload

from core import audit
from core.db import take_turns
from core.errors import EmbeddingUnavailable, InvalidInput, NotFound
from memory import access, conflicts, conversations, indexing, item_types, spaces
from memory import validation as check
from memory.embeddings import EmbeddingProvider
from memory.scope import Scope
from models import AIInstance, Observation

MAX_EVIDENCE_ITEM_CHARS = 2_000

log = logging.getLogger("memorygate.embeddings")


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
    embedder: EmbeddingProvider | None = None,
) -> dict[str, Any]:
    """Store an observation; or, when a live one already says the same thing,
    strengthen that one instead; or replace one (``supersedes``), keeping it
    as the previous version. With an ``embedder``, a new observation comes
    with the current ones it may replace (memory/conflicts.py)."""
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
    if not allow_duplicate:
        existing = _same_as(db, owner_id=owner_id, text=text)
        if existing is not None and replaced is None:
            return _strengthen(existing, confidence=confidence, evidence=evidence)
        if existing is not None and replaced is not None and existing.id != replaced.id:
            return _link(replaced, newer=existing)

    if ai_name is None and ai_platform is None:
        instance = conversations.introduced_instance(
            db, owner_id=owner_id, conversation_id=conversation_id, credential_id=credential_id
        ) or conversations.upsert_ai_instance(db, owner_id=owner_id, name=None, platform=None)
    else:
        instance = conversations.upsert_ai_instance(db, owner_id=owner_id, name=ai_name, platform=ai_platform)
    session = None
    if conversation_id:
        session = conversations.upsert_session(
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
    vector, failed = _embedded(embedder, text)
    indexing.index_after_commit(db, row, vector=vector, failed=failed)  # flushes: the row has its id
    result: dict[str, Any] = {"id": row.id, "ref": item_types.ref("observation", row.id), "stored": True}
    if replaced is not None:
        replaced.superseded_by_id = row.id
        result["supersedes"] = item_types.ref("observation", replaced.id)
    if vector is not None and embedder is not None and embedder.conflict_bar is not None:
        found = conflicts.possible_conflicts(
            db,
            owner_id=owner_id,
            text=text,
            vector=vector,
            model=embedder.model or "",
            bar=embedder.conflict_bar,
            exclude={replaced.id} if replaced is not None else set(),
        )
        if found:
            result["possible_conflicts"] = found
    return result


def _embedded(embedder: EmbeddingProvider | None, text: str) -> tuple[list[float] | None, bool]:
    """The new observation's vector, made now to find what it may replace
    (and kept as its vector), and whether the provider failed: then the
    memory is stored all the same, for the backfill to embed."""
    if embedder is None or not embedder.enabled:
        return None, False
    try:
        return embedder.embed([text])[0], False
    except EmbeddingUnavailable as exc:
        log.warning("embedding deferred for a new observation: %s", exc.message)
        return None, True


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


def _link(replaced: Observation, *, newer: Observation) -> dict[str, Any]:
    """``supersedes`` given with what a current observation already says (as
    when storing answered possible_conflicts and the agent confirms one): that
    observation becomes the replacement, and no second copy is stored."""
    if newer.supersedes_id is not None:
        raise InvalidInput(
            "supersedes",
            f"{item_types.ref('observation', newer.id)} says this already and replaces "
            f"{item_types.ref('observation', newer.supersedes_id)}; supersede that one with new words",
        )
    replaced.superseded_by_id = newer.id
    newer.supersedes_id = replaced.id
    return {
        "stored": False,
        "duplicate_of": item_types.ref("observation", newer.id),
        "seen_count": newer.seen_count,
        "supersedes": item_types.ref("observation", replaced.id),
    }


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
    owner_id: spaces.Owners,
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
    as_of: str | None = None,
    changed_since: str | None = None,
    viewer: uuid.UUID | None = None,
) -> dict[str, Any]:
    scope = Scope.parse(include_history, since, until, time_field, archived, as_of, changed_since)
    domain = check.text("domain", domain, max_chars=check.MAX_NAME_CHARS, required=False)
    min_confidence = check.unit_interval("min_confidence", min_confidence)
    limit = check.limit("limit", limit)
    offset = check.offset("offset", offset)
    ai_name = check.text("ai_name", ai_name, max_chars=check.MAX_NAME_CHARS, required=False)
    owners = spaces.owners(owner_id)

    query = (
        select(Observation)
        .options(selectinload(Observation.ai_instance), selectinload(Observation.session))
        .where(Observation.owner_id.in_(owners), Observation.confidence >= min_confidence)
    )
    if domain:
        query = query.where(Observation.domain == domain)
    if ai_name:
        query = query.join(AIInstance, Observation.ai_instance_id == AIInstance.id).where(AIInstance.name == ai_name)
    for condition in scope.sql("observation"):  # the same conditions search applies
        query = query.where(sql_text(condition))
    query = query.params(**scope.params)
    rows = list(
        db.scalars(query.order_by(Observation.created_at.desc(), Observation.id.desc()).offset(offset).limit(limit + 1))
    )
    has_more = len(rows) > limit
    rows = rows[:limit]
    for owner in owners:
        access.mark_accessed(
            db, owner_id=owner, hits=[("observation", row.id) for row in rows if row.owner_id == owner]
        )
    ended = item_types.valid_until(db, "observation", rows)
    shown = [item_types.observation_dict(row, ended.get(row.id)) for row in rows]
    stored_by = spaces.storers(db, rows)
    for observation, row in zip(shown, rows, strict=True):
        if row.stored_by:  # a member of a shared space stored it
            observation["stored_by"] = stored_by[row.stored_by]
    if len(owners) > 1:
        space_names = spaces.names(db, owners, viewer)
        for observation, row in zip(shown, rows, strict=True):
            observation["space"] = space_names[row.owner_id]
    listed: dict[str, Any] = {"count": len(rows), "offset": offset, "has_more": has_more, "observations": shown}
    if scope.changed_since is not None:
        forgotten = [audit.forgotten_since(db, space=owner, since=scope.changed_since) for owner in owners]
        listed["forgotten"] = [ref for each in forgotten for ref, _ in each if ref.startswith("observation:")]
    return listed
