"""Reading an export file: its lines decoded, each checked as a record
(``portability.records``, the format's models and published schema), then
the file checked as a whole (``check_references``); every problem names its
line and field."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidInput
from portability import records
from portability.records import FORMAT, VERSION

MAX_PROBLEMS_SHOWN = 20


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


# Fields naming another record of the file, and the kind they name.
REFERENCES: dict[str, dict[str, str]] = {
    "session": {"ai_instance": "ai_instance"},
    "relationship": {"from": "concept", "to": "concept"},
    "observation": {"session": "session", "ai_instance": "ai_instance", "supersedes": "observation"},
    "pattern": {"evidence_observations": "observation", "supersedes": "pattern"},
    "turn": {"session": "session"},
}


def parse_record(line_number: int, raw: dict[str, Any]) -> Record:
    """One line's record, every field checked; InvalidInput names ``kind.field``."""
    kind, fields = records.checked_fields(raw)
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
    for kind in records.KINDS:
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
