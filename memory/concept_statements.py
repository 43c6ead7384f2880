"""What a concept's relationships say, as sentences ("Ann lives in Porto"):
part of what the concept means (its vector) and shown with it in search."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from models import Concept, ConceptRelationship

# One or more imported relation types: "lives_in", "lives_in; works_at".
RELATION_TYPES = re.compile(r"[A-Za-z][\w-]*(; [A-Za-z][\w-]*)*")


def statements(db: Session, concept_ids: Iterable[int]) -> dict[int, list[str]]:
    """What each concept's relationships say, as sentences ("Ann lives in
    Porto"), by concept id; in the order they were made.

    A relationship of a type MemoryGate does not know arrives from an import
    as ``related_to`` with its own type as the description ("lives_in"), which
    then is the verb; any other description follows the statement."""
    wanted = list(concept_ids)
    said: dict[int, list[str]] = {concept_id: [] for concept_id in wanted}
    if not wanted:
        return said
    source, target = aliased(Concept), aliased(Concept)
    rows = db.execute(
        select(ConceptRelationship, source.name, target.name)
        .join(source, source.id == ConceptRelationship.from_concept_id)
        .join(target, target.id == ConceptRelationship.to_concept_id)
        .where(or_(ConceptRelationship.from_concept_id.in_(wanted), ConceptRelationship.to_concept_id.in_(wanted)))
        .order_by(ConceptRelationship.id)
    )
    for edge, from_name, to_name in rows:
        sentence = _statement(edge, from_name, to_name)
        for end in (edge.from_concept_id, edge.to_concept_id):
            if end in said:
                said[end].append(sentence)
    return said


def related_concept_ids(db: Session, concept_id: int) -> list[int]:
    """The concepts at the other end of this one's relationships."""
    rows = db.execute(
        select(ConceptRelationship.from_concept_id, ConceptRelationship.to_concept_id).where(
            or_(ConceptRelationship.from_concept_id == concept_id, ConceptRelationship.to_concept_id == concept_id)
        )
    )
    return sorted({end for pair in rows for end in pair if end != concept_id})


def _statement(edge: ConceptRelationship, from_name: str, to_name: str) -> str:
    described = (edge.description or "").strip()
    if edge.rel_type == "related_to" and described and RELATION_TYPES.fullmatch(described):
        return f"{from_name} {described.replace('_', ' ').replace(';', ',')} {to_name}"
    sentence = f"{from_name} {edge.rel_type.replace('_', ' ')} {to_name}"
    return f"{sentence} ({described})" if described else sentence
