"""Imports as jobs: a page upload waits for confirmation, runs in the
background, and reports progress any server process can show.

The rows are the job's whole state (``ImportJob``), so the page works the
same behind several processes, and a job whose process died shows as
interrupted (its transaction rolled back: nothing was added) and can be
started again. Each start takes the next attempt number; a run commits only
while the job is still running under its number, so a job started again
while an earlier run lived on, or cancelled while it waited, adds nothing twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from core import audit
from core.db import Database, try_take_turns
from core.errors import MemoryGateError
from memory import indexing, spaces
from memory.embeddings import EmbeddingProvider
from models import ImportJob
from portability import bundle, importer
from portability.bundle import Bundle
from portability.importer import Outcome
from portability.jsonl_schema import FileRejected, ParsedFile

log = logging.getLogger("memorygate.imports")

STALE_AFTER = timedelta(minutes=2)  # a running job not heard from this long has died
UNCONFIRMED_KEPT = timedelta(days=1)
REPORT_EVERY_SECONDS = 0.5
TURN_POLL_SECONDS = 1.0  # a job waiting behind another import of its account says it is alive this often
STARTABLE = ("previewed", "failed")
FAILED_WORDS = "The import failed; nothing was added. Try again, or import from the command line to see why."


def stage(
    db: Session,
    *,
    owner_id: uuid.UUID,
    file_name: str,
    source: str,
    total: int,
    content: str,
    outcome: Outcome,
    uploaded: dict[str, Any] | None = None,
    per_space: list[dict[str, Any]] | None = None,
) -> ImportJob:
    """Keep an upload (``source``: its format; ``total``: its records;
    ``uploaded``: what the person sent, in their terms — {"count": 5, "unit":
    "line"}; ``per_space``: a whole account's, what each space would get), with
    what it would add, until it is confirmed."""
    kept = {"uploaded": uploaded, "spaces": per_space}
    job = ImportJob(
        owner_id=owner_id,
        file_name=file_name[:300],
        source=source,
        status="previewed",
        content=content,
        plan={**outcome.as_dict(), **{part: value for part, value in kept.items() if value}},
        total_count=total,
    )
    db.add(job)
    db.flush()
    return job


def waiting_uploads(db: Session, *, owner_id: spaces.Owners) -> int:
    """Uploads this account keeps that were never imported (previewed or failed)."""
    query = select(func.count()).where(
        ImportJob.owner_id.in_(spaces.owners(owner_id)), ImportJob.status.in_(STARTABLE), ImportJob.content.is_not(None)
    )
    return db.execute(query).scalar_one()


def find(db: Session, *, owner_id: spaces.Owners, job_id: uuid.UUID) -> ImportJob | None:
    """The job, if it imports into one of the spaces ``owner_id``."""
    mine = ImportJob.owner_id.in_(spaces.owners(owner_id))
    return db.scalars(select(ImportJob).where(ImportJob.id == job_id, mine)).one_or_none()


def state(job: ImportJob, now: datetime | None = None) -> str:
    """previewed, running, interrupted, done or failed."""
    now = now or datetime.now(UTC)
    if job.status == "running" and now - job.updated_at > STALE_AFTER:
        return "interrupted"
    return job.status


def claim(db: Session, *, owner_id: uuid.UUID, job_id: uuid.UUID) -> int | None:
    """Mark a previewed, failed or interrupted job running under its next
    attempt number, which is returned; None when it is not this owner's or
    not startable (a second click does nothing)."""
    job = find(db, owner_id=owner_id, job_id=job_id)
    if job is None or job.content is None or state(job) not in (*STARTABLE, "interrupted"):
        return None
    claimed = db.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id, ImportJob.updated_at == job.updated_at)
        .values(status="running", done_count=0, error=None, updated_at=datetime.now(UTC))
        .values(attempt=ImportJob.attempt + 1)
        .returning(ImportJob.attempt)
    )
    return claimed.scalar_one_or_none()


def cancel(db: Session, *, owner_id: uuid.UUID, job_id: uuid.UUID) -> bool:
    """Drop a job not yet imported (previewed, failed, or interrupted: a run
    still alive then finds it gone and adds nothing). False when it is
    running or done — also when it finished while this waited for its row."""
    job = find(db, owner_id=owner_id, job_id=job_id)
    if job is None or state(job) not in (*STARTABLE, "interrupted"):
        return False
    dropped = db.execute(
        delete(ImportJob).where(ImportJob.id == job_id, ImportJob.status != "done", ImportJob.attempt == job.attempt)
    )
    return bool(dropped.rowcount)  # type: ignore[attr-defined]


def begin(db: Session, *, owner_id: uuid.UUID, file_name: str, parsed: ParsedFile | Bundle) -> tuple[uuid.UUID, int]:
    """A job for an import run here and now (the CLI), already running: its id and attempt."""
    job = ImportJob(
        owner_id=owner_id,
        file_name=file_name[:300],
        source=parsed.source,
        status="running",
        attempt=1,
        total_count=parsed.total,
    )
    db.add(job)
    db.flush()
    return job.id, job.attempt


class Abandoned(Exception):
    """The job was cancelled or started again while this run went on."""


def execute(
    database: Database,
    job_id: uuid.UUID,
    attempt: int,
    *,
    parsed: ParsedFile | Bundle | None = None,
    by: str = "self",
    progress: importer.Progress | None = None,
    embedder: EmbeddingProvider | None = None,
    embedding_progress: importer.Progress | None = None,
) -> Outcome:
    """Run attempt ``attempt`` of a claimed job: everything or nothing in one
    transaction (a whole account's bundle makes the spaces it needs in it
    too); then, with an ``embedder``, the memories still without vectors in
    the spaces it imported into get them (so what the import added is
    searchable by meaning when it says it is done); then done (the file
    dropped) or failed (with why). ``parsed`` defaults to the job's stored
    upload. Abandoned when the job stopped being this attempt's before it
    could commit (nothing added). A run that dies while embedding leaves the
    records in; started again, it adds nothing and embeds the rest."""
    with database.session_scope() as db:
        job = db.get(ImportJob, job_id)
        if job is None or job.status != "running" or job.attempt != attempt:
            raise Abandoned
        owner_id, content, source = job.owner_id, job.content, job.source
    reporter = _Reporter(database, job_id, attempt, progress)
    try:
        if parsed is None:
            assert content is not None
            parsed = bundle.read_staged(content) if source == bundle.SOURCE else importer.read(content.split("\n"))
        with database.session_scope() as db:
            parts, made = _placed(db, owner_id, parsed)
            for space_id, _ in parts:  # in one order (ids), so two imports never wait on each other
                _wait_for_turn(db, space_id, reporter)
            outcome = _apply(db, parts, reporter, by)
            outcome.added["space"] += made
            if not _still_ours(db, job_id, attempt, lock=True):
                raise Abandoned
            embedding = sum(_pending_vectors(db, space_id, embedder) for space_id, _ in parts)
            db.execute(
                update(ImportJob)
                .where(ImportJob.id == job_id)
                # What was added replaces the plan's counts; what was uploaded stays.
                .values(plan=ImportJob.plan.op("||")(literal(outcome.as_dict(), JSONB)))
                .values(done_count=parsed.total, embedding_count=embedding)
                .values(embedded_count=0, updated_at=datetime.now(UTC))
            )
        if embedding and embedder is not None:
            _embed(database, [space_id for space_id, _ in parts], embedder, reporter, embedding, embedding_progress)
        with database.session_scope() as db:
            if not _still_ours(db, job_id, attempt, lock=True):
                raise Abandoned
            now = datetime.now(UTC)
            db.execute(
                update(ImportJob)
                .where(ImportJob.id == job_id)
                .values(status="done", content=None, updated_at=now, finished_at=now)
            )
        return outcome
    except Abandoned:
        log.info("import %s attempt %d abandoned: cancelled or started again", job_id, attempt)
        raise
    except Exception as exc:
        _fail(database, job_id, attempt, exc)
        raise


def _placed(
    db: Session, owner_id: uuid.UUID, parsed: ParsedFile | Bundle
) -> tuple[list[tuple[uuid.UUID, ParsedFile]], int]:
    """Each file with the space it goes into: one file, the job's space; a
    bundle (whose job is the account's default space) its files' spaces,
    made when the account lacks them. And how many spaces were made."""
    if isinstance(parsed, ParsedFile):
        return [(owner_id, parsed)], 0
    user_id = spaces.account_of(db, owner_id)
    found = bundle.targets(db, user_id=user_id, bundle=parsed)
    return bundle.make_missing(db, user_id=user_id, found=found), sum(target.new for target in found)


def _apply(db: Session, parts: list[tuple[uuid.UUID, ParsedFile]], reporter: _Reporter, by: str) -> Outcome:
    outcome, done, total = Outcome(), 0, sum(part.total for _, part in parts)
    for space_id, part in parts:

        def handled(count: int, _: int, before: int = done) -> None:
            reporter(before + count, total)

        added = importer.apply(db, owner_id=space_id, parsed=part, progress=handled)
        audit.record_in_space(
            db, audit.MEMORY_IMPORTED, space=space_id, targets={"added": sum(added.added.values()), "by": by}
        )
        outcome.add(added)
        done += part.total
    return outcome


def _pending_vectors(db: Session, owner_id: uuid.UUID, embedder: EmbeddingProvider | None) -> int:
    if embedder is None or not embedder.enabled:
        return 0
    return indexing.pending_count(db, model=embedder.model, owner_id=owner_id)


def _embed(
    database: Database,
    space_ids: list[uuid.UUID],
    embedder: EmbeddingProvider,
    reporter: _Reporter,
    total: int,
    display: importer.Progress | None,
) -> None:
    """Give the spaces' memories their vectors, a batch at a time, saying
    how far it got; a failing provider leaves the rest to the background
    backfill (the import is done either way)."""
    before = 0
    for space_id in space_ids:

        def embedded(done: int, before: int = before) -> None:
            so_far = min(before + done, total)
            if display is not None:
                display(so_far, total)
            if not reporter.embedded(so_far):
                raise Abandoned

        before += indexing.backfill_pending(database.sessions, embedder=embedder, owner_id=space_id, progress=embedded)


def _still_ours(db: Session, job_id: uuid.UUID, attempt: int, *, lock: bool = False) -> bool:
    """Whether the job is running under ``attempt``; ``lock`` holds its row
    until the transaction ends, so a cancel waits for the outcome."""
    query = select(ImportJob.id).where(
        ImportJob.id == job_id, ImportJob.status == "running", ImportJob.attempt == attempt
    )
    return db.execute(query.with_for_update() if lock else query).first() is not None


def _wait_for_turn(db: Session, owner_id: uuid.UUID, reporter: _Reporter) -> None:
    """Imports into one account take turns; while this one waits, it says
    it is alive (so it never shows as interrupted) and stops if cancelled."""
    while not try_take_turns(db, importer.TURN, owner_id):
        if not reporter.alive():
            raise Abandoned
        time.sleep(TURN_POLL_SECONDS)


def _fail(database: Database, job_id: uuid.UUID, attempt: int, exc: Exception) -> None:
    if isinstance(exc, FileRejected | MemoryGateError):
        error = str(exc)
    else:  # never the file's content: the exception could quote it
        log.error("import %s failed: %s", job_id, type(exc).__name__)
        error = FAILED_WORDS
    with database.session_scope() as db:
        db.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id, ImportJob.attempt == attempt)
            .values(status="failed", error=error, updated_at=datetime.now(UTC))
        )


class _Reporter:
    """Progress written to the job row (in its own short transaction, so the
    page sees it while the import's transaction is still open), at most
    twice a second; and passed on to the caller's own display."""

    def __init__(self, database: Database, job_id: uuid.UUID, attempt: int, display: importer.Progress | None) -> None:
        self.database, self.job_id, self.attempt, self.display = database, job_id, attempt, display
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.display is not None:
            self.display(done, total)
        if time.monotonic() - self.last < REPORT_EVERY_SECONDS and done < total:
            return
        self._write(done_count=done)

    def embedded(self, done: int) -> bool:
        """Say how many vectors are made; False when the job is no longer this attempt's."""
        return self._write(embedded_count=done)

    def alive(self) -> bool:
        """Say the run is alive; False when the job is no longer this attempt's."""
        return self._write()

    def _write(self, **values: Any) -> bool:
        self.last = time.monotonic()
        with self.database.session_scope() as db:
            written = db.execute(
                update(ImportJob)
                .where(ImportJob.id == self.job_id, ImportJob.status == "running")
                .where(ImportJob.attempt == self.attempt)
                .values(updated_at=datetime.now(UTC), **values)
            )
        return bool(written.rowcount)  # type: ignore[attr-defined]


def view(job: ImportJob) -> dict[str, Any]:
    """What the page and its JSON answer show."""
    return {
        "id": str(job.id),
        "file": job.file_name,
        "source": job.source,
        "state": state(job),
        "total": job.total_count,
        "done": job.done_count,
        "embedding": job.embedding_count,
        "embedded": job.embedded_count,
        "plan": job.plan,
        "uploaded": job.plan.get("uploaded"),
        "spaces": job.plan.get("spaces"),
        "error": job.error,
    }


def prune(db: Session) -> int:
    """Drop uploads never confirmed, failed or dead a day on: no copy of anyone's
    memory lingers. Finished jobs stay, without their file, as history."""
    cutoff = datetime.now(UTC) - UNCONFIRMED_KEPT
    result = db.execute(delete(ImportJob).where(ImportJob.status != "done", ImportJob.updated_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]


class Runner:
    """Runs confirmed page imports on background threads of this process."""

    def __init__(self, database: Database, *, embedder: EmbeddingProvider | None = None, workers: int = 2) -> None:
        self.database, self.embedder = database, embedder
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="import")

    def submit(self, job_id: uuid.UUID, attempt: int) -> None:
        self.pool.submit(self._run, job_id, attempt)

    def _run(self, job_id: uuid.UUID, attempt: int) -> None:
        try:
            execute(self.database, job_id, attempt, embedder=self.embedder)
        except Exception:  # recorded on the job by execute (or it was abandoned)
            return

    def close(self) -> None:
        """Stop taking jobs; one still running is interrupted (rolled back)."""
        self.pool.shutdown(wait=False, cancel_futures=True)
