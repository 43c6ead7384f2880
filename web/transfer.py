"""The account page's export and import, over HTTP with the browser session.

GET  /dashboard/export                 the whole memory as a JSON Lines download
POST /dashboard/import                 upload (multipart ``file``): checked, then a preview
GET  /dashboard/import/{id}            the preview, progress or result (JSON with Accept: application/json)
POST /dashboard/import/{id}/start      confirm: the import runs in the background
POST /dashboard/import/{id}/cancel     drop an upload not imported

Posts carry the page's CSRF token like every other form of the page.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from core import audit
from models import ImportJob
from portability import exporter, importer, jobs
from portability.jsonl_schema import FileRejected
from web import pages
from web.dashboard import SignedInForm, back, csrf_token, current_session, dashboard_page
from web.dependencies import DB, NO_STORE

router = APIRouter(include_in_schema=False)

UPLOAD_PATH = "/dashboard/import"

MAX_PROBLEMS_ON_PAGE = 10
REFRESH_SECONDS = 2


@router.get("/dashboard/export")
def export(request: Request, db: DB) -> Response:
    signed_in = current_session(request, db)
    if signed_in is None:
        return RedirectResponse("/dashboard", status_code=303)
    owner_id = signed_in.user.id
    audit.record(db, audit.MEMORY_EXPORTED, actor=owner_id, targets={"by": "self"})
    database = request.app.state.database

    def lines() -> Iterator[str]:
        # Its own session: the request's is committed and closed before the body streams.
        with database.session_scope() as snapshot:
            yield from exporter.export_lines(snapshot, owner_id=owner_id)

    name = f"memorygate-{datetime.now(UTC):%Y-%m-%d}.jsonl"
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(lines(), media_type="application/x-ndjson", headers=headers)


@router.post(UPLOAD_PATH)
def upload(request: Request, db: DB, form: SignedInForm, file: Annotated[UploadFile | None, File()] = None) -> Response:
    """Check the file and show what it would add; nothing is imported yet."""
    user, token = form.user, form.session_token
    if file is None or not file.filename:
        return dashboard_page(request, db, user, token, error="Import: choose a file to upload.", status_code=400)
    raw = file.file.read()
    try:
        parsed = importer.read(raw.split(b"\n"))
    except FileRejected as exc:
        shown = exc.problems[:MAX_PROBLEMS_ON_PAGE]
        more = f" … and {len(exc.problems) - len(shown)} more." if len(exc.problems) > len(shown) else ""
        error = f"Import: {file.filename} cannot be imported; nothing was added. " + "; ".join(shown) + more
        return dashboard_page(request, db, user, token, error=error, status_code=400)
    outcome = importer.plan(db, owner_id=user.id, parsed=parsed)
    job = jobs.stage(
        db, owner_id=user.id, file_name=file.filename, content=raw.decode(), parsed=parsed, outcome=outcome
    )
    return RedirectResponse(f"/dashboard/import/{job.id}", status_code=303)


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
        summary=importer.describe(outcome, "adds" if shown["state"] != "done" else "added"),
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
    attempt = jobs.claim(db, owner_id=form.user.id, job_id=job.id)
    if attempt is not None:
        db.commit()  # the runner's own session must see the claim
        request.app.state.imports.submit(job.id, attempt)
    return RedirectResponse(f"/dashboard/import/{job.id}", status_code=303)


@router.post("/dashboard/import/{job_id}/cancel")
def cancel(job_id: str, db: DB, form: SignedInForm) -> Response:
    job = _job(db, form.user.id, job_id)
    if job is None:
        return pages.message_page("Not found", "There is no such import.", status_code=404)
    if not jobs.cancel(db, owner_id=form.user.id, job_id=job.id):  # running or done: nothing to cancel
        return RedirectResponse(f"/dashboard/import/{job.id}", status_code=303)
    return back("import-cancelled", "#transfer")


def _job(db: DB, owner_id: uuid.UUID, raw_id: str) -> ImportJob | None:
    try:
        job_id = uuid.UUID(raw_id)
    except ValueError:
        return None
    return jobs.find(db, owner_id=owner_id, job_id=job_id)
