"""Forgetting from the account page, with a short window to undo it.

The memory is deleted at once, as ``memory_delete`` deletes it: gone from
search, recall, the brief and the export. What it was — its row, its
vectors, the links other memories had to it (the versions either side of
it, a concept's aliases and relationships) — is kept for UNDO_WINDOW in
``forgotten_memories`` so that Undo puts back exactly that, under the same
ref. After the window the copy is deleted for good (``prune``, every
minute), and Undo says it is too late.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.types import DateTime
from sqlalchemy.types import Uuid as UuidType

from core import audit
from core.errors import NotFound
from memory import indexing, item_types, items, spaces
from models import ConceptAlias, ConceptRelationship, Embedding, ForgottenMemory

UNDO_WINDOW = timedelta(minutes=10)
TOO_LATE = "This memory can no longer be brought back: forgetting it can be undone for 10 minutes."


def forget(db: Session, *, owner_id: uuid.UUID, ref: str) -> uuid.UUID:
    """Forget the memory now and keep what it was for UNDO_WINDOW; returns the undo's id."""
    item = items.load_item(db, owner_id=owner_id, ref=ref)
    kept = _snapshot(db, item)
    items.delete_item(db, owner_id=owner_id, ref=ref)
    copy = ForgottenMemory(
        owner_id=owner_id, ref=kept["ref"], snapshot=kept, expires_at=datetime.now(UTC) + UNDO_WINDOW
    )
    db.add(copy)
    db.flush()
    return copy.id


def restore(db: Session, *, owner_id: spaces.Owners, undo_id: uuid.UUID) -> str:
    """Put the forgotten memory back as it was, in its space (one of
    ``owner_id``); returns its ref."""
    copy = db.scalars(
        select(ForgottenMemory)
        .where(ForgottenMemory.id == undo_id, ForgottenMemory.owner_id.in_(spaces.owners(owner_id)))
        .with_for_update()
    ).one_or_none()
    if copy is None or copy.expires_at <= datetime.now(UTC):
        raise NotFound(TOO_LATE)
    owner_id = copy.owner_id
    kept = copy.snapshot
    kind = kept["kind"]
    model_class = item_types.ITEM_MODELS[kind]
    _insert(db, model_class.__table__, kept["row"])
    for other_id, column in kept.get("linked", []):  # the versions either side point at it again
        db.execute(
            update(model_class)
            .where(model_class.id == other_id, model_class.owner_id == owner_id)
            .values({column: kept["row"]["id"]})
        )
    for row in kept.get("aliases", []):
        _insert(db, ConceptAlias.__table__, row)
    for row in kept.get("relationships", []):
        if _concepts_exist(db, owner_id, row):
            _insert(db, ConceptRelationship.__table__, row)
    for row in kept.get("vectors", []):
        _insert(db, Embedding.__table__, row)
    if kind == "concept":
        related = {row["from_concept_id"] for row in kept.get("relationships", [])}
        related |= {row["to_concept_id"] for row in kept.get("relationships", [])}
        indexing.reindex_concepts(db, owner_id=owner_id, concept_ids=related - {kept["row"]["id"]})
    db.delete(copy)
    audit.record_in_space(db, audit.MEMORY_RESTORED, space=owner_id, targets={"ref": kept["ref"]})
    return str(kept["ref"])


def prune(db: Session) -> int:
    """Delete the copies whose window has passed; how many."""
    gone = db.execute(delete(ForgottenMemory).where(ForgottenMemory.expires_at <= datetime.now(UTC)))
    return int(getattr(gone, "rowcount", 0) or 0)


def _snapshot(db: Session, item: item_types.MemoryItem) -> dict[str, Any]:
    kind = item_types.kind_of(item)
    model_class = item_types.ITEM_MODELS[kind]
    kept: dict[str, Any] = {
        "kind": kind,
        "ref": item_types.ref(kind, item.id),
        "row": _row(db, model_class.__table__, model_class.id == item.id),
        "vectors": _rows(
            db,
            Embedding.__table__,
            (Embedding.owner_id == item.owner_id) & (Embedding.source_type == kind) & (Embedding.source_id == item.id),
        ),
    }
    if kind in ("observation", "pattern"):
        links = []
        for column in ("supersedes_id", "superseded_by_id"):
            pointing = getattr(model_class, column)
            others = db.scalars(
                select(model_class.id).where(model_class.owner_id == item.owner_id, pointing == item.id)
            )
            links += [(other, column) for other in others]
        kept["linked"] = links
    if kind == "concept":
        kept["aliases"] = _rows(db, ConceptAlias.__table__, ConceptAlias.concept_id == item.id)
        kept["relationships"] = _rows(
            db,
            ConceptRelationship.__table__,
            (ConceptRelationship.from_concept_id == item.id) | (ConceptRelationship.to_concept_id == item.id),
        )
    return kept


def _stored_columns(table: Any) -> list[Any]:
    """The columns a row is written with (not those the database computes)."""
    return [column for column in table.columns if column.computed is None]


def _row(db: Session, table: Any, condition: Any) -> dict[str, Any]:
    rows = _rows(db, table, condition)
    return rows[0]


def _rows(db: Session, table: Any, condition: Any) -> list[dict[str, Any]]:
    columns = _stored_columns(table)
    found = db.execute(select(*columns).where(condition)).mappings()
    return [{column.name: _plain(row[column.name]) for column in columns} for row in found]


def _plain(value: Any) -> Any:
    """A value as JSON holds it."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "tolist"):  # a pgvector vector
        return value.tolist()
    return value


def _insert(db: Session, table: Any, row: dict[str, Any]) -> None:
    values = {}
    for column in _stored_columns(table):
        if column.name not in row:
            continue
        value = row[column.name]
        if value is not None and isinstance(column.type, DateTime):
            value = datetime.fromisoformat(value)
        elif value is not None and isinstance(column.type, UuidType):
            value = uuid.UUID(value)
        if value is not None and column.foreign_keys and not _still_there(db, column, value):
            if not column.nullable:  # e.g. a turn whose conversation was forgotten meanwhile
                raise NotFound(f"This memory cannot come back: what it belonged to ({column.name}) is gone.")
            value = None  # a link to what was deleted meanwhile (another version, a session) is dropped
        values[column.name] = value
    db.execute(insert(table).values(values))


def _still_there(db: Session, column: Any, value: Any) -> bool:
    target = next(iter(column.foreign_keys)).column
    return db.execute(select(target).where(target == value).limit(1)).first() is not None


def _concepts_exist(db: Session, owner_id: uuid.UUID, relationship: dict[str, Any]) -> bool:
    """A relationship comes back only if the concept at its other end is still there."""
    wanted = {relationship["from_concept_id"], relationship["to_concept_id"]}
    model_class = item_types.ITEM_MODELS["concept"]
    found = set(db.scalars(select(model_class.id).where(model_class.owner_id == owner_id, model_class.id.in_(wanted))))
    return found == wanted
