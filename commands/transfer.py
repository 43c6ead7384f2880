"""``export`` and ``import``: an account's memory out to a file and back in.

Both show a progress bar on stderr. An export to a file appears under its
name only once complete; an import adds everything or nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commands.database import database
from commands.progress import ProgressBar
from core import audit
from core.settings import Settings
from identity import accounts
from memory import indexing, spaces
from memory.embeddings import build_provider
from oauth_models import User
from portability import bundle, exporter, importer, jobs
from portability.bundle import Bundle
from portability.jsonl_schema import FileRejected, ParsedFile


class NoAccount(Exception):
    pass


def _account(session: Session, settings: Settings, email: str | None, space: str | None = None) -> uuid.UUID:
    """The space (of the account named by ``email``) an export or import is for."""
    if email is None:
        if not settings.is_local:
            raise NoAccount("--email is required when DATABASE_URL is set (there is no local owner)")
        user_id = accounts.local_owner(session).id
    else:
        user = session.scalars(select(User).where(func.lower(User.email) == email.strip().lower())).one_or_none()
        if user is None:
            raise NoAccount(f"no account with e-mail {email.strip().lower()}")
        user_id = user.id
    if space is None:
        return user_id  # the default space
    listed = spaces.of_account(session, user_id)
    found = next((each for each in listed if spaces.name_key(each.name) == spaces.name_key(space)), None)
    if found is None:
        raise NoAccount(f"no space named '{space}' (the account has {', '.join(each.name for each in listed)})")
    return found.id


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def export_command(settings: Settings, args: argparse.Namespace) -> int:
    every = args.space == spaces.EVERY_SPACE
    if every and not args.output:
        _say("error: --output: every space is a ZIP; name the file to write")
        return 1
    if every and args.embeddings:
        _say("error: --embeddings: export the spaces one at a time to include vectors (imports never need them)")
        return 1
    with database(settings) as connected:
        try:
            with connected.session_scope() as session:
                owner_id = _account(session, settings, args.email, None if every else args.space)
        except NoAccount as exc:
            _say(f"error: {exc}")
            return 1
        if every:
            _write_whole(Path(args.output), lambda out: bundle.write_zip(connected, owner_id, out, by="operator"))
            _say(f"Exported every space to {args.output}.")
            return 0
        bar = ProgressBar("Exporting")
        with connected.session_scope() as session:
            lines = exporter.export_lines(session, owner_id=owner_id, embeddings=args.embeddings, progress=bar)
            if args.output:
                _write_whole(Path(args.output), lambda out: out.writelines(line.encode() for line in lines))
            else:
                sys.stdout.writelines(lines)
                sys.stdout.flush()
            audit.record_in_space(session, audit.MEMORY_EXPORTED, space=owner_id, targets={"by": "operator"})
        bar.close()
    _say(f"Exported to {args.output}." if args.output else "Exported.")
    return 0


def _write_whole(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write beside the target and rename: a failed export leaves no partial file."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def import_command(settings: Settings, args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        if path.is_dir():
            parsed: ParsedFile | Bundle = importer.read_folder(path)
        else:
            with path.open("rb") as source:
                parsed = bundle.read_upload(source)
    except OSError as exc:
        _say(f"error: cannot read {path}: {exc.strerror}")
        return 2
    except FileRejected as exc:
        _say(f"error: {path} cannot be imported; nothing was added:\n{exc}")
        return 1
    if isinstance(parsed, Bundle) and args.space is not None:
        _say(f"error: --space: {path} holds every space of an account, each imported into the space of its name")
        return 1
    with database(settings, pool_size=2) as connected:
        try:
            with connected.session_scope() as session:
                owner_id = _account(session, settings, args.email, args.space)
                said, adds = _plan(session, owner_id, parsed, "would add" if args.dry_run else "adds")
        except (NoAccount, FileRejected) as exc:
            _say(f"error: {exc}")
            return 1
        _say(said)
        if args.dry_run or not adds:
            return 0
        with connected.session_scope() as session:
            job_id, attempt = jobs.begin(session, owner_id=owner_id, file_name=path.name, parsed=parsed)
        bar, vectors = ProgressBar("Importing"), ProgressBar("Making it searchable by meaning")
        embedder = build_provider(settings)
        try:
            done = jobs.execute(
                connected,
                job_id,
                attempt,
                parsed=parsed,
                by="operator",
                progress=bar,
                embedder=embedder,
                embedding_progress=vectors,
            )
        finally:
            bar.close()
            vectors.close()
            embedder.close()
        with connected.session_scope() as session:
            waiting = sum(
                indexing.pending_count(session, model=embedder.model, owner_id=space)
                for space in _imported_into(session, owner_id, parsed)
            )
    _say(importer.describe(done, "added") + " " + _searchable(embedder.enabled, waiting))
    return 0


def _plan(session: Session, owner_id: uuid.UUID, parsed: ParsedFile | Bundle, verb: str) -> tuple[str, bool]:
    """What the import would do (a whole account's, space by space), and whether it adds anything."""
    if isinstance(parsed, ParsedFile):
        outcome = importer.plan(session, owner_id=owner_id, parsed=parsed)
        return importer.describe(outcome, verb), bool(+outcome.added)
    outcome, per_space = bundle.plan(session, user_id=owner_id, bundle=parsed)
    lines = [importer.describe(outcome, verb)]
    for space in per_space:
        made = " (new: the import makes it)" if space["new"] else ""
        lines.append(
            f"  {space['name']}{made}: " + importer.describe(importer.Outcome.from_dict(space), verb, "its file")
        )
    return "\n".join(lines), bool(+outcome.added)


def _imported_into(session: Session, owner_id: uuid.UUID, parsed: ParsedFile | Bundle) -> list[uuid.UUID]:
    if isinstance(parsed, ParsedFile):
        return [owner_id]
    return [space.id for space in spaces.of_account(session, owner_id)]


def _searchable(by_meaning: bool, waiting: int) -> str:
    if not by_meaning:
        return "Everything imported is searchable by its words (no embedding provider is configured)."
    if waiting:
        return f"{waiting:,} memories still wait for their vectors; the background pass embeds them."
    return "Everything imported is searchable by meaning and by words now."
