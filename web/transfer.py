"""The account's export and import, over HTTP with the browser session.

GET  /dashboard/transfer               the page: download, upload
GET  /dashboard/export                 the whole memory as a JSON Lines download
POST /dashboard/import                 upload (multipart ``file``): checked, then a preview
GET  /dashboard/import/{id}            the preview, progress or result (JSON with Accept: application/json)
POST /dashboard/import/{id}/start      confirm: the import runs in the background
POST /dashboard/import/{id}/cancel     drop an upload not imported

Posts carry the page's CSRF token like every other form of the page.

An upload is refused before its body is read unless it comes with a
session (so only a signed-in person gets the larger MAX_IMPORT_BYTES); its
file is spooled to disk as it arrives and read a line at a time; a few are
checked at once per process, an account keeps a few unconfirmed at most,
and starts a bounded number an hour (IMPORT_RATE_LIMIT).
"""

from __future__ import annotations

import math
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import IO, Any, BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.types import Receive, Scope, Send

from core import audit
from core.db import Database
from memory import spaces
from models import ImportJob
from portability import bundle, exporter, history, importer, jobs
from portability.bundle import Bundle
from portability.jsonl_schema import FileRejected, ParsedFile
from web import pages
from web.dashboard import NOTICES, back, section_page
from web.dependencies import (
    DB,
    SignedIn,
    SignedInForm,
    csrf_ok,
    csrf_refused,
    csrf_token,
    current_session,
)
from web.pages import NO_STORE

router = APIRouter(include_in_schema=False)

PAGE_PATH = "/dashboard/transfer"
UPLOAD_PATH = "/dashboard/import"

MAX_PROBLEMS_ON_PAGE = 10
REFRESH_SECONDS = 2
UPLOADS_AT_ONCE = 2  # per process: each is read whole to be checked
MAX_WAITING_UPLOADS = 3  # unconfirmed uploads an account may keep
BUSY = "Import: other uploads are being checked right now; try again in a moment."
TOO_MANY_WAITING = (
    "Import: {count} uploads are waiting for you to confirm or cancel them; finish one before uploading another."
)
TOO_OFTEN = "Import: too many uploads for this account; try again later."
EXPORTS_AT_ONCE = 2  # per account and process
EXPORT_CHUNK_BYTES = 64 * 1024
EXPORTS_BUSY = "Export: this account's earlier downloads are still running; let one finish, then try again."

SOURCE_WORDS = {
    "memorygate": "A MemoryGate export",
    bundle.SOURCE: "A MemoryGate export of every space",
    "mcp-memory": "The MCP reference memory server's memory.jsonl",
    history.CHATGPT: "A ChatGPT data export",
    history.CLAUDE_AI: "A Claude.ai data export",
    history.CLAUDE_CODE: "Claude Code transcripts",
}

_checking = threading.BoundedSemaphore(UPLOADS_AT_ONCE)


@router.get(PAGE_PATH)
def transfer_page(request: Request, db: DB, notice: str | None = None) -> Response:
    """Import and export: the page with both forms."""
    signed_in = current_session(request, db)
    if signed_in is None:
        return RedirectResponse("/dashboard", status_code=303)
    return _transfer_page(request, db, signed_in, notice=NOTICES.get(notice or ""))


def _transfer_page(request: Request, db: Session, signed_in: SignedIn, **shown: Any) -> Response:
    """The page, with the account's spaces to export or import into."""
    user = signed_in.user
    account_spaces = spaces.of_account(db, user.id)
    return section_page(request, db, user, signed_in.session_token, "transfer.html", spaces=account_spaces, **shown)


@router.get("/dashboard/export")
async def export(request: Request, space: str = "") -> Response:
    """The whole memory as a download. It is written to a temporary file
    first (one short transaction), then sent from that file, so a reader
    that stalls holds no database session; an account runs a couple at once."""
    signed_in = await run_in_threadpool(_signed_in, request)
    if signed_in is None:
        return RedirectResponse("/dashboard", status_code=303)
    owner_id = signed_in.user.id
    every = space == spaces.EVERY_SPACE
    chosen = await run_in_threadpool(_chosen_space, request, owner_id, space)
    if not _exporting.claim(owner_id):
        return pages.message_page("Busy", EXPORTS_BUSY, status_code=429)
    try:
        if every:  # a ZIP with each space's file, each importable into a space of its own
            written = await run_in_threadpool(_write_every_space, request.app.state.database, owner_id)
        else:
            written = await run_in_threadpool(_write_export, request.app.state.database, chosen.id)
    except BaseException:
        _exporting.release(owner_id)
        raise
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    named = "" if chosen.is_default or every else "-" + bundle.file_name(chosen.name)
    name = f"memorygate-{today}.zip" if every else f"memorygate{named}-{today}.jsonl"
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}
    media_type = "application/zip" if every else "application/x-ndjson"
    return _Download(written, on_close=lambda: _exporting.release(owner_id), headers=headers, media_type=media_type)


def _write_every_space(database: Database, user_id: uuid.UUID) -> IO[bytes]:
    archive = tempfile.SpooledTemporaryFile(max_size=EXPORT_CHUNK_BYTES * 16)  # noqa: SIM115 (sent, then closed)
    try:
        bundle.write_zip(database, user_id, archive, by="self")
        archive.seek(0)
        return archive
    except BaseException:
        archive.close()
        raise


class _Download(StreamingResponse):
    """A spooled file sent in chunks, closed (and ``on_close`` called) however
    the response ends: sent, the client gone, or the server stopping."""

    def __init__(
        self, file: IO[bytes], *, on_close: Callable[[], None], headers: dict[str, str], media_type: str
    ) -> None:
        super().__init__(self._chunks(file), media_type=media_type, headers=headers)
        self.file, self.on_close = file, on_close

    @staticmethod
    async def _chunks(file: IO[bytes]) -> AsyncIterator[bytes]:
        while chunk := await run_in_threadpool(file.read, EXPORT_CHUNK_BYTES):
            yield chunk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.file.close()
            self.on_close()


def _write_export(database: Database, owner_id: uuid.UUID) -> IO[bytes]:
    written = tempfile.SpooledTemporaryFile(max_size=EXPORT_CHUNK_BYTES * 16)  # noqa: SIM115 (it is sent, then closed, by the response)
    try:
        with database.session_scope() as db:
            for line in exporter.export_lines(db, owner_id=owner_id):  # first: it sets the snapshot's isolation
                written.write(line.encode())
            audit.record_in_space(db, audit.MEMORY_EXPORTED, space=owner_id, targets={"by": "self"})
        written.seek(0)
        return written
    except BaseException:
        written.close()
        raise


class _PerAccount:
    """How many of something each account has under way in this process, at most ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: Counter[uuid.UUID] = Counter()
        self.lock = threading.Lock()

    def claim(self, owner_id: uuid.UUID) -> bool:
        with self.lock:
            if self.counts[owner_id] >= self.limit:
                return False
            self.counts[owner_id] += 1
            return True

    def release(self, owner_id: uuid.UUID) -> None:
        with self.lock:
            self.counts[owner_id] -= 1
            self.counts = +self.counts


_exporting = _PerAccount(EXPORTS_AT_ONCE)


@router.post(UPLOAD_PATH)
async def upload(request: Request) -> Response:
    """Check the file and show what it would add; nothing is imported yet."""
    signed_in = await run_in_threadpool(_signed_in, request)
    if signed_in is None:  # refused before a byte of the body is read
        return RedirectResponse("/dashboard", status_code=303, headers={"Connection": "close"})
    if not _checking.acquire(blocking=False):
        return _busy()
    try:
        try:
            form = await request.form(max_files=1, max_fields=5)
        except MultiPartException as exc:
            return await run_in_threadpool(_refused, request, signed_in, f"Import: {exc.message}")
        try:
            file = form.get("file")
            if not csrf_ok(signed_in.session_token, form.get("csrf_token")):
                return csrf_refused()
            if not isinstance(file, UploadFile) or not file.filename:
                return await run_in_threadpool(_refused, request, signed_in, "Import: choose a file to upload.")
            into = await run_in_threadpool(_chosen_space, request, signed_in.user.id, form.get("space"))
            return await run_in_threadpool(_stage, request, signed_in, file.filename, file.file, into.id)
        finally:
            await form.close()
    finally:
        _checking.release()


def _chosen_space(request: Request, user_id: uuid.UUID, chosen: Any) -> spaces.SpaceInfo:
    with request.app.state.database.session_scope() as db:
        return spaces.of_account_chosen(db, user_id, chosen)


def _signed_in(request: Request) -> SignedIn | None:
    with request.app.state.database.session_scope() as db:
        return current_session(request, db)


def _busy() -> Response:
    """Refused before the body is read, so the connection is not kept for it."""
    response = pages.message_page("Busy", BUSY, status_code=503)
    response.headers.update({"Retry-After": "5", "Connection": "close"})
    return response


def _refused(request: Request, signed_in: SignedIn, error: str, *, status_code: int = 400) -> Response:
    with request.app.state.database.session_scope() as db:
        return _transfer_page(request, db, signed_in, error=error, status_code=status_code)


def _stage(request: Request, signed_in: SignedIn, file_name: str, file: BinaryIO, owner_id: uuid.UUID) -> Response:
    """Read the spooled upload a line at a time, plan it against the space
    ``owner_id``, and keep it until confirmed."""
    with request.app.state.database.session_scope() as db:
        waiting = jobs.waiting_uploads(db, owner_id=spaces.ids_of_account(db, signed_in.user.id))
    if waiting >= MAX_WAITING_UPLOADS:
        return _refused(request, signed_in, TOO_MANY_WAITING.format(count=waiting), status_code=409)
    wait = request.app.state.auth_state.import_rate.hit(f"user:{signed_in.user.id}")
    if wait is not None:
        response = _refused(request, signed_in, TOO_OFTEN, status_code=429)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    try:
        parsed = bundle.read_upload(file)
    except FileRejected as exc:
        shown = exc.problems[:MAX_PROBLEMS_ON_PAGE]
        more = f" … and {len(exc.problems) - len(shown)} more." if len(exc.problems) > len(shown) else ""
        error = f"Import: {file_name} cannot be imported; nothing was added. " + "; ".join(shown) + more
        return _refused(request, signed_in, error)
    if isinstance(parsed, Bundle):  # a whole account: each file into the space of its name, not the one chosen
        return _stage_bundle(request, signed_in, file_name, parsed)
    with request.app.state.database.session_scope() as db:
        outcome = importer.plan(db, owner_id=owner_id, parsed=parsed)
        source, total = parsed.source, parsed.total
        content = staged_content(parsed, file)
        sent = uploaded(parsed, content)
        del parsed  # what is staged is the file (or, converted from a history, its records); read again when it runs
        job = jobs.stage(
            db,
            owner_id=owner_id,
            file_name=file_name,
            source=source,
            total=total,
            content=content,
            outcome=outcome,
            uploaded=sent,
        )
        return RedirectResponse(f"/dashboard/import/{job.id}", status_code=303)


def _stage_bundle(request: Request, signed_in: SignedIn, file_name: str, parsed: Bundle) -> Response:
    with request.app.state.database.session_scope() as db:
        try:
            outcome, per_space = bundle.plan(db, user_id=signed_in.user.id, bundle=parsed)
        except FileRejected as exc:
            db.rollback()
            error = f"Import: {file_name} cannot be imported; nothing was added. " + "; ".join(exc.problems)
            return _refused(request, signed_in, error)
        job = jobs.stage(
            db,
            owner_id=signed_in.user.id,  # the default space; the files go where their spaces are
            file_name=file_name,
            source=parsed.source,
            total=parsed.total,
            content=bundle.staged(parsed),
            outcome=outcome,
            uploaded={"count": len(parsed.files), "unit": "space"},
            per_space=per_space,
        )
        return RedirectResponse(f"/dashboard/import/{job.id}", status_code=303)


def uploaded(parsed: ParsedFile, content: str) -> dict[str, Any]:
    """What the person sent, counted as they would: a history's conversations,
    a JSON Lines file's lines (its records can be more: an entity of the
    reference server's file is a concept and each of its observations)."""
    if parsed.source in history.SOURCES:
        return {"count": len(parsed.of("session")), "unit": "conversation"}
    return {"count": sum(1 for line in content.splitlines() if line.strip()), "unit": "line"}


def staged_content(parsed: ParsedFile, file: IO[bytes]) -> str:
    """What a job keeps until it runs: the JSON Lines file as uploaded, or a
    history (a ZIP or conversations.json) as the MemoryGate records it became."""
    if parsed.source in history.SOURCES:
        return "".join(history.as_export_lines(parsed))
    file.seek(0)
    return file.read().decode()


@router.get("/dashboard/import/{job_id}")
def status(request: Request, job_id: str, db: DB) -> Response:
    signed_in = current_session(request, db)
    if signed_in is None:
        return RedirectResponse("/dashboard", status_code=303)
    job = _job(db, signed_in.user.id, job_id)
    if job is None:
        return pages.message_page("Not found", "There is no such import.", status_code=404)
    shown = jobs.view(job)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(shown, headers=NO_STORE)
    outcome = importer.Outcome.from_dict(job.plan)
    response = pages.render(
        "import.html",
        job=shown,
        source_words=SOURCE_WORDS.get(shown["source"], shown["source"]),
        summary=importer.describe(outcome, "adds" if shown["state"] != "done" else "added"),
        space_summaries=[
            importer.describe(importer.Outcome.from_dict(space), "adds", subject="its file")
            for space in shown["spaces"] or []
        ],
        nothing_new=not outcome.added,
        csrf=csrf_token(signed_in.session_token),
    )
    if shown["state"] == "running":
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@router.post("/dashboard/import/{job_id}/start")
def start(request: Request, job_id: str, db: DB, form: SignedInForm) -> Response:
    job = _job(db, form.user.id, job_id)
    if job is None:
        return pages.message_page("Not found", "There is no such import.", status_code=404)
    attempt = jobs.claim(db, owner_id=job.owner_id, job_id=job.id)
    if attempt is not None:
        db.commit()  # the runner's own session must see the claim
        request.app.state.imports.submit(job.id, attempt)
    return RedirectResponse(f"/dashboard/import/{job.id}", status_code=303)


@router.post("/dashboard/import/{job_id}/cancel")
def cancel(job_id: str, db: DB, form: SignedInForm) -> Response:
    job = _job(db, form.user.id, job_id)
    if job is None:
        return pages.message_page("Not found", "There is no such import.", status_code=404)
    if not jobs.cancel(db, owner_id=job.owner_id, job_id=job.id):  # running or done: nothing to cancel
        return RedirectResponse(f"/dashboard/import/{job.id}", status_code=303)
    return back("import-cancelled", to=PAGE_PATH)


def _job(db: DB, owner_id: uuid.UUID, raw_id: str) -> ImportJob | None:
    try:
        job_id = uuid.UUID(raw_id)
    except ValueError:
        return None
    return jobs.find(db, owner_id=spaces.ids_of_account(db, owner_id), job_id=job_id)
