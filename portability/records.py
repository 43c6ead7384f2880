"""The export file's lines, version 1, as pydantic models: the one
description of the format, its published JSON Schema (docs/export-schema.json)
and the check of each line on reading it.

The first line is the ``Header``; every other line is one record with a
``kind``. Ids are the exporting account's and serve only as references
inside the file; an import gives every record a new id. Fields that are null
or at their default are left out when writing. Each field keeps the check
tools apply to the same value (``memory.validation``), so a file holds only
what a tool could have stored, and a problem reads like a tool's:
``observation.confidence must be between 0 and 1 (got 1.5)``.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError, core_schema

from core.errors import InvalidInput
from memory import validation as check
from memory.knowledge import RELATIONSHIP_TYPES
from memory.observations import MAX_EVIDENCE_ITEM_CHARS
from memory.turns import MAX_SOURCE_KEY_CHARS, MAX_TURN_CHARS

FORMAT = "memorygate"
VERSION = 1
MAX_ALIASES = 1_000
MAX_VECTOR_DIMENSIONS = 4_096


@dataclass(frozen=True)
class Checked:
    """A field checked as a tool checks it (``checker``), published as
    ``schema``. Its problem is the checker's words; the field's name is added
    where it is reported (``kind.field``). Used as ``Annotated[Any, Checked(...)]``."""

    checker: Callable[[str, Any], Any]
    schema: dict[str, Any]
    required: bool = False

    def validate(self, value: Any) -> Any:
        if value is None:
            if self.required:
                raise PydanticCustomError("checked", "is required")
            return None
        try:
            return self.checker("", value)
        except InvalidInput as exc:
            raise PydanticCustomError("checked", "{problem}", {"problem": exc.problem}) from None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return dict(self.schema)


def _text(max_chars: int) -> Callable[[str, Any], Any]:
    return lambda name, value: check.text(name, value, max_chars=max_chars, required=False)


def _identifier(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**63:
        raise InvalidInput(name, "must be a positive whole number")
    return value


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise InvalidInput(name, "must be a whole number from 0")
    return value


def _identifiers(name: str, value: Any) -> list[int]:
    return [_identifier(f"{name}[{i}]", item) for i, item in enumerate(check.int_list(name, value))]


def _rel_type(name: str, value: Any) -> str:
    if value not in RELATIONSHIP_TYPES:
        raise InvalidInput(name, f"must be one of {', '.join(RELATIONSHIP_TYPES)}")
    return str(value)


def _aliases(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_ALIASES:
        raise InvalidInput(name, f"must be a list of at most {MAX_ALIASES} names")
    return [check.required_text(f"{name}[{i}]", v, max_chars=check.MAX_NAME_CHARS) for i, v in enumerate(value)]


def _vector(name: str, value: Any) -> None:
    """Checked, then not kept: imports embed every memory again, and a
    file's vectors held as Python floats cost several times their text."""
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_VECTOR_DIMENSIONS
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)
    ):
        raise InvalidInput(name, f"must be a list of 1 to {MAX_VECTOR_DIMENSIONS} numbers")


def _evidence(name: str, value: Any) -> list[str]:
    return check.string_list(name, value, max_item_chars=MAX_EVIDENCE_ITEM_CHARS)


def _string(max_chars: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_chars}


def _words(max_chars: int, *, required: bool = False) -> Checked:
    return Checked(_text(max_chars), _string(max_chars), required)


def _reference(kind: str, *, required: bool = False) -> Checked:
    schema = {"type": "integer", "minimum": 1, "description": f"The id of a {kind} in this file."}
    return Checked(_identifier, schema, required)


def _list(checker: Callable[[str, Any], Any], items: dict[str, Any], max_items: int) -> Checked:
    return Checked(checker, {"type": "array", "items": items, "maxItems": max_items})


_MOMENT = {"type": "string", "format": "date-time", "description": "ISO 8601, UTC when no zone is given."}
_ID = {"type": "integer", "minimum": 1, "description": "Unique per kind in the file; only a reference."}
_VECTOR = {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": MAX_VECTOR_DIMENSIONS}
_OBJECT = {"type": "object", "description": f"Any JSON object, at most {check.MAX_JSON_BYTES} bytes."}

# The field types of the format: each a checked value and its published schema.
Id = Annotated[Any, Checked(_identifier, _ID, required=True)]
Name = Annotated[Any, _words(check.MAX_NAME_CHARS, required=True)]
Stamp = Annotated[Any, Checked(check.moment, _MOMENT, required=True)]
Moment = Annotated[Any, Checked(check.moment, _MOMENT)]
Confidence = Annotated[Any, Checked(check.unit_interval, {"type": "number", "minimum": 0, "maximum": 1}, True)]
Count = Annotated[Any, Checked(_count, {"type": "integer", "minimum": 0})]
Metadata = Annotated[Any, Checked(check.json_object, _OBJECT)]
Description = Annotated[Any, _words(check.MAX_DESCRIPTION_CHARS)]
Domain = Annotated[Any, _words(check.MAX_NAME_CHARS)]
Label = Annotated[Any, _words(100)]
RequiredLabel = Annotated[Any, _words(100, required=True)]
Title = Annotated[Any, _words(check.MAX_TITLE_CHARS)]
Url = Annotated[Any, _words(check.MAX_URL_CHARS)]


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Header(BaseModel):
    """The first line of every export."""

    model_config = ConfigDict(extra="allow")

    format: Literal["memorygate"]
    version: int = Field(ge=1, le=VERSION)
    exported_at: str | None = Field(None, json_schema_extra={"format": "date-time"})
    counts: dict[str, int] | None = Field(None, description="Records per kind, for a reader's progress.")
    space: str | None = Field(None, description="The name of the space the file was exported from.")
    default_space: bool | None = Field(
        None, description="Whether that space was its account's default space (imported into the default)."
    )


class AIInstance(Line):
    """An AI that stored memories (name and platform)."""

    kind: Literal["ai_instance"]
    id: Id
    name: Name
    platform: Name
    description: Description = None
    first_seen: Stamp
    last_seen: Stamp


class Session(Line):
    """A conversation."""

    kind: Literal["session"]
    id: Id
    conversation_id: Annotated[Any, _words(500, required=True)]
    title: Title = None
    ai_instance: Annotated[Any, _reference("ai_instance")] = None
    source_url: Url = None
    summary: Description = None
    started_at: Stamp
    last_active: Stamp


class Concept(Line):
    """A named concept, with its aliases."""

    kind: Literal["concept"]
    id: Id
    name: Name
    type: RequiredLabel
    description: Description = None
    domain: Domain = None
    status: Label = None
    metadata: Metadata = None
    aliases: Annotated[Any, _list(_aliases, _string(check.MAX_NAME_CHARS), MAX_ALIASES)] = None
    created_at: Stamp
    updated_at: Stamp
    access_count: Count = None
    last_accessed: Moment = None
    archived_at: Moment = None


class Relationship(Line):
    """A weighted link from one concept to another."""

    kind: Literal["relationship"]
    from_: Annotated[Any, _reference("concept", required=True)] = Field(alias="from")
    to: Annotated[Any, _reference("concept", required=True)]
    rel_type: Annotated[Any, Checked(_rel_type, {"enum": list(RELATIONSHIP_TYPES)}, required=True)]
    weight: Confidence
    description: Description = None
    created_at: Stamp


class Observation(Line):
    """An observation; ``supersedes`` names the observation it replaced."""

    kind: Literal["observation"]
    id: Id
    observation: Annotated[Any, _words(check.MAX_OBSERVATION_CHARS, required=True)]
    confidence: Confidence
    domain: Domain = None
    evidence: Annotated[Any, _list(_evidence, _string(MAX_EVIDENCE_ITEM_CHARS), check.MAX_LIST_ITEMS)] = None
    session: Annotated[Any, _reference("session")] = None
    ai_instance: Annotated[Any, _reference("ai_instance")] = None
    # Absent only in files converted from elsewhere: the import's own time.
    created_at: Moment = None
    occurred_at: Moment = None
    access_count: Count = None
    last_accessed: Moment = None
    seen_count: Count = None
    last_seen_at: Moment = None
    archived_at: Moment = None
    supersedes: Annotated[Any, _reference("observation")] = None


class Pattern(Line):
    """A pattern; ``supersedes`` names the pattern version it replaced."""

    kind: Literal["pattern"]
    id: Id
    category: Name
    pattern_name: Name
    pattern_text: Annotated[Any, _words(check.MAX_PATTERN_TEXT_CHARS, required=True)]
    confidence: Confidence
    evidence_observations: Annotated[Any, _list(_identifiers, {"type": "integer", "minimum": 1}, 100)] = None
    created_at: Stamp
    last_updated: Stamp
    access_count: Count = None
    last_accessed: Moment = None
    archived_at: Moment = None
    supersedes: Annotated[Any, _reference("pattern")] = None


class Document(Line):
    """A document by reference."""

    kind: Literal["document"]
    id: Id
    title: Annotated[Any, _words(check.MAX_TITLE_CHARS, required=True)]
    doc_type: RequiredLabel
    url: Url = None
    content_summary: Annotated[Any, _words(check.MAX_DOCUMENT_SUMMARY_CHARS, required=True)]
    key_concepts: Annotated[Any, _list(check.string_list, {"type": "string"}, check.MAX_LIST_ITEMS)] = None
    publication_date: Annotated[Any, Checked(check.iso_date, {"type": "string", "format": "date"})] = None
    metadata: Metadata = None
    created_at: Stamp
    access_count: Count = None
    last_accessed: Moment = None
    archived_at: Moment = None


class Turn(Line):
    """One turn of a conversation, in its place; ``key`` is the client's own
    id for it, which makes appending it again a no-op."""

    kind: Literal["turn"]
    id: Id
    session: Annotated[Any, _reference("session", required=True)]
    position: Annotated[Any, Checked(_count, {"type": "integer", "minimum": 0}, required=True)]
    speaker: Name
    text: Annotated[Any, _words(MAX_TURN_CHARS, required=True)]
    occurred_at: Stamp
    key: Annotated[Any, _words(MAX_SOURCE_KEY_CHARS)] = None
    created_at: Moment = None
    access_count: Count = None
    last_accessed: Moment = None
    archived_at: Moment = None


class Embedding(Line):
    """A memory's vector; imports embed again, so it is checked and dropped."""

    kind: Literal["embedding"]
    item: Annotated[Any, Checked(check.parse_ref, {"type": "string", "description": "A ref: 'observation:12'."}, True)]
    model: Name
    vector: Annotated[Any, Checked(_vector, _VECTOR, required=True)]


RECORDS = (AIInstance, Session, Concept, Relationship, Observation, Pattern, Document, Turn, Embedding)
# Kinds in the order a file lists them (what another record names comes first).
KINDS: tuple[str, ...] = tuple(model.model_fields["kind"].annotation.__args__[0] for model in RECORDS)  # type: ignore[union-attr]
AnyRecord = Annotated[
    AIInstance | Session | Concept | Relationship | Observation | Pattern | Document | Turn | Embedding,
    Field(discriminator="kind"),
]
_RECORD: TypeAdapter[Any] = TypeAdapter(AnyRecord)


def checked_fields(raw: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """One line's kind and its checked fields (what is null left out);
    InvalidInput names ``kind.field`` and the rule."""
    kind = raw.get("kind")
    if kind not in KINDS:
        raise InvalidInput("kind", f"must be one of {', '.join(KINDS)}")
    try:
        record = _RECORD.validate_python(raw)
    except ValidationError as exc:
        raise _first_problem(str(kind), exc) from None
    fields = record.model_dump(by_alias=True, exclude_none=True)
    del fields["kind"]
    return str(kind), fields


def _first_problem(kind: str, error: ValidationError) -> InvalidInput:
    """The first problem, as the checks before the models said it: an
    unknown field before any other."""
    errors = error.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    name = ".".join([kind, *(str(part) for part in first["loc"][1:])])
    if first["type"] == "extra_forbidden":
        return InvalidInput(name, "is not a field of this kind")
    if first["type"] == "missing":
        return InvalidInput(name, "is required")
    return InvalidInput(name, first["msg"])


def json_schema() -> dict[str, Any]:
    """The published schema of one line: the header (the first line) or a record."""
    schema = TypeAdapter(Header | AnyRecord).json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"A line of a MemoryGate export, format version {VERSION} (JSON Lines)",
        "description": "The first line is the header; every other line is one record, told apart by its kind.",
        **schema,
    }
