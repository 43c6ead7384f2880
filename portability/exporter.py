"""Writing one account's whole memory as JSON Lines (see records.py).

Reads in one REPEATABLE READ snapshot, so a file made while agents keep
writing is still consistent (every reference resolves), and streams: memory
use stays flat however large the account.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from models import (
    AIInstance,
    Concept,
    ConceptAlias,
    ConceptRelationship,
    ConversationSession,
    Document,
    Embedding,
    Observation,
    Pattern,
    Space,
    Turn,
)
from portability.records import FORMAT, VERSION

STREAM_BATCH = 1_000
# Values an importer assumes when a field is left out.
DEFAULTS: dict[str, Any] = {"access_count": 0, "seen_count": 1, "evidence": [], "metadata": {}, "key_concepts": []}

# Kinds other lines refer to by id; the rest are written without one.
REFERENCED = ("ai_instance", "session", "concept", "observation", "pattern", "document", "turn")

Query = Select[Any, *tuple[Any, ...]]
Progress = Callable[[int, int], None]  # (records written, records in all)


def _aliases() -> Any:
    return (
        select(func.array_agg(aggregate_order_by(ConceptAlias.alias, ConceptAlias.alias)))
        .where(ConceptAlias.concept_id == Concept.id)
        .scalar_subquery()
    )


def _queries(owner_id: uuid.UUID, embeddings: bool) -> dict[str, Query]:
    """Each kind's rows, oldest first, with columns named as in the file."""
    queries: dict[str, Query] = {
        "ai_instance": select(
            AIInstance.id,
            AIInstance.name,
            AIInstance.platform,
            AIInstance.description,
            AIInstance.first_seen,
            AIInstance.last_seen,
        ).where(AIInstance.owner_id == owner_id),
        "session": select(
            ConversationSession.id,
            ConversationSession.conversation_id,
            ConversationSession.title,
            ConversationSession.ai_instance_id.label("ai_instance"),
            ConversationSession.source_url,
            ConversationSession.summary,
            ConversationSession.started_at,
            ConversationSession.last_active,
        ).where(ConversationSession.owner_id == owner_id),
        "concept": select(
            Concept.id,
            Concept.name,
            Concept.type,
            Concept.description,
            Concept.domain,
            Concept.status,
            Concept.metadata_.label("metadata"),
            _aliases().label("aliases"),
            Concept.created_at,
            Concept.updated_at,
            Concept.access_count,
            Concept.last_accessed,
            Concept.archived_at,
        ).where(Concept.owner_id == owner_id),
        "relationship": select(
            ConceptRelationship.id,
            ConceptRelationship.from_concept_id.label("from"),
            ConceptRelationship.to_concept_id.label("to"),
            ConceptRelationship.rel_type,
            ConceptRelationship.weight,
            ConceptRelationship.description,
            ConceptRelationship.created_at,
        ).where(ConceptRelationship.owner_id == owner_id),
        "observation": select(
            Observation.id,
            Observation.observation,
            Observation.confidence,
            Observation.domain,
            Observation.evidence,
            Observation.session_id.label("session"),
            Observation.ai_instance_id.label("ai_instance"),
            Observation.created_at,
            Observation.occurred_at,
            Observation.access_count,
            Observation.last_accessed,
            Observation.seen_count,
            Observation.last_seen_at,
            Observation.archived_at,
            Observation.supersedes_id.label("supersedes"),
        ).where(Observation.owner_id == owner_id),
        "pattern": select(
            Pattern.id,
            Pattern.category,
            Pattern.pattern_name,
            Pattern.pattern_text,
            Pattern.confidence,
            Pattern.evidence_observation_ids.label("evidence_observations"),
            Pattern.created_at,
            Pattern.last_updated,
            Pattern.access_count,
            Pattern.last_accessed,
            Pattern.archived_at,
            Pattern.supersedes_id.label("supersedes"),
        ).where(Pattern.owner_id == owner_id),
        "document": select(
            Document.id,
            Document.title,
            Document.doc_type,
            Document.url,
            Document.content_summary,
            Document.key_concepts,
            Document.publication_date,
            Document.metadata_.label("metadata"),
            Document.created_at,
            Document.access_count,
            Document.last_accessed,
            Document.archived_at,
        ).where(Document.owner_id == owner_id),
        "turn": select(
            Turn.id,
            Turn.session_id.label("session"),
            Turn.position,
            Turn.speaker,
            Turn.text,
            Turn.occurred_at,
            Turn.source_key.label("key"),
            Turn.created_at,
            Turn.access_count,
            Turn.last_accessed,
            Turn.archived_at,
        ).where(Turn.owner_id == owner_id),
    }
    if embeddings:
        queries["embedding"] = select(
            Embedding.id,
            func.concat(Embedding.source_type, ":", Embedding.source_id).label("item"),
            Embedding.model,
            Embedding.vector,
        ).where(Embedding.owner_id == owner_id)
    return {kind: query.order_by(query.selected_columns.id) for kind, query in queries.items()}


def counts(db: Session, *, owner_id: uuid.UUID, embeddings: bool = False) -> dict[str, int]:
    return {
        kind: db.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
        for kind, query in _queries(owner_id, embeddings).items()
    }


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "tolist"):  # a pgvector vector
        return [round(float(v), 7) for v in value.tolist()]
    return value


def _line(kind: str, row: dict[str, Any]) -> str:
    record: dict[str, Any] = {"kind": kind}
    for name, value in row.items():
        nothing_to_say = value is None or DEFAULTS.get(name, ...) == value
        if nothing_to_say or (name == "id" and kind not in REFERENCED):
            continue
        record[name] = _value(value)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def export_lines(
    db: Session, *, owner_id: uuid.UUID, embeddings: bool = False, progress: Progress | None = None
) -> Iterator[str]:
    """The account's file, a line at a time (each ending in a newline).

    ``db`` must be fresh: the export takes its snapshot at the first query."""
    db.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    counted = counts(db, owner_id=owner_id, embeddings=embeddings)
    space = db.get(Space, owner_id)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": datetime.now(UTC).isoformat(),
        "counts": counted,
        "embeddings": embeddings,
        # Where it came from, so a whole account's files go back into spaces of the same names.
        **({"space": space.name, "default_space": space.is_default} if space is not None else {}),
    }
    yield json.dumps(header, separators=(",", ":")) + "\n"
    written, total = 0, sum(counted.values())
    for kind, query in _queries(owner_id, embeddings).items():
        result = db.execute(query, execution_options={"yield_per": STREAM_BATCH})
        for row in result.mappings():
            yield _line(kind, dict(row)) + "\n"
            written += 1
            if progress is not None and written % STREAM_BATCH == 0:
                progress(written, total)
    if progress is not None:
        progress(written, total)
