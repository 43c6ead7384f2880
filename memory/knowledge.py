"""Concepts (with aliases and relationships), patterns and documents.

Like observations.py: plain functions over a session, the owner passed
explicitly and applied to every query. Writes that change an item's text drop
its old vectors in the same transaction, so search never serves a stale one.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal, get_args

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, selectinload

from core.db import take_turns
from core.errors import Conflict, InvalidInput, NotFound
from memory import indexing, item_types, items
from memory import validation as check
from models import Concept, ConceptAlias, ConceptRelationship, Document, Observation, Pattern

RelationshipType = Literal["enables", "version_of", "part_of", "related_to", "implements", "demonstrates"]
RELATIONSHIP_TYPES: tuple[str, ...] = get_args(RelationshipType)
MAX_RELATED = 100


def _name(field: str, value: Any) -> str:
    return check.required_text(field, value, max_chars=check.MAX_NAME_CHARS)


def find_concept(db: Session, *, owner_id: uuid.UUID, name: str) -> Concept | None:
    """By name or alias, case-insensitively."""
    by_name = db.scalars(
        select(Concept)
        .options(selectinload(Concept.aliases))
        .where(Concept.owner_id == owner_id, func.lower(Concept.name) == name.lower())
    ).one_or_none()
    if by_name is not None:
        return by_name
    return db.scalars(
        select(Concept)
        .options(selectinload(Concept.aliases))
        .join(ConceptAlias, ConceptAlias.concept_id == Concept.id)
        .where(ConceptAlias.owner_id == owner_id, func.lower(ConceptAlias.alias) == name.lower())
    ).one_or_none()


def _require_concept(db: Session, *, owner_id: uuid.UUID, field: str, name: str) -> Concept:
    name = _name(field, name)
    concept = find_concept(db, owner_id=owner_id, name=name)
    if concept is None:
        raise NotFound(f"No concept named {name!r} ({field})")
    return concept


def _alias_owner(db: Session, *, owner_id: uuid.UUID, alias: str) -> ConceptAlias | None:
    return db.scalars(
        select(ConceptAlias).where(ConceptAlias.owner_id == owner_id, func.lower(ConceptAlias.alias) == alias.lower())
    ).one_or_none()


def store_concept(
    db: Session,
    *,
    owner_id: uuid.UUID,
    name: str,
    concept_type: str | None = None,
    description: str | None = None,
    domain: str | None = None,
    status: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Create a concept, or change the given fields of the one with this name
    (case-insensitive). Fields left out (None) keep their stored value; an
    empty string clears a text field and ``{}`` clears the metadata."""
    name = _name("name", name)
    changes = _concept_changes(concept_type=concept_type, description=description, domain=domain, status=status)
    if metadata is not None:
        changes["metadata"] = check.json_object("metadata", metadata)
    alias = _alias_owner(db, owner_id=owner_id, alias=name)
    if alias is not None:
        raise Conflict(f"Invalid name: {name!r} is already an alias of concept {alias.concept.name!r}")
    set_ = {**changes, "updated_at": func.now()}
    if "type" in changes:
        statement = insert(Concept).values(owner_id=owner_id, name=name, **changes)
        concept_id, created = db.execute(
            statement.on_conflict_do_update(
                index_elements=[Concept.owner_id, text("lower(name)")], set_=set_
            ).returning(Concept.id, text("(xmax = 0)"))
        ).one()
    else:
        concept_id = db.execute(
            update(Concept)
            .where(Concept.owner_id == owner_id, func.lower(Concept.name) == name.lower())
            .values({Concept.__table__.c[column]: value for column, value in set_.items()})
            .returning(Concept.id)
        ).scalar_one_or_none()
        if concept_id is None:
            raise InvalidInput("concept_type", "is required when creating a concept")
        created = False
    return _reindexed(db, owner_id=owner_id, kind="concept", item_id=concept_id, created=created)


def _concept_changes(**given: Any) -> dict[str, Any]:
    """The text fields a store_concept call sets: None means "leave as is",
    an empty string means "clear" (the type cannot be cleared)."""
    limits = {"concept_type": 100, "description": check.MAX_DESCRIPTION_CHARS, "domain": check.MAX_NAME_CHARS}
    changes: dict[str, Any] = {}
    for field, value in given.items():
        if value is None:
            continue
        column = "type" if field == "concept_type" else field
        if field == "concept_type":
            changes[column] = check.required_text(field, value, max_chars=100)
        else:
            changes[column] = check.text(field, value, max_chars=limits.get(field, 100), required=False)
    return changes


def _reindexed(db: Session, *, owner_id: uuid.UUID, kind: str, item_id: int, created: bool) -> dict[str, Any]:
    """After an upsert: drop the old vectors in the same transaction, and ask
    for the new text to be embedded once it commits."""
    indexing.forget_vectors(db, owner_id=owner_id, kind=kind, item_id=item_id)
    item = item_types.get(db, kind, item_id)
    assert item is not None  # written by this transaction
    indexing.index_after_commit(db, item)
    return {"id": item_id, "ref": item_types.ref(kind, item_id), "created": bool(created)}


def get_concept(db: Session, *, owner_id: uuid.UUID, name: str) -> dict[str, Any]:
    concept = _require_concept(db, owner_id=owner_id, field="name", name=name)
    result = item_types.concept_dict(concept)
    result["relationships"] = related_concepts(db, owner_id=owner_id, concept_name=concept.name)["relationships"]
    return result


def add_alias(db: Session, *, owner_id: uuid.UUID, concept_name: str, alias: str) -> dict[str, Any]:
    concept = _require_concept(db, owner_id=owner_id, field="concept_name", name=concept_name)
    alias = _name("alias", alias)
    existing = _alias_owner(db, owner_id=owner_id, alias=alias)
    if existing is not None:
        if existing.concept_id == concept.id:
            return {"concept": concept.name, "alias": existing.alias, "created": False}
        raise Conflict(f"Invalid alias: {alias!r} already names concept {existing.concept.name!r}")
    clash = find_concept(db, owner_id=owner_id, name=alias)
    if clash is not None:
        raise Conflict(f"Invalid alias: {alias!r} is the name of concept {clash.name!r}")
    db.add(ConceptAlias(owner_id=owner_id, concept_id=concept.id, alias=alias))
    db.flush()
    return {"concept": concept.name, "alias": alias, "created": True}


def add_relationship(
    db: Session,
    *,
    owner_id: uuid.UUID,
    from_concept: str,
    to_concept: str,
    rel_type: str,
    weight: float = 0.5,
    description: str | None = None,
) -> dict[str, Any]:
    source = _require_concept(db, owner_id=owner_id, field="from_concept", name=from_concept)
    target = _require_concept(db, owner_id=owner_id, field="to_concept", name=to_concept)
    if source.id == target.id:
        raise InvalidInput("to_concept", "must be a different concept than from_concept")
    if rel_type not in RELATIONSHIP_TYPES:
        raise InvalidInput("rel_type", f"must be one of {', '.join(RELATIONSHIP_TYPES)} (got {rel_type!r})")
    weight = check.unit_interval("weight", weight)
    description = check.text("description", description, max_chars=check.MAX_DESCRIPTION_CHARS, required=False)
    statement = insert(ConceptRelationship).values(
        owner_id=owner_id,
        from_concept_id=source.id,
        to_concept_id=target.id,
        rel_type=rel_type,
        weight=weight,
        description=description,
    )
    db.execute(
        statement.on_conflict_do_update(
            constraint="uq_concept_relationships_edge",
            set_={"weight": weight, "description": description},
        )
    )
    indexing.reindex_concepts(db, owner_id=owner_id, concept_ids=(source.id, target.id))  # it says more now
    return {"from": source.name, "to": target.name, "rel_type": rel_type, "weight": weight}


def related_concepts(
    db: Session, *, owner_id: uuid.UUID, concept_name: str, rel_type: str | None = None, min_weight: float = 0.0
) -> dict[str, Any]:
    concept = _require_concept(db, owner_id=owner_id, field="concept_name", name=concept_name)
    if rel_type is not None and rel_type not in RELATIONSHIP_TYPES:
        raise InvalidInput("rel_type", f"must be one of {', '.join(RELATIONSHIP_TYPES)} (got {rel_type!r})")
    min_weight = check.unit_interval("min_weight", min_weight)
    query = (
        select(ConceptRelationship)
        .options(selectinload(ConceptRelationship.from_concept), selectinload(ConceptRelationship.to_concept))
        .where(
            ConceptRelationship.owner_id == owner_id,
            or_(ConceptRelationship.from_concept_id == concept.id, ConceptRelationship.to_concept_id == concept.id),
            ConceptRelationship.weight >= min_weight,
        )
        .order_by(ConceptRelationship.weight.desc(), ConceptRelationship.id)
        .limit(MAX_RELATED)
    )
    if rel_type:
        query = query.where(ConceptRelationship.rel_type == rel_type)
    edges = []
    for edge in db.scalars(query):
        outgoing = edge.from_concept_id == concept.id
        other = edge.to_concept if outgoing else edge.from_concept
        edges.append(
            {
                "direction": "outgoing" if outgoing else "incoming",
                "rel_type": edge.rel_type,
                "concept": other.name,
                "ref": item_types.ref("concept", other.id),
                "weight": edge.weight,
                "description": edge.description,
            }
        )
    return {"concept": concept.name, "relationships": edges}


def update_pattern(
    db: Session,
    *,
    owner_id: uuid.UUID,
    category: str,
    pattern_name: str,
    pattern_text: str,
    confidence: float = 0.8,
    evidence_observation_ids: list[int] | None = None,
) -> dict[str, Any]:
    """Create the pattern (category, pattern_name); or, when its text changes,
    replace it with a new version (the old one kept, linked both ways); or,
    with the same text, update its confidence and evidence in place."""
    category = _name("category", category)
    pattern_name = _name("pattern_name", pattern_name)
    pattern_text = check.required_text("pattern_text", pattern_text, max_chars=check.MAX_PATTERN_TEXT_CHARS)
    confidence = check.unit_interval("confidence", confidence)
    evidence = check.int_list("evidence_observation_ids", evidence_observation_ids)
    _require_own_observations(db, owner_id=owner_id, ids=evidence)
    # Two writers of one name take turns, so neither adds a second current version.
    take_turns(db, "pattern", owner_id, category, pattern_name)
    current = _current_pattern(db, owner_id=owner_id, category=category, pattern_name=pattern_name)
    if current is not None and current.pattern_text == pattern_text:
        current.confidence, current.evidence_observation_ids = confidence, evidence
        current.last_updated = func.now()
        db.flush()
        return {"id": current.id, "ref": item_types.ref("pattern", current.id), "created": False}
    row = Pattern(
        owner_id=owner_id,
        category=category,
        pattern_name=pattern_name,
        pattern_text=pattern_text,
        confidence=confidence,
        evidence_observation_ids=evidence,
        supersedes_id=current.id if current else None,
    )
    if current is not None:
        # Out of the one-current-version index before the new version enters
        # it; pointed at the new version below, once that has an id.
        current.superseded_by_id = current.id
        db.flush()
    db.add(row)
    indexing.index_after_commit(db, row)  # flushes: the row has its id
    result: dict[str, Any] = {"id": row.id, "ref": item_types.ref("pattern", row.id), "created": current is None}
    if current is not None:
        current.superseded_by_id = row.id
        result["supersedes"] = item_types.ref("pattern", current.id)
    return result


def _current_pattern(db: Session, *, owner_id: uuid.UUID, category: str, pattern_name: str) -> Pattern | None:
    return db.scalars(
        select(Pattern).where(
            Pattern.owner_id == owner_id,
            Pattern.category == category,
            Pattern.pattern_name == pattern_name,
            Pattern.superseded_by_id.is_(None),
        )
    ).one_or_none()


def _require_own_observations(db: Session, *, owner_id: uuid.UUID, ids: list[int]) -> None:
    if not ids:
        return
    found = set(db.scalars(select(Observation.id).where(Observation.owner_id == owner_id, Observation.id.in_(ids))))
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidInput("evidence_observation_ids", f"no observation with id {missing[0]}")


def get_pattern(db: Session, *, owner_id: uuid.UUID, category: str, pattern_name: str) -> dict[str, Any]:
    category = _name("category", category)
    pattern_name = _name("pattern_name", pattern_name)
    pattern = _current_pattern(db, owner_id=owner_id, category=category, pattern_name=pattern_name)
    if pattern is None:
        raise NotFound(f"No pattern {category}/{pattern_name}")
    shown = item_types.pattern_dict(pattern)
    if pattern.supersedes_id:
        shown["versions"] = items.versions(db, owner_id=owner_id, item=pattern)
    return shown


def list_patterns(
    db: Session,
    *,
    owner_id: uuid.UUID,
    category: str | None = None,
    min_confidence: float = 0.0,
    limit: int = 20,
    offset: int = 0,
) -> dict[str, Any]:
    category = check.text("category", category, max_chars=check.MAX_NAME_CHARS, required=False)
    min_confidence = check.unit_interval("min_confidence", min_confidence)
    limit = check.limit("limit", limit)
    offset = check.offset("offset", offset)
    query = select(Pattern).where(
        Pattern.owner_id == owner_id, Pattern.confidence >= min_confidence, Pattern.superseded_by_id.is_(None)
    )
    if category:
        query = query.where(Pattern.category == category)
    rows = list(
        db.scalars(
            query.order_by(Pattern.confidence.desc(), Pattern.last_updated.desc()).offset(offset).limit(limit + 1)
        )
    )
    return {
        "count": min(len(rows), limit),
        "offset": offset,
        "has_more": len(rows) > limit,
        "patterns": [item_types.pattern_dict(row) for row in rows[:limit]],
    }


def store_document(
    db: Session,
    *,
    owner_id: uuid.UUID,
    title: str,
    doc_type: str,
    content_summary: str,
    url: str | None = None,
    key_concepts: list[str] | None = None,
    publication_date: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    row = Document(
        owner_id=owner_id,
        title=check.required_text("title", title, max_chars=check.MAX_TITLE_CHARS),
        doc_type=check.required_text("doc_type", doc_type, max_chars=100),
        content_summary=check.required_text(
            "content_summary", content_summary, max_chars=check.MAX_DOCUMENT_SUMMARY_CHARS
        ),
        url=check.text("url", url, max_chars=check.MAX_URL_CHARS, required=False),
        key_concepts=check.string_list("key_concepts", key_concepts),
        publication_date=check.iso_date("publication_date", publication_date),
        metadata_=check.json_object("metadata", metadata),
    )
    db.add(row)
    indexing.index_after_commit(db, row)
    return {"id": row.id, "ref": item_types.ref("document", row.id), "stored": True}


def concepts_named_in(db: Session, *, owner_id: uuid.UUID, texts: list[str]) -> dict[str, int]:
    """The owner's concept names and aliases (lower case) that occur in any of
    ``texts``, with their concept's id (a cheap first pass: callers match whole words)."""
    joined = "\n".join(texts).lower()
    rows = db.execute(
        text(
            "SELECT lower(name) AS name, id FROM concepts WHERE owner_id = :owner AND strpos(:texts, lower(name)) > 0 "
            "UNION ALL SELECT lower(alias), concept_id FROM concept_aliases "
            "WHERE owner_id = :owner AND strpos(:texts, lower(alias)) > 0"
        ),
        {"owner": owner_id, "texts": joined},
    ).all()
    return {row.name: row.id for row in rows}
