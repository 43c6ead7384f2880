"""The memory browser of the account page: every memory, filtered or
searched (``/dashboard/memories``), and each memory's own page where a
person edits it (a new version; the old one kept), archives or brings it
back, or forgets it (with an undo: memory/undo.py)."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from core.errors import MemoryGateError
from memory import archive, hybrid_search, indexing, knowledge, listing, observations, space_access, spaces
from memory import validation as check
from memory.embeddings import NoEmbeddings
from web import pages
from web.dashboard import MAX_PAGE, NOTICES, undo_of
from web.dependencies import DB, SignedIn, SignedInForm, csrf_token, current_session

router = APIRouter(include_in_schema=False)  # pages for a person, as the rest of /dashboard

EDITABLE = ("observation", "pattern")
DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
NO_EMBEDDINGS = NoEmbeddings()  # archiving by ref searches nothing


@router.get("/dashboard/memories")
def browser(
    request: Request,
    db: DB,
    q: str = "",
    kind: str = "",
    domain: str = "",
    since: str = "",
    until: str = "",
    time_field: str = "recorded",
    archived: str = "exclude",
    space: str = "",
    page: str = "0",
    notice: str | None = None,
    undo_id: Annotated[str, Query(alias="undo")] = "",
) -> Response:
    signed_in = current_session(request, db)
    if signed_in is None:
        return RedirectResponse("/dashboard", status_code=303)
    account_spaces = spaces.of_account(db, signed_in.user.id)
    filters = {
        "space": space if space in {str(each.id) for each in account_spaces} else "",
        "q": q.strip(),
        "kind": kind,
        "domain": domain.strip(),
        "since": since,
        "until": until,
        "time_field": time_field,
        "archived": archived,
    }
    number = int(page) if page.isdigit() and int(page) <= MAX_PAGE else 0
    shown: dict[str, Any] = {"memories": [], "has_more": False, "mode": None}
    error = None
    try:
        shown = _search(request, db, signed_in, filters) if filters["q"] else _page(db, signed_in, filters, number)
    except MemoryGateError as exc:
        error = exc.message
    here = "/dashboard/memories?" + urlencode({**filters, "page": str(number)})
    return pages.render(
        "memories.html",
        status_code=400 if error else 200,
        csrf=csrf_token(signed_in.session_token),
        kinds=listing.KINDS,
        spaces=account_spaces,
        filters=filters,
        memories=shown["memories"],
        mode=shown["mode"],
        first=number * listing.PAGE_SIZE + 1,
        here=here,
        previous_page=_page_link(filters, number - 1) if number > 0 and not filters["q"] else None,
        next_page=_page_link(filters, number + 1) if shown["has_more"] else None,
        notice=NOTICES.get(notice or ""),
        undo_id=undo_of(notice, undo_id),
        back_to=here,
        error=error,
    )


def _through(until: str) -> str:
    """A "To" date means through the end of that day (UTC), as a person reads it."""
    return f"{until}T23:59:59.999999+00:00" if DATE_ONLY.fullmatch(until) else until


def _shown_spaces(db: Session, signed_in: SignedIn, filters: dict[str, str]) -> spaces.Owners:
    """The space chosen (an id of the account's, checked), else every one."""
    if filters.get("space"):
        return uuid.UUID(filters["space"])
    return spaces.ids_of_account(db, signed_in.user.id)


def _page(db: Session, signed_in: SignedIn, filters: dict[str, str], number: int) -> dict[str, Any]:
    found = listing.browse(
        db,
        owner_id=_shown_spaces(db, signed_in, filters),
        kind=filters["kind"],
        domain=filters["domain"],
        since=filters["since"],
        until=_through(filters["until"]),
        time_field=filters["time_field"],
        archived=filters["archived"],
        offset=number * listing.PAGE_SIZE,
    )
    return {**found, "mode": None}


def _search(request: Request, db: Session, signed_in: SignedIn, filters: dict[str, str]) -> dict[str, Any]:
    """A search within the filters: the best matches, as search ranks them (no read is counted)."""
    found = hybrid_search.search(
        db,
        owner_id=_shown_spaces(db, signed_in, filters),
        embedder=request.app.state.embedder,
        query=filters["q"],
        source_types=[filters["kind"]] if filters["kind"] else None,
        domain=filters["domain"] or None,
        since=filters["since"] or None,
        until=_through(filters["until"]) or None,
        time_field=filters["time_field"],
        archived=filters["archived"],
        limit=listing.PAGE_SIZE,
        count_reads=False,
    )
    memories = [
        {
            "ref": hit["ref"],
            "type": hit["type"],
            "title": hit.get("title"),
            "text": hit["text"],
            "domain": hit.get("domain"),
            "created_at": hit.get("recorded_at"),
            "archived": False,  # a hit does not say; the memory's page does
            "replaced": bool(hit.get("superseded_by")),
            "space": hit.get("space"),
        }
        for hit in found["results"]
    ]
    return {"memories": memories, "has_more": False, "mode": found["mode"]}


def _page_link(filters: dict[str, str], number: int) -> str:
    return "/dashboard/memories?" + urlencode({**filters, "page": str(number)})


@router.get("/dashboard/timeline")
def timeline_page(request: Request, db: DB, time_field: str = "recorded", by: str = "kind") -> Response:
    # Over every space of the account (each bar leads to the memory browser, which can narrow it to one).
    """Memories over time, a bar a period, each bar a link to that period's memories."""
    signed_in = current_session(request, db)
    if signed_in is None:
        return RedirectResponse("/dashboard", status_code=303)
    error: str | None = None
    chart: dict[str, Any] = {"unit": "month", "periods": [], "labels": []}
    try:
        chart = listing.timeline(db, owner_id=_shown_spaces(db, signed_in, {}), time_field=time_field, by=by)
    except MemoryGateError as exc:
        error = exc.message
    tallest = max((period["total"] for period in chart["periods"]), default=0)
    return pages.render(
        "timeline.html",
        status_code=400 if error else 200,
        csrf=csrf_token(signed_in.session_token),
        chart=chart,
        tallest=tallest,
        time_field=time_field,
        by=by,
        error=error,
    )


@router.get("/dashboard/graph")
def graph_page(request: Request, db: DB) -> Response:
    """Concepts and their relationships, drawn by /static/graph.js from the
    data the page carries (escaped for HTML by ``tojson``)."""
    signed_in = current_session(request, db)
    if signed_in is None:
        return RedirectResponse("/dashboard", status_code=303)
    graph = listing.concept_graph(db, owner_id=_shown_spaces(db, signed_in, {}))
    return pages.render("graph.html", csrf=csrf_token(signed_in.session_token), graph=graph)


@router.get("/dashboard/memories/{ref}")
def memory_page(
    request: Request,
    ref: str,
    db: DB,
    notice: str | None = None,
) -> Response:
    signed_in = current_session(request, db)
    if signed_in is None:
        return RedirectResponse("/dashboard", status_code=303)
    return _memory_page(db, signed_in, ref, notice=NOTICES.get(notice or ""))


def _memory_page(
    db: Session, signed_in: SignedIn, ref: str, *, notice: str | None = None, error: str | None = None
) -> HTMLResponse:
    try:
        # Shown from the person's spaces and those shared with them; changed only in their own.
        holder = space_access.holding(db, spaces.of_person(db, signed_in.user.id), [ref], field="ref")
        shown = listing.memory(db, owner_id=holder.id if holder else signed_in.user.id, ref=ref)
    except MemoryGateError as exc:
        return pages.message_page("Memory not found", exc.message, status_code=404)
    shared_from = holder if holder is not None and holder.shared_by is not None else None
    return pages.render(
        "memory.html",
        status_code=400 if error else 200,
        csrf=csrf_token(signed_in.session_token),
        memory=shown,
        shared_from=shared_from,
        editable=shown["type"] in EDITABLE and shared_from is None,
        notice=notice,
        error=error,
    )


@router.post("/dashboard/memories/{ref}/edit")
def edit(ref: str, db: DB, request: Request, form: SignedInForm, text: Annotated[str, Form()] = "") -> Response:
    """A new version with the new text; the old one kept, replaced by it."""
    try:
        kind, _ = check.parse_ref("ref", ref)
        owner = space_access.space_of(db, form.user.id, ref)
        if kind == "observation":
            made = observations.store_observation(
                db, owner_id=owner, observation=text, supersedes=ref, embedder=request.app.state.embedder
            )
            # Words a current observation already says: that one becomes the replacement.
            new_ref = made.get("ref") or made["duplicate_of"]
        elif kind == "pattern":
            current = listing.memory(db, owner_id=owner, ref=ref)
            made = knowledge.update_pattern(
                db,
                owner_id=owner,
                category=current["category"],
                pattern_name=current["pattern_name"],
                pattern_text=text,
                confidence=current["confidence"],
            )
            new_ref = made.get("ref", ref)
        else:
            raise MemoryGateError(f"A {kind} is not edited here: only observations and patterns have versions.")
    except MemoryGateError as exc:
        db.rollback()
        return _memory_page(db, form, ref, error=exc.message)
    db.commit()
    indexing.index_committed(db, embedder=request.app.state.embedder)
    return RedirectResponse(f"/dashboard/memories/{new_ref}?notice=edited", status_code=303)


@router.post("/dashboard/memories/{ref}/archive")
def archive_memory(ref: str, db: DB, form: SignedInForm) -> Response:
    return _set_aside(db, form, ref, archived=True)


@router.post("/dashboard/memories/{ref}/rehydrate")
def rehydrate_memory(ref: str, db: DB, form: SignedInForm) -> Response:
    return _set_aside(db, form, ref, archived=False)


def _set_aside(db: Session, form: SignedIn, ref: str, *, archived: bool) -> Response:
    try:
        owner = space_access.space_of(db, form.user.id, ref)
        if archived:
            archive.archive(db, owner_id=owner, embedder=NO_EMBEDDINGS, refs=[ref])
        else:
            archive.rehydrate(db, owner_id=owner, refs=[ref])
    except MemoryGateError as exc:
        return _memory_page(db, form, ref, error=exc.message)
    return RedirectResponse(
        f"/dashboard/memories/{ref}?notice={'archived' if archived else 'rehydrated'}", status_code=303
    )
