"""The export file, version 1: what each line holds, and the checks on reading it.

A file is UTF-8 JSON Lines. The first line is the header::

    {"format": "memorygate", "version": 1, "exported_at": "...", "counts": {...}}

Every other line is one record with a ``kind``. Ids are the exporting
account's and serve only as references inside the file; an import gives every
record a new id. Fields that are null or at their default are left out.

======================  ==================================================
kind                    fields (* required)
======================  ==================================================
ai_instance             id*, name*, platform*, description, first_seen*, last_seen*
session                 id*, conversation_id*, title, ai_instance, source_url,
                        summary, started_at*, last_active*
concept                 id*, name*, type*, description, domain, status,
                        metadata, aliases, created_at*, updated_at*,
                        access_count, last_accessed, archived_at
relationship            from*, to* (concept ids), rel_type*, weight*,
                        description, created_at*
observation             id*, observation*, confidence*, domain, evidence,
                        session, ai_instance, created_at, occurred_at,
                        access_count, last_accessed, seen_count, last_seen_at,
                        archived_at, supersedes (the observation it replaced)
pattern                 id*, category*, pattern_name*, pattern_text*,
                        confidence*, evidence_observations (observation ids),
                        created_at*, last_updated*, access_count,
                        last_accessed, archived_at, supersedes (the
                        pattern it replaced)
document                id*, title*, doc_type*, url, content_summary*,
                        key_concepts, publication_date, metadata,
                        created_at*, access_count, last_accessed,
                        archived_at
embedding               item* ("observation:12"), model*, vector*
======================  ==================================================

Reading checks each line on its own (``parse_record``) and then the file as a
whole (``check_references``); every problem names its line and field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidInput
from memory import validation as check
from memory.knowledge import RELATIONSHIP_TYPES
from memory.observations import MAX_EVIDENCE_ITEM_CHARS

FORMAT = "memorygate"
VERSION = 1
MAX_ALIASES = 1_000
MAX_VECTOR_DIMENSIONS = 4_096
MAX_PROBLEMS_SHOWN = 20

Check = Callable[[str, Any], Any]


class FileRejected(Exception):
    """The file cannot be imported; ``problems`` are one line each, naming line and field."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        super().__init__("\n".join(shown + ([f"… and {more} more problems"] if more else [])))
        self.problems = problems


@dataclass
class Record:
    kind: str
    line: int
    fields: dict[str, Any]


@dataclass
class ParsedFile:
    """What an import reads: records by kind in file order, and vectors set aside."""

    source: str  # "memorygate" or "mcp-memory" (the reference server's memory.jsonl)
    records: dict[str, list[Record]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def of(self, kind: str) -> list[Record]:
        return self.records.get(kind, [])

    def add(self, record: Record) -> None:
        self.records.setdefault(record.kind, []).append(record)

    def skip(self, what: str) -> None:
        self.skipped[what] = self.skipped.get(what, 0) + 1

    @property
    def total(self) -> int:
        return sum(len(records) for kind, records in self.records.items() if kind != "embedding")


@dataclass(frozen=True)
class _Required:
    checker: Check

    def __call__(self, name: str, value: Any) -> Any:
        if value is None:
            raise InvalidInput(name, "is required")
        return self.checker(name, value)


def _required(checker: Check) -> Check:
    return _Required(checker)


def _text(max_chars: int) -> Check:
    return lambda name, value: check.text(name, value, max_chars=max_chars, required=False)


def _identifier(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**63:
        raise InvalidInput(name, "must be a positive whole number")
    return value


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise InvalidInput(name, "must be a whole number from 0")
    return value


def _moment(name: str, value: Any) -> Any:
    return check.moment(name, value)


def _identifiers(name: str, value: Any) -> list[int]:
    return [_identifier(f"{name}[{i}]", item) for i, item in enumerate(check.int_list(name, value))]


def _rel_type(name: str, value: Any) -> str:
    if value not in RELATIONSHIP_TYPES:
        raise InvalidInput(name, f"must be one of {', '.join(RELATIONSHIP_TYPES)}")
    return str(value)


def _aliases(name: str, value: Any) -> list[str]:
    if value is None:
        return []
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


def _item_ref(name: str, value: Any) -> tuple[str, int]:
    return check.parse_ref(name, value)


_ID = _required(_identifier)
_NAME = _required(_text(check.MAX_NAME_CHARS))
_STAMP = _required(_moment)
_CONFIDENCE = _required(check.unit_interval)

FIELDS: dict[str, dict[str, Check]] = {
    "ai_instance": {
        "id": _ID,
        "name": _NAME,
        "platform": _NAME,
        "description": _text(check.MAX_DESCRIPTION_CHARS),
        "first_seen": _STAMP,
        "last_seen": _STAMP,
    },
    "session": {
        "id": _ID,
        "conversation_id": _required(_text(500)),
        "title": _text(check.MAX_TITLE_CHARS),
        "ai_instance": _identifier,
        "source_url": _text(check.MAX_URL_CHARS),
        "summary": _text(check.MAX_DESCRIPTION_CHARS),
        "started_at": _STAMP,
        "last_active": _STAMP,
    },
    "concept": {
        "id": _ID,
        "name": _NAME,
        "type": _required(_text(100)),
        "description": _text(check.MAX_DESCRIPTION_CHARS),
        "domain": _text(check.MAX_NAME_CHARS),
        "status": _text(100),
        "metadata": check.json_object,
        "aliases": _aliases,
        "created_at": _STAMP,
        "updated_at": _STAMP,
        "access_count": _count,
        "last_accessed": _moment,
        "archived_at": _moment,
    },
    "relationship": {
        "from": _ID,
        "to": _ID,
        "rel_type": _required(_rel_type),
        "weight": _CONFIDENCE,
        "description": _text(check.MAX_DESCRIPTION_CHARS),
        "created_at": _STAMP,
    },
    "observation": {
        "id": _ID,
        "observation": _required(_text(check.MAX_OBSERVATION_CHARS)),
        "confidence": _CONFIDENCE,
        "domain": _text(check.MAX_NAME_CHARS),
        "evidence": lambda name, value: check.string_list(name, value, max_item_chars=MAX_EVIDENCE_ITEM_CHARS),
        "session": _identifier,
        "ai_instance": _identifier,
        # Absent only in files converted from elsewhere: the import's own time.
        "created_at": _moment,
        "occurred_at": _moment,
        "access_count": _count,
        "last_accessed": _moment,
        "seen_count": _count,
        "last_seen_at": _moment,
        "archived_at": _moment,
        "supersedes": _identifier,
    },
    "pattern": {
        "id": _ID,
        "category": _NAME,
        "pattern_name": _NAME,
        "pattern_text": _required(_text(check.MAX_PATTERN_TEXT_CHARS)),
        "confidence": _CONFIDENCE,
        "evidence_observations": _identifiers,
        "created_at": _STAMP,
        "last_updated": _STAMP,
        "access_count": _count,
        "last_accessed": _moment,
        "archived_at": _moment,
        "supersedes": _identifier,
    },
    "document": {
        "id": _ID,
        "title": _required(_text(check.MAX_TITLE_CHARS)),
        "doc_type": _required(_text(100)),
        "url": _text(check.MAX_URL_CHARS),
        "content_summary": _required(_text(check.MAX_DOCUMENT_SUMMARY_CHARS)),
        "key_concepts": check.string_list,
        "publication_date": check.iso_date,
        "metadata": check.json_object,
        "created_at": _STAMP,
        "access_count": _count,
        "last_accessed": _moment,
        "archived_at": _moment,
    },
    "embedding": {"item": _required(_item_ref), "model": _NAME, "vector": _required(_vector)},
}

# Fields naming another record of the file, and the kind they name.
REFERENCES: dict[str, dict[str, str]] = {
    "session": {"ai_instance": "ai_instance"},
    "relationship": {"from": "concept", "to": "concept"},
    "observation": {"session": "session", "ai_instance": "ai_instance", "supersedes": "observation"},
    "pattern": {"evidence_observations": "observation", "supersedes": "pattern"},
}


def parse_record(line_number: int, raw: dict[str, Any]) -> Record:
    """One line's record, every field checked; InvalidInput names ``kind.field``."""
    kind = raw.get("kind")
    if kind not in FIELDS:
        raise InvalidInput("kind", f"must be one of {', '.join(FIELDS)}")
    checks = FIELDS[kind]
    unknown = [name for name in raw if name != "kind" and name not in checks]
    if unknown:
        raise InvalidInput(f"{kind}.{unknown[0]}", "is not a field of this kind")
    fields = {}
    for name, checker in checks.items():
        given = raw.get(name)
        if given is None and not isinstance(checker, _Required):
            continue
        value = checker(f"{kind}.{name}", given)
        if value is not None:
            fields[name] = value
    return Record(kind, line_number, fields)


def problem(line_number: int, error: InvalidInput) -> str:
    return f"line {line_number}: {error.field} {error.problem}"


def read_header(raw: Any) -> None:
    """Refuse a header this server cannot read; InvalidInput names the field."""
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise InvalidInput("format", f'the first line must be the header {{"format": "{FORMAT}", ...}}')
    version = raw.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= VERSION:
        raise InvalidInput("version", f"must be a version this server reads (1 to {VERSION}; got {version!r})")


def parse_lines(lines: Iterable[tuple[int, Any]]) -> ParsedFile:
    """Our own export: the decoded lines after the header, all checked."""
    parsed = ParsedFile(FORMAT)
    problems = []
    for line_number, raw in lines:
        try:
            if not isinstance(raw, dict):
                raise InvalidInput("line", "must be a JSON object")
            parsed.add(parse_record(line_number, raw))
        except InvalidInput as exc:
            problems.append(problem(line_number, exc))
    problems.extend(check_references(parsed))
    if problems:
        raise FileRejected(problems)
    return parsed


def check_references(parsed: ParsedFile) -> list[str]:
    """Every id unique per kind, every reference to a record in the file,
    every observation replaced at most once."""
    problems = []
    ids: dict[str, set[int]] = {}
    for kind in FIELDS:
        seen = ids.setdefault(kind, set())
        for record in parsed.of(kind):
            identifier = record.fields.get("id")
            if identifier is None:
                continue
            if identifier in seen:
                problems.append(f"line {record.line}: {kind}.id {identifier} appears twice")
            seen.add(identifier)
    for kind, fields in REFERENCES.items():
        for record in parsed.of(kind):
            for name, target in fields.items():
                value = record.fields.get(name)
                for wanted in value if isinstance(value, list) else [value] if value is not None else []:
                    if wanted not in ids[target]:
                        problems.append(f"line {record.line}: {kind}.{name} names {target} {wanted}, not in the file")
    for kind in ("observation", "pattern"):
        problems.extend(_version_problems(kind, parsed.of(kind)))
    problems.extend(_name_problems(parsed.of("concept")))
    for record in parsed.of("embedding"):
        kind, identifier = record.fields["item"]
        if identifier not in ids[kind]:
            problems.append(f"line {record.line}: embedding.item names {kind} {identifier}, not in the file")
    return problems


def _version_problems(kind: str, records: list[Record]) -> list[str]:
    """Each version replaces at most one, is replaced at most once, and no
    chain of versions comes back to where it started (such memories would
    all count as replaced, and vanish from search)."""
    problems = []
    replaced: dict[int, int] = {}
    replaces: dict[int, tuple[int, int]] = {}  # id -> (the id it replaces, its line)
    for record in records:
        old = record.fields.get("supersedes")
        if old is None:
            continue
        if old == record.fields["id"]:
            problems.append(f"line {record.line}: {kind}.supersedes names the {kind} itself")
        elif old in replaced:
            problems.append(f"line {record.line}: {kind}.supersedes {kind} {old} was replaced on line {replaced[old]}")
        else:
            replaced[old] = record.line
            replaces[record.fields["id"]] = (old, record.line)
    for start, (_, line) in replaces.items():
        seen, current = {start}, replaces[start][0]
        while current in replaces and current not in seen:
            seen.add(current)
            current = replaces[current][0]
        if current == start and start == min(seen):  # each cycle once, by its smallest id
            problems.append(
                f"line {line}: {kind}.supersedes makes a cycle of versions ({', '.join(map(str, sorted(seen)))})"
            )
    return problems


def _name_problems(concepts: list[Record]) -> list[str]:
    """A name or alias (any case) belongs to one concept of the file."""
    problems = []
    owners: dict[str, tuple[int, int]] = {}  # folded name -> (concept id, line)
    for record in concepts:
        for name in (record.fields["name"], *record.fields.get("aliases", [])):
            folded = name.casefold()
            owner = owners.setdefault(folded, (record.fields["id"], record.line))
            if owner[0] != record.fields["id"]:
                problems.append(f"line {record.line}: concept {name!r} is already a name or alias on line {owner[1]}")
    return problems


def decode(lines: Iterable[bytes | str]) -> Iterable[tuple[int, Any]]:
    """(line number, decoded JSON) for every non-blank line; a line that is not
    JSON raises FileRejected naming it."""
    for number, line in enumerate(lines, start=1):
        try:
            text = line.decode("utf-8") if isinstance(line, bytes) else line
        except UnicodeDecodeError:
            raise FileRejected([f"line {number}: not UTF-8 text"]) from None
        if not text.strip():
            continue
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as exc:
            raise FileRejected([f"line {number}: not JSON ({exc.msg} at column {exc.colno})"]) from None
        except RecursionError:
            raise FileRejected([f"line {number}: nested too deeply"]) from None
        except ValueError:  # an integer of more digits than Python converts
            raise FileRejected([f"line {number}: a number is too long"]) from None
