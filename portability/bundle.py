"""A whole account in one file: the ZIP of every space's export, read back
into spaces of the same names.

Each file's header names the space it came from (``space``, and
``default_space`` for the account's default, which goes into the importing
account's default whatever either is called); a file without one is named
after its file. A space the account lacks is made by the import, in the
same transaction as the records, so a failure leaves neither behind.

Staged until confirmed, a bundle is its files one after another, each
header carrying its space: ``staged`` writes that, ``read_staged`` reads it.
"""

from __future__ import annotations

import json
import re
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any, BinaryIO

from sqlalchemy.orm import Session

from core import audit
from core.db import Database
from core.errors import InvalidInput
from memory import spaces
from portability import exporter, importer, records
from portability.jsonl_schema import FileRejected, ParsedFile

SOURCE = "memorygate-spaces"


@dataclass
class SpaceFile:
    """One space's export: the space it came from, and its records."""

    name: str
    default: bool
    parsed: ParsedFile
    text: str  # the file with its header naming the space, kept until the import is confirmed


@dataclass
class Bundle:
    files: list[SpaceFile]
    source: str = SOURCE

    @property
    def total(self) -> int:
        return sum(each.parsed.total for each in self.files)


@dataclass
class Target:
    """Where a space's file goes: a space of the account (``space_id``, and
    its ``name`` there), or one the import makes (``space_id`` None until it runs)."""

    file: SpaceFile
    space_id: uuid.UUID | None
    name: str

    @property
    def new(self) -> bool:
        return self.space_id is None


def read_upload(file: BinaryIO) -> ParsedFile | Bundle:
    """Any file an import takes (importer.read_upload), or a ZIP of
    MemoryGate exports: a whole account, a file a space."""
    if file.read(len(importer.ZIP_MAGIC)) == importer.ZIP_MAGIC:
        file.seek(0)
        with importer.open_zip(file) as archive:
            names = sorted(m.filename for m in importer.zip_members(archive) if m.filename.endswith(".jsonl"))
            exports = [name for name in names if _is_export(archive, name)]
            if exports:
                return _read_zip(archive, exports)
    file.seek(0)
    return importer.read_upload(file)


def _is_export(archive: zipfile.ZipFile, name: str) -> bool:
    with archive.open(name) as inner:
        return _header(inner.readline(4096)) is not None


def _read_zip(archive: zipfile.ZipFile, names: list[str]) -> Bundle:
    """The archive's MemoryGate exports, each checked whole; FileRejected
    names the file of each problem, and two files for one space."""
    files: list[tuple[str, SpaceFile]] = []
    problems = []
    for name in names:
        with archive.open(name) as inner:
            raw = inner.read()
        try:
            files.append((name, _space_file(raw.decode(), fallback=PurePosixPath(name).stem)))
        except UnicodeDecodeError:
            problems.append(f"{name}: not UTF-8 text")
        except FileRejected as exc:
            problems.extend(f"{name}: {problem}" for problem in exc.problems)
    problems.extend(_twice(files))
    if problems:
        raise FileRejected(problems)
    return Bundle(sorted((each for _, each in files), key=lambda each: (not each.default, spaces.name_key(each.name))))


def _twice(files: list[tuple[str, SpaceFile]]) -> list[str]:
    first: dict[str, str] = {}
    problems = []
    for name, each in files:
        key = "" if each.default else spaces.name_key(each.name)
        if key in first:
            problems.append(f"{first[key]} and {name} are both for the space '{each.name}'")
        first.setdefault(key, name)
    return problems


def _space_file(text: str, *, fallback: str) -> SpaceFile:
    lines = text.split("\n")
    header = _header(lines[0].encode())
    if header is None:
        raise FileRejected(["line 1: format the first line must be a MemoryGate export's header"])
    name = header.get("space") if isinstance(header.get("space"), str) else fallback
    try:
        shown, _ = spaces.checked_name("space", name)
    except InvalidInput as exc:
        raise FileRejected([f"line 1: {exc.field} {exc.problem}"]) from None
    default = header.get("default_space") is True
    parsed = importer.read(lines)
    lines[0] = json.dumps({**header, "space": shown, "default_space": default}, separators=(",", ":"))
    return SpaceFile(shown, default, parsed, "\n".join(lines).rstrip("\n") + "\n")


def _header(first: bytes) -> dict[str, Any] | None:
    try:
        header = json.loads(first)
    except ValueError:
        return None
    return header if isinstance(header, dict) and header.get("format") == records.FORMAT else None


def staged(bundle: Bundle) -> str:
    return "".join(each.text for each in bundle.files)


def read_staged(content: str) -> Bundle:
    """A staged bundle back: a new file starts at each header line."""
    return Bundle([_space_file("\n".join(part), fallback="") for part in _parts(content.split("\n"))])


def _parts(lines: list[str]) -> Iterator[list[str]]:
    part: list[str] = []
    for line in lines:
        if part and _header(line.encode()) is not None:
            yield part
            part = []
        part.append(line)
    if part:
        yield part


def file_name(space_name: str) -> str:
    """A space's name as a file's (letters, digits, dots, dashes)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", space_name).strip("-")[:40] or "space"


def write_zip(database: Database, user_id: uuid.UUID, into: IO[bytes], *, by: str) -> None:
    """Every space of the account into ``into`` as a ZIP, a JSON Lines file
    each named after its space, each read in a snapshot of its own."""
    with database.session_scope() as db:
        listed = spaces.of_account(db, user_id)
    with zipfile.ZipFile(into, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        used: set[str] = set()
        for space in listed:
            name = file_name(space.name)
            while name.lower() in used:  # names that differ only in what a file name cannot hold
                name += "-"
            used.add(name.lower())
            with database.session_scope() as db, archive.open(f"{name}.jsonl", "w") as entry:
                for line in exporter.export_lines(db, owner_id=space.id):  # first: it sets the snapshot's isolation
                    entry.write(line.encode())
                audit.record_in_space(db, audit.MEMORY_EXPORTED, space=space.id, targets={"by": by})


def targets(db: Session, *, user_id: uuid.UUID, bundle: Bundle) -> list[Target]:
    """Each file's space in the account: the default for the default's file,
    else the space of the same name (compared as names are), else none yet."""
    listed = spaces.of_account(db, user_id)
    # The default's file goes into the default, whatever either is called; the rest by name.
    by_key = {"": listed[0]} | {spaces.name_key(space.name): space for space in listed}
    found = []
    for each in bundle.files:
        space = by_key.get("" if each.default else spaces.name_key(each.name))
        found.append(Target(each, space.id, space.name) if space else Target(each, None, each.name))
    made = sum(target.new for target in found)
    if made and len(listed) + made > spaces.MAX_SPACES:
        raise FileRejected(
            [f"it needs {made} new spaces, and an account may have {spaces.MAX_SPACES} (this one has {len(listed)})"]
        )
    return found


def make_missing(db: Session, *, user_id: uuid.UUID, found: list[Target]) -> list[tuple[uuid.UUID, ParsedFile]]:
    """Make the spaces the import needs, in the caller's transaction; each
    file with the id of its space, in the order of the ids (imports take
    turns per space, always in one order, so two never wait on each other)."""
    placed = []
    for target in found:
        space_id = target.space_id or spaces.create(db, user_id=user_id, name=target.file.name, field="space").id
        placed.append((space_id, target.file.parsed))
    return sorted(placed, key=lambda pair: str(pair[0]))


def plan(db: Session, *, user_id: uuid.UUID, bundle: Bundle) -> tuple[importer.Outcome, list[dict[str, Any]]]:
    """What importing the bundle would do, in all and space by space."""
    total, per_space = importer.Outcome(), []
    for target in targets(db, user_id=user_id, bundle=bundle):
        # A space not made yet holds nothing: everything in its file is new.
        outcome = importer.plan(db, owner_id=target.space_id or uuid.uuid4(), parsed=target.file.parsed)
        outcome.added["space"] += target.new
        total.add(outcome)
        per_space.append({"name": target.name, "new": target.new, **outcome.as_dict()})
    return total, per_space
