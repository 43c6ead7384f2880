"""Reading a file into an account: what it would add, and adding it.

One pass serves both the preview (``plan``: reads only) and the import
(``apply``: one transaction, so a failure anywhere leaves nothing behind).
A record already in the account is matched by what identifies it, not by id,
which makes importing the same file twice add nothing:

    ai_instance   name and platform         session    conversation id
    concept       name or alias (any case)   relationship  its two concepts and type
    observation   text and recorded time (text alone when the file has no time)
    pattern       category and name          document   title and recorded time
    turn          its conversation and key, else its conversation, time, speaker and text

Imported memories have no vectors: the background backfill embeds them
(keyword search finds them at once). Vectors in the file are not used.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import IO, Any, BinaryIO

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from core.db import take_turns
from core.errors import InvalidInput
from memory import turns
from models import (
    AIInstance,
    Base,
    Concept,
    ConceptAlias,
    ConceptRelationship,
    ConversationSession,
    Document,
    Embedding,
    Observation,
    Pattern,
    Turn,
)
from portability import history, jsonl_schema, records, reference_memory
from portability.jsonl_schema import FileRejected, ParsedFile, Record

INSERT_BATCH = 2_000
ZIP_MAGIC = b"PK\x03\x04"
MAX_UNZIPPED_BYTES = 1024 * 2**20  # a history export unpacked; its conversations are read whole
TURN = "import"  # imports into one account take turns under this lock name
VECTORS_NOT_USED = "vectors (each memory is embedded again in the background)"

Progress = Callable[[int, int], None]  # (records handled, records in all)


def read(lines: Iterable[bytes | str]) -> ParsedFile:
    """A MemoryGate export, the MCP reference server's memory.jsonl, or a
    Claude Code transcript (JSON Lines all), checked throughout;
    FileRejected lists every problem by line and field."""
    lines = iter(lines)
    decoded = iter(jsonl_schema.decode(lines))
    first = next(decoded, None)
    if first is None:
        raise FileRejected(["the file is empty"])
    line_number, raw = first
    if reference_memory.looks_like(raw):
        return reference_memory.convert(chain([first], decoded))
    if history.looks_like_transcript(raw):
        return history.from_transcripts([chain([first], history.json_lines(lines, start=line_number + 1))])
    try:
        jsonl_schema.read_header(raw)
    except InvalidInput as exc:
        raise FileRejected([jsonl_schema.problem(line_number, exc)]) from None
    return jsonl_schema.parse_lines(decoded)


def read_upload(file: BinaryIO) -> ParsedFile:
    """Any file an import takes: a ZIP (ChatGPT's or Claude.ai's export, or a
    folder of Claude Code transcripts), a ``conversations.json``, or JSON Lines."""
    head = file.read(64)
    file.seek(0)
    if head.startswith(ZIP_MAGIC):
        return _read_zip(file)
    if head.lstrip()[:1] == b"[":
        return history.from_export(_json(file, "the file"))
    return read(file)


def read_folder(folder: Path) -> ParsedFile:
    """A folder of Claude Code transcripts (``~/.claude/projects`` or one project's)."""
    paths = sorted(folder.rglob("*.jsonl"))
    if not paths:
        raise FileRejected([f"{folder}: no Claude Code transcripts (*.jsonl) in it"])

    def lines_of(path: Path) -> Iterator[tuple[int, Any]]:
        with path.open("rb") as file:
            yield from history.json_lines(file)

    return history.from_transcripts(lines_of(path) for path in paths)


def _read_zip(file: BinaryIO) -> ParsedFile:
    with open_zip(file) as archive:
        members = zip_members(archive)
        exports = sorted((m for m in members if m.filename.endswith("conversations.json")), key=lambda m: m.filename)
        if exports:
            with archive.open(exports[0]) as inner:
                return history.from_export(_json(inner, exports[0].filename))
        transcripts = sorted(m.filename for m in members if m.filename.endswith(".jsonl"))
        if not transcripts:
            raise FileRejected(["the archive has no conversations.json and no Claude Code transcripts (*.jsonl)"])

        def lines_of(name: str) -> Iterator[tuple[int, Any]]:
            with archive.open(name) as inner:
                yield from history.json_lines(inner)

        return history.from_transcripts(lines_of(name) for name in transcripts)


def open_zip(file: BinaryIO) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(file)
    except zipfile.BadZipFile:
        raise FileRejected(["the file is not a readable ZIP archive"]) from None


def zip_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The archive's files, refused whole when they unpack to too much."""
    members = [info for info in archive.infolist() if not info.is_dir()]
    if sum(info.file_size for info in members) > MAX_UNZIPPED_BYTES:
        raise FileRejected([f"the archive unpacks to more than {MAX_UNZIPPED_BYTES // 2**20:,} MiB"])
    return members


def _json(file: IO[bytes], name: str) -> Any:
    try:
        return json.load(file)
    except UnicodeDecodeError:
        raise FileRejected([f"{name}: not UTF-8 text"]) from None
    except json.JSONDecodeError as exc:
        raise FileRejected([f"{name}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"]) from None
    except (RecursionError, ValueError):
        raise FileRejected([f"{name}: nested too deeply, or a number too long"]) from None


@dataclass
class Outcome:
    """By kind: records the import adds, records the account already has, and
    what it leaves out (with the reason as the key)."""

    added: Counter[str] = field(default_factory=Counter)
    present: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, other: Outcome) -> None:
        self.added.update(other.added)
        self.present.update(other.present)
        self.skipped.update(other.skipped)

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"added": dict(+self.added), "present": dict(+self.present), "skipped": dict(+self.skipped)}

    @classmethod
    def from_dict(cls, saved: dict[str, dict[str, int]]) -> Outcome:
        return cls(*(Counter(saved.get(part, {})) for part in ("added", "present", "skipped")))


KIND_WORDS = {
    "space": ("space", "spaces"),  # made by importing a whole account
    "ai_instance": ("AI instance", "AI instances"),
    "session": ("conversation", "conversations"),
    "concept": ("concept", "concepts"),
    "alias": ("alias", "aliases"),
    "relationship": ("relationship", "relationships"),
    "observation": ("observation", "observations"),
    "pattern": ("pattern", "patterns"),
    "document": ("document", "documents"),
    "turn": ("conversation turn", "conversation turns"),
}


def counted(counts: dict[str, int]) -> str:
    """'4 observations, 1 concept', in the order of KIND_WORDS."""
    return ", ".join(
        f"{counts[kind]:,} {words[counts[kind] != 1]}" for kind, words in KIND_WORDS.items() if counts.get(kind)
    )


def describe(outcome: Outcome, verb: str, subject: str = "This file") -> str:
    """'This file adds 3 observations, 1 concept. Already there: … Left out: …'"""
    parts = [f"{subject} {verb} {counted(outcome.added) or 'nothing new'}."]
    if counted(outcome.present):
        parts.append(f"Already there: {counted(outcome.present)}.")
    if +outcome.skipped:
        parts.append("Left out: " + ", ".join(f"{count:,} {why}" for why, count in outcome.skipped.items()) + ".")
    return " ".join(parts)


def plan(db: Session, *, owner_id: uuid.UUID, parsed: ParsedFile) -> Outcome:
    """What ``apply`` would do now, writing nothing."""
    return _Import(db, owner_id, parsed, write=False).run()


def apply(db: Session, *, owner_id: uuid.UUID, parsed: ParsedFile, progress: Progress | None = None) -> Outcome:
    """Add the file's new records to the account, in the caller's transaction.

    Imports into one account take turns (a transaction lock), so two at
    once cannot both add the same record."""
    take_turns(db, TURN, owner_id)
    return _Import(db, owner_id, parsed, write=True, progress=progress).run()


def _digest(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class _Import:
    def __init__(
        self, db: Session, owner_id: uuid.UUID, parsed: ParsedFile, *, write: bool, progress: Progress | None = None
    ) -> None:
        self.db, self.owner_id, self.parsed, self.write, self.progress = db, owner_id, parsed, write, progress
        self.ids: dict[str, dict[int, int]] = {kind: {} for kind in records.KINDS}
        self.outcome = Outcome(skipped=Counter(parsed.skipped))
        self.handled = 0
        self.placeholders = itertools.count(-1, -1)  # ids of rows a preview would add
        self.now = datetime.now(UTC)

    def run(self) -> Outcome:
        self._ai_instances()
        self._sessions()
        self._concepts()
        self._relationships()
        self._observations()
        self._patterns()
        self._documents()
        self._turns()
        if self.parsed.of("embedding"):
            self.outcome.skipped[VECTORS_NOT_USED] = len(self.parsed.of("embedding"))
        return self.outcome

    # One kind at a time, referenced kinds first.

    def _ai_instances(self) -> None:
        existing = self._existing(AIInstance, AIInstance.name, AIInstance.platform)
        self._merge(
            "ai_instance",
            AIInstance,
            existing,
            key=lambda f: (f["name"], f["platform"]),
            row=lambda f: _columns(f, "name", "platform", "description", "first_seen", "last_seen"),
        )

    def _sessions(self) -> None:
        existing = self._existing(ConversationSession, ConversationSession.conversation_id)
        self._merge(
            "session",
            ConversationSession,
            existing,
            key=lambda f: f["conversation_id"],
            row=lambda f: {
                **_columns(f, "conversation_id", "title", "source_url", "summary", "started_at", "last_active"),
                "ai_instance_id": self._id("ai_instance", f.get("ai_instance")),
            },
        )

    def _concepts(self) -> None:
        existing: dict[Hashable, int] = {
            name.lower(): concept_id
            for name, concept_id in self.db.execute(
                select(Concept.name, Concept.id).where(Concept.owner_id == self.owner_id)
            )
        }
        aliases = {
            alias.lower(): concept_id
            for alias, concept_id in self.db.execute(
                select(ConceptAlias.alias, ConceptAlias.concept_id).where(ConceptAlias.owner_id == self.owner_id)
            )
        }
        existing.update((alias, concept_id) for alias, concept_id in aliases.items() if alias not in existing)
        self._merge(
            "concept",
            Concept,
            existing,
            key=lambda f: f["name"].lower(),
            row=lambda f: {
                **_columns(f, "name", "type", "description", "domain", "status", "created_at", "updated_at"),
                **_read(f),
                "metadata_": f.get("metadata", {}),
            },
        )
        self._aliases(existing, aliases)

    def _aliases(self, names: dict[Hashable, int], aliases: dict[str, int]) -> None:
        rows = []
        for record in self.parsed.of("concept"):
            concept_id = self.ids["concept"][record.fields["id"]]
            for alias in record.fields.get("aliases", []):
                owner = aliases.get(alias.lower(), names.get(alias.lower()))
                if owner is None:
                    aliases[alias.lower()] = concept_id
                    rows.append({"owner_id": self.owner_id, "concept_id": concept_id, "alias": alias})
                elif owner == concept_id:
                    self.outcome.present["alias"] += 1
                else:
                    self.outcome.skipped["aliases already naming another concept"] += 1
        self._insert(ConceptAlias, rows, counted=False)  # aliases are not lines of the file
        if rows:
            self.outcome.added["alias"] += len(rows)

    def _relationships(self) -> None:
        existing = self._existing(
            ConceptRelationship,
            ConceptRelationship.from_concept_id,
            ConceptRelationship.to_concept_id,
            ConceptRelationship.rel_type,
        )
        records = []
        for record in self.parsed.of("relationship"):
            ends = self._id("concept", record.fields["from"]), self._id("concept", record.fields["to"])
            if ends[0] == ends[1]:  # two concepts of the file are one of the account's
                self.outcome.skipped["relationships of a concept to itself"] += 1
                continue
            record.fields["from_concept_id"], record.fields["to_concept_id"] = ends
            records.append(record)
        added = self._merge(
            "relationship",
            ConceptRelationship,
            existing,
            key=lambda f: (f["from_concept_id"], f["to_concept_id"], f["rel_type"]),
            row=lambda f: _columns(
                f, "from_concept_id", "to_concept_id", "rel_type", "weight", "description", "created_at"
            ),
            records=records,
        )
        # A concept already here that gains a relationship means more: its
        # vector goes, and the import's embedding step makes it again.
        if added:
            touched = {
                end
                for pair in self.db.execute(
                    select(ConceptRelationship.from_concept_id, ConceptRelationship.to_concept_id).where(
                        ConceptRelationship.id.in_(added)
                    )
                )
                for end in pair
            }
            self.db.execute(
                delete(Embedding).where(
                    Embedding.owner_id == self.owner_id,
                    Embedding.source_type == "concept",
                    Embedding.source_id.in_(touched),
                )
            )

    def _observations(self) -> None:
        existing: dict[Hashable, int] = {}
        for digest, recorded, observation_id in self.db.execute(
            select(func.md5(Observation.observation), Observation.created_at, Observation.id).where(
                Observation.owner_id == self.owner_id
            )
        ):
            existing.setdefault((digest, recorded), observation_id)
            existing.setdefault((digest, None), observation_id)
        added = self._merge(
            "observation",
            Observation,
            existing,
            key=lambda f: (_digest(f["observation"]), f.get("created_at")),
            row=lambda f: {
                **_columns(f, "observation", "confidence", "domain", "occurred_at", "last_seen_at"),
                **_read(f),
                "evidence": f.get("evidence", []),
                "session_id": self._id("session", f.get("session")),
                "ai_instance_id": self._id("ai_instance", f.get("ai_instance")),
                "created_at": f.get("created_at", self.now),
                "seen_count": f.get("seen_count", 1),
            },
        )
        self._link_versions("observation", Observation, added)

    def _link_versions(self, kind: str, model: type[Observation | Pattern], added: set[int]) -> None:
        """Each version that replaced another points at it, and back, where
        either of the two was added."""
        links = []
        for record in self.parsed.of(kind):
            replaced = record.fields.get("supersedes")
            new_id = self.ids[kind].get(record.fields["id"])
            old_id = None if replaced is None else self.ids[kind].get(replaced)
            if new_id is not None and old_id is not None and (new_id in added or old_id in added):
                links.append((new_id, old_id))
        if self.write and links:
            self.db.execute(update(model), [{"id": new, "supersedes_id": old} for new, old in links])
            self.db.execute(update(model), [{"id": old, "superseded_by_id": new} for new, old in links])

    def _patterns(self) -> None:
        """Versions are matched by name and recorded time. A name that has a
        current version here other than the file's is left as it is."""
        existing = self._existing(Pattern, Pattern.category, Pattern.pattern_name, Pattern.created_at)
        current = {
            (category, name)
            for category, name in self.db.execute(
                select(Pattern.category, Pattern.pattern_name).where(
                    Pattern.owner_id == self.owner_id, Pattern.superseded_by_id.is_(None)
                )
            )
        }
        records = []
        for record in self.parsed.of("pattern"):
            name = (record.fields["category"], record.fields["pattern_name"])
            if (*name, record.fields["created_at"]) not in existing and name in current:
                self.outcome.skipped["patterns whose name has another current version here"] += 1
            else:
                records.append(record)
        replaced = {r.fields["supersedes"] for r in records if "supersedes" in r.fields}
        ids = iter(self._allocate(Pattern, len(records)))

        def row(fields: dict[str, Any]) -> dict[str, Any]:
            own_id = next(ids)
            return {
                **_columns(fields, "category", "pattern_name", "pattern_text", "confidence", "created_at"),
                **_columns(fields, "last_updated"),
                **_read(fields),
                "evidence_observation_ids": [
                    self.ids["observation"][old] for old in fields.get("evidence_observations", [])
                ],
                # A replaced version enters pointing at itself, outside the
                # one-current-version index; _link_versions points it onward.
                "id": own_id,
                "superseded_by_id": own_id if fields["id"] in replaced else None,
            }

        added = self._merge(
            "pattern",
            Pattern,
            existing,
            key=lambda f: (f["category"], f["pattern_name"], f["created_at"]),
            row=row,
            records=records,
        )
        self._link_versions("pattern", Pattern, added)

    def _documents(self) -> None:
        existing = self._existing(Document, Document.title, Document.created_at)
        self._merge(
            "document",
            Document,
            existing,
            key=lambda f: (f["title"], f["created_at"]),
            row=lambda f: {
                **_columns(f, "title", "doc_type", "url", "content_summary", "publication_date", "created_at"),
                **_read(f),
                "key_concepts": f.get("key_concepts", []),
                "metadata_": f.get("metadata", {}),
            },
        )

    def _turns(self) -> None:
        """A turn joins its conversation after the turns it has, in the file's order."""
        existing: dict[Hashable, int] = {}
        for session_id, key, said, digest, turn_id in self.db.execute(
            select(
                Turn.session_id, Turn.source_key, Turn.occurred_at, func.md5(Turn.speaker + ":" + Turn.text), Turn.id
            ).where(Turn.owner_id == self.owner_id)
        ):
            if key is not None:
                existing[("key", session_id, key)] = turn_id
            existing.setdefault(("said", session_id, said, digest), turn_id)
        next_position = dict(
            self.db.execute(
                select(Turn.session_id, func.max(Turn.position) + 1)
                .where(Turn.owner_id == self.owner_id)
                .group_by(Turn.session_id)
            ).all()
        )

        def identity(fields: dict[str, Any]) -> Hashable:
            session_id = self._id("session", fields["session"])
            if "key" in fields:
                return ("key", session_id, fields["key"])
            return ("said", session_id, fields["occurred_at"], _digest(f"{fields['speaker']}:{fields['text']}"))

        def row(fields: dict[str, Any]) -> dict[str, Any]:
            session_id = self.ids["session"][fields["session"]]
            position = next_position.get(session_id, 0)
            next_position[session_id] = position + 1
            return {
                **_columns(fields, "speaker", "text", "occurred_at"),
                **_read(fields),
                "session_id": session_id,
                "position": position,
                "source_key": fields.get("key"),
                "created_at": fields.get("created_at", self.now),
            }

        in_order = sorted(self.parsed.of("turn"), key=lambda r: (r.fields["session"], r.fields["position"]))
        added = self._merge("turn", Turn, existing, key=identity, row=row, records=in_order)
        if self.write and added:
            # Each turn carries the start of its reply; a turn that had none
            # before (the last of a conversation this file continues) is
            # embedded again with it, before the import says it is done.
            sessions = sorted({self.ids["session"][r.fields["session"]] for r in in_order})
            relinked = turns.link_replies(self.db, owner_id=self.owner_id, session_ids=sessions)
            self.db.execute(
                delete(Embedding).where(
                    Embedding.owner_id == self.owner_id,
                    Embedding.source_type == "turn",
                    Embedding.source_id.in_(list(relinked)),
                )
            )

    # The machinery every kind shares.

    def _existing(self, model: type[Base], *key_columns: Any) -> dict[Hashable, int]:
        query = select(*key_columns, model.id).where(model.owner_id == self.owner_id)  # type: ignore[attr-defined]
        return {(row[0] if len(row) == 2 else tuple(row[:-1])): row[-1] for row in self.db.execute(query)}

    def _merge(
        self,
        kind: str,
        model: type[Base],
        existing: dict[Hashable, int],
        *,
        key: Callable[[dict[str, Any]], Hashable],
        row: Callable[[dict[str, Any]], dict[str, Any]],
        records: list[Record] | None = None,
    ) -> set[int]:
        """Match each record to the account's by ``key``; insert the rest
        (a key repeated in the file makes one row). Returns the added ids."""
        fresh: dict[Hashable, list[Record]] = {}
        matched = 0
        for record in self.parsed.of(kind) if records is None else records:
            found = existing.get(key(record.fields))
            if found is not None:
                self._map(kind, record, found)
                matched += 1
            else:
                fresh.setdefault(key(record.fields), []).append(record)
        self.outcome.present[kind] += matched
        self._advance(matched)
        groups = list(fresh.values())
        new_ids = self._insert(model, [{"owner_id": self.owner_id, **row(group[0].fields)} for group in groups])
        for group, new_id in zip(groups, new_ids, strict=True):
            for record in group:
                self._map(kind, record, new_id)
            self.outcome.added[kind] += 1
            self.outcome.present[kind] += len(group) - 1
            self._advance(len(group) - 1)
        return set(new_ids)

    def _map(self, kind: str, record: Record, db_id: int) -> None:
        if "id" in record.fields:
            self.ids[kind][record.fields["id"]] = db_id

    def _id(self, kind: str, file_id: int | None) -> int | None:
        return None if file_id is None else self.ids[kind][file_id]

    def _allocate(self, model: type[Base], count: int) -> list[int]:
        """Ids for rows about to be inserted (a preview only pretends)."""
        if not self.write:
            return [next(self.placeholders) for _ in range(count)]
        sequence = func.pg_get_serial_sequence(model.__tablename__, "id")
        return list(self.db.scalars(select(func.nextval(sequence)).select_from(func.generate_series(1, count))))

    def _insert(self, model: type[Base], rows: list[dict[str, Any]], *, counted: bool = True) -> list[int]:
        if not self.write:
            return [next(self.placeholders) for _ in rows]
        new_ids: list[int] = []
        for start in range(0, len(rows), INSERT_BATCH):
            batch = rows[start : start + INSERT_BATCH]
            statement = insert(model).returning(model.id, sort_by_parameter_order=True)  # type: ignore[attr-defined]
            new_ids.extend(self.db.scalars(statement, batch))
            self._advance(len(batch) if counted else 0)
        return new_ids

    def _advance(self, count: int) -> None:
        self.handled += count
        if self.progress is not None and count:
            self.progress(self.handled, self.parsed.total)


def _columns(fields: dict[str, Any], *names: str) -> dict[str, Any]:
    """The named fields as columns, None where the file left them out (so
    every row of a batch has the same columns)."""
    return {name: fields.get(name) for name in names}


def _read(fields: dict[str, Any]) -> dict[str, Any]:
    """How much a memory was used, and whether it is archived."""
    return {**_columns(fields, "last_accessed", "archived_at"), "access_count": fields.get("access_count", 0)}
