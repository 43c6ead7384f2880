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
from collections.abc import Iterable
from pathlib import Path

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
from portability import exporter, importer, jobs
from portability.jsonl_schema import FileRejected


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
    with database(settings) as connected:
        try:
            with connected.session_scope() as session:
                owner_id = _account(session, settings, args.email, args.space)
        except NoAccount as exc:
            _say(f"error: {exc}")
            return 1
        bar = ProgressBar("Exporting")
        with connected.session_scope() as session:
            lines = exporter.export_lines(session, owner_id=owner_id, embeddings=args.embeddings, progress=bar)
            if args.output:
                _write_whole(Path(args.output), lines)
            else:
                sys.stdout.writelines(lines)
                sys.stdout.flush()
            audit.record_in_space(session, audit.MEMORY_EXPORTED, space=owner_id, targets={"by": "operator"})
        bar.close()
    _say(f"Exported to {args.output}." if args.output else "Exported.")
    return 0


def _write_whole(path: Path, lines: Iterable[str]) -> None:
    """Write beside the target and rename: a failed export leaves no partial file."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.writelines(lines)
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
            parsed = importer.read_folder(path)
        else:
            with path.open("rb") as source:
                parsed = importer.read_upload(source)
    except OSError as exc:
        _say(f"error: cannot read {path}: {exc.strerror}")
        return 2
    except FileRejected as exc:
        _say(f"error: {path} cannot be imported; nothing was added:\n{exc}")
        return 1
    with database(settings, pool_size=2) as connected:
        try:
            with connected.session_scope() as session:
                owner_id = _account(session, settings, args.email, args.space)
                outcome = importer.plan(session, owner_id=owner_id, parsed=parsed)
        except NoAccount as exc:
            _say(f"error: {exc}")
            return 1
        _say(importer.describe(outcome, "would add" if args.dry_run else "adds"))
        if args.dry_run or not outcome.added:
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
            waiting = indexing.pending_count(session, model=embedder.model, owner_id=owner_id)
    _say(importer.describe(done, "added") + " " + _searchable(embedder.enabled, waiting))
    return 0


def _searchable(by_meaning: bool, waiting: int) -> str:
    if not by_meaning:
        return "Everything imported is searchable by its words (no embedding provider is configured)."
    if waiting:
        return f"{waiting:,} memories still wait for their vectors; the background pass embeds them."
    return "Everything imported is searchable by meaning and by words now."
