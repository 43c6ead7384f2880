"""Moving in from the MCP reference memory server (its ``memory.jsonl``).

That server keeps a knowledge graph, one JSON object a line::

    {"type": "entity", "name": "John_Smith", "entityType": "person", "observations": ["Speaks Spanish"]}
    {"type": "relation", "from": "John_Smith", "to": "Anthropic", "relationType": "works_at"}

Entities become concepts (the entity type as the concept's type), each of
their observations an observation that names its entity ("John_Smith: Speaks
Spanish", so a search for either finds it), and relations become
relationships: a relation type MemoryGate knows is kept, any other becomes
``related_to`` with the original type as its description. A relation to an
entity the file does not have is skipped and counted. Fields newer versions
of that server add are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from core.errors import InvalidInput
from memory import validation as check
from memory.knowledge import RELATIONSHIP_TYPES
from portability.jsonl_schema import FileRejected, ParsedFile, Record, problem

SOURCE = "mcp-memory"
DEFAULT_CONFIDENCE = 0.8
DEFAULT_WEIGHT = 0.5


def looks_like(first: Any) -> bool:
    return isinstance(first, dict) and first.get("type") in ("entity", "relation")


def convert(lines: Iterable[tuple[int, Any]]) -> ParsedFile:
    parsed = ParsedFile(SOURCE)
    now = datetime.now(UTC)
    concepts: dict[str, Record] = {}
    relations: list[tuple[int, dict[str, Any]]] = []
    problems = []
    for line_number, raw in lines:
        try:
            kind = raw.get("type") if isinstance(raw, dict) else None
            if kind == "entity":
                _entity(parsed, concepts, line_number, raw, now)
            elif kind == "relation":
                relations.append((line_number, raw))
            else:
                raise InvalidInput("type", "must be 'entity' or 'relation'")
        except InvalidInput as exc:
            problems.append(problem(line_number, exc))
    edges: dict[tuple[int, int, str], _Edge] = {}
    for line_number, raw in relations:
        try:
            _relation(parsed, concepts, edges, line_number, raw, now)
        except InvalidInput as exc:
            problems.append(problem(line_number, exc))
    if problems:
        raise FileRejected(problems)
    return parsed


def _entity(
    parsed: ParsedFile, concepts: dict[str, Record], line_number: int, raw: dict[str, Any], now: datetime
) -> None:
    name = check.required_text("entity.name", raw.get("name"), max_chars=check.MAX_NAME_CHARS)
    entity_type = check.required_text("entity.entityType", raw.get("entityType"), max_chars=100)
    facts = raw.get("observations") or []
    if not isinstance(facts, list):
        raise InvalidInput("entity.observations", "must be a list of strings")
    if name.lower() in concepts:
        concept = concepts[name.lower()]  # the server appends; a later line adds to the entity
    else:
        fields = {"id": len(concepts) + 1, "name": name, "type": entity_type, "created_at": now, "updated_at": now}
        concept = Record("concept", line_number, fields)
        concepts[name.lower()] = concept
        parsed.add(concept)
    for index, fact in enumerate(facts):
        text = check.required_text(
            f"entity.observations[{index}]", fact, max_chars=check.MAX_OBSERVATION_CHARS - len(name) - 2
        )
        parsed.add(
            Record(
                "observation",
                line_number,
                {
                    "id": len(parsed.of("observation")) + 1,
                    "observation": f"{name}: {text}",
                    "confidence": DEFAULT_CONFIDENCE,
                    "evidence": [f"memory.jsonl entity {name} ({entity_type})"],
                },
            )
        )


def _relation(
    parsed: ParsedFile,
    concepts: dict[str, Record],
    edges: dict[tuple[int, int, str], _Edge],
    line_number: int,
    raw: dict[str, Any],
    now: datetime,
) -> None:
    ends = [
        check.required_text(f"relation.{end}", raw.get(end), max_chars=check.MAX_NAME_CHARS) for end in ("from", "to")
    ]
    relation_type = check.required_text("relation.relationType", raw.get("relationType"), max_chars=200)
    found = [concepts.get(end.lower()) for end in ends]
    if found[0] is None or found[1] is None:
        parsed.skip("relations to an entity not in the file")
        return
    if found[0] is found[1]:
        parsed.skip("relations of an entity to itself")
        return
    known = relation_type in RELATIONSHIP_TYPES
    fields = {
        "from": found[0].fields["id"],
        "to": found[1].fields["id"],
        "rel_type": relation_type if known else "related_to",
        "weight": DEFAULT_WEIGHT,
        "created_at": now,
    }
    if not known:
        fields["description"] = relation_type
    edge = (fields["from"], fields["to"], fields["rel_type"])
    earlier = edges.get(edge)
    if earlier is None:
        edges[edge] = _Edge(Record("relationship", line_number, fields))
        parsed.add(edges[edge].record)
    elif not known:  # unknown types between the same pair share one related_to edge
        earlier.describe(relation_type)


class _Edge:
    """One relationship and the unknown relation types it stands for, in
    file order: a set to find repeats (a list searched each time made a
    file of many types between one pair quadratic), and a description kept
    within the limit every other description has."""

    def __init__(self, record: Record) -> None:
        self.record = record
        described = record.fields.get("description")
        self.types: set[str] = {described} if described else set()

    def describe(self, relation_type: str) -> None:
        if relation_type in self.types:
            return
        self.types.add(relation_type)
        described = self.record.fields.get("description", "")
        if len(described) + 2 + len(relation_type) <= check.MAX_DESCRIPTION_CHARS:  # else: the first types stay
            self.record.fields["description"] = f"{described}; {relation_type}" if described else relation_type
