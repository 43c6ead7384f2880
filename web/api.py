"""The memory API over plain HTTP (``/api/v1``), for apps and hooks that
have no MCP session: the brief, search, store, read and forget, and the
turns of conversations kept as memory.

It takes the credentials the MCP tools take (an API key, or an OAuth access
token issued for this server's MCP resource), with the same scopes, the same
per-credential rate and the same isolation (every operation runs for the
caller's own account), and answers with the same models as the tools. A
refused call changes nothing: 400 names the field and the rule, 403 the
scope it lacks (``WWW-Authenticate: Bearer error="insufficient_scope"``),
404 a memory that is not the caller's, 409 a conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import OperationalError

from core.errors import Conflict, Forbidden, InsufficientScope, MemoryGateError, NotFound
from core.principal import FORGET_SCOPE, READ_SCOPE, WRITE_SCOPE, step_up_scopes
from memory import brief, hybrid_search, items, observations
from memory import tool_results as results
from memory import turns as conversation_turns
from memory import validation as limits
from memory.unit_of_work import DATABASE_UNAVAILABLE, run_operation
from web.dependencies import DB, ApiPrincipal

router = APIRouter(
    prefix="/api/v1",
    tags=["memory"],
    responses={
        400: {"description": "An argument breaks its rule; the detail names it"},
        401: {"description": "No valid API key or access token"},
        403: {"description": "The credential lacks the scope this needs, or the role in a shared space does"},
        404: {"description": "No such memory of yours"},
        429: {"description": "Too many requests; see Retry-After"},
    },
)

Answer = TypeVar("Answer", bound=results.Result)
REF_PATTERN = r"^(observation|pattern|concept|document|turn):[1-9][0-9]{0,17}$"
Ref = Annotated[str, Path(pattern=REF_PATTERN, description="A memory's ref, e.g. observation:42.")]
ConversationId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=conversation_turns.MAX_CONVERSATION_ID_CHARS,
        description="The client's conversation id.",
    ),
]
SpaceQuery = Annotated[
    str | None,
    Query(
        max_length=limits.MAX_NAME_CHARS,
        description="A space, by name. Reads default to every space the credential reaches ('*' says so), "
        "writes to its default space.",
    ),
]
Moment = Annotated[
    datetime | date | None,
    Query(description="A date or date-time (ISO 8601; UTC when no zone is given)."),
]


def _run(
    request: Request,
    db: DB,
    principal: ApiPrincipal,
    operation: Callable[..., dict[str, Any]],
    *,
    needs: str,
    returns: type[Answer],
    **arguments: Any,
) -> Answer:
    try:
        result = run_operation(db, principal, request.app.state.embedder, operation, needs=needs, **arguments)
    except InsufficientScope as exc:
        challenge = f'Bearer error="insufficient_scope", scope="{step_up_scopes(principal.scopes, needs)}"'
        raise HTTPException(status_code=403, detail=exc.message, headers={"WWW-Authenticate": challenge}) from None
    except NotFound as exc:
        raise HTTPException(status_code=404, detail=exc.message) from None
    except Conflict as exc:
        raise HTTPException(status_code=409, detail=exc.message) from None
    except Forbidden as exc:  # a role's limit, not a scope's: asking for more scope would not help
        raise HTTPException(status_code=403, detail=exc.message) from None
    except MemoryGateError as exc:
        raise HTTPException(status_code=400, detail=exc.message) from None
    except OperationalError:
        raise HTTPException(status_code=503, detail=DATABASE_UNAVAILABLE, headers={"Retry-After": "5"}) from None
    return returns.model_validate(result)


def _bound(value: datetime | date | None) -> str | None:
    """A time a search or brief counts from or to, as the services take it;
    one past either end of the times stored is that end (a bound, not a
    record: nothing is stored with it)."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.combine(value, time(), UTC)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # past either end of Python's range once in UTC
        utc = limits.EARLIEST_MOMENT if moment.year < 5000 else limits.LATEST_MOMENT
    return min(max(utc, limits.EARLIEST_MOMENT), limits.LATEST_MOMENT).isoformat()


@router.get("/brief", response_model_exclude_none=True)
def get_brief(
    request: Request,
    db: DB,
    principal: ApiPrincipal,
    topic: Annotated[str | None, Query(max_length=limits.MAX_QUERY_CHARS)] = None,
    max_tokens: Annotated[int, Query(ge=brief.MIN_TOKENS, le=brief.MAX_TOKENS)] = brief.DEFAULT_MAX_TOKENS,
    since: Moment = None,
    conversation_id: Annotated[str | None, Query(max_length=500)] = None,
    space: SpaceQuery = None,
) -> results.Brief:
    """The brief (as the memory_brief tool): what to know now, within max_tokens."""
    return _run(
        request,
        db,
        principal,
        brief.brief,
        needs=READ_SCOPE,
        returns=results.Brief,
        pass_credential=True,
        spans=True,
        space=space,
        embedder=request.app.state.embedder,
        topic=topic,
        max_tokens=max_tokens,
        since=_bound(since),
        conversation_id=conversation_id,
    )


@router.get("/search", response_model_exclude_none=True)
def search(
    request: Request,
    db: DB,
    principal: ApiPrincipal,
    query: Annotated[str, Query(min_length=1, max_length=limits.MAX_QUERY_CHARS)],
    limit: Annotated[int, Query(ge=1, le=limits.MAX_LIMIT)] = 5,
    domain: Annotated[str | None, Query(max_length=limits.MAX_NAME_CHARS)] = None,
    since: Moment = None,
    until: Moment = None,
    archived: Literal["exclude", "include", "only"] = "exclude",
    explain: bool = False,
    as_of: Moment = None,
    changed_since: Moment = None,
    space: SpaceQuery = None,
) -> results.Found:
    """Search every memory by meaning and keywords (as the memory_search tool);
    ``explain=true`` gives each hit the parts of its score."""
    return _run(
        request,
        db,
        principal,
        hybrid_search.search,
        needs=READ_SCOPE,
        returns=results.Found,
        spans=True,
        space=space,
        embedder=request.app.state.embedder,
        query=query,
        limit=limit,
        domain=domain,
        since=_bound(since),
        until=_bound(until),
        archived=archived,
        explain=explain,
        as_of=_bound(as_of),
        changed_since=_bound(changed_since),
    )


class NewObservation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    observation: str = Field(min_length=1, max_length=limits.MAX_OBSERVATION_CHARS)
    confidence: float = Field(0.8, ge=0.0, le=1.0)
    domain: str | None = Field(None, max_length=limits.MAX_NAME_CHARS)
    evidence: list[str] | None = Field(None, max_length=limits.MAX_LIST_ITEMS)
    occurred_at: str | None = Field(None, max_length=40)
    supersedes: str | None = Field(None, pattern=r"^observation:[1-9][0-9]{0,17}$")
    conversation_id: str | None = Field(None, max_length=500)
    allow_duplicate: bool = False
    space: str | None = Field(None, max_length=limits.MAX_NAME_CHARS, description="Default: the credential's.")


@router.post("/memories", response_model_exclude_none=True)
def store(request: Request, db: DB, principal: ApiPrincipal, body: NewObservation) -> results.Stored:
    """Store an observation (as the memory_store tool): a restatement of a
    current one strengthens it instead (stored: false, duplicate_of)."""
    return _run(
        request,
        db,
        principal,
        observations.store_observation,
        needs=WRITE_SCOPE,
        returns=results.Stored,
        pass_credential=True,
        embedder=request.app.state.embedder,
        **body.model_dump(),
    )


@router.get("/memories/{ref}", response_model_exclude_none=True)
def get_memory(request: Request, db: DB, principal: ApiPrincipal, ref: Ref) -> results.AnyMemory:
    """One memory in full (as the memory_get tool)."""
    return _run(request, db, principal, items.get_item, needs=READ_SCOPE, returns=results.AnyMemory, ref=ref)


@router.delete("/memories/{ref}", response_model_exclude_none=True)
def forget(request: Request, db: DB, principal: ApiPrincipal, ref: Ref) -> results.Deleted:
    """Forget one memory and its vectors for good (as the memory_delete tool)."""
    return _run(request, db, principal, items.delete_item, needs=FORGET_SCOPE, returns=results.Deleted, ref=ref)


class NewTurns(BaseModel):
    model_config = ConfigDict(extra="forbid")

    turns: list[conversation_turns.TurnInput] = Field(min_length=1, max_length=conversation_turns.MAX_TURNS_PER_APPEND)
    title: str | None = Field(None, max_length=limits.MAX_TITLE_CHARS)
    ai_name: str | None = Field(None, max_length=limits.MAX_NAME_CHARS)
    ai_platform: str | None = Field(None, max_length=limits.MAX_NAME_CHARS)
    space: str | None = Field(None, max_length=limits.MAX_NAME_CHARS, description="Default: the credential's.")


@router.post("/conversations/{conversation_id}/turns", response_model_exclude_none=True)
def append_turns(
    request: Request, db: DB, principal: ApiPrincipal, conversation_id: ConversationId, body: NewTurns
) -> results.Appended:
    """Append a conversation's new turns (as the memory_append_turns tool):
    all or none; a turn whose id the conversation holds is skipped; text in
    <private>…</private> is never stored; 409 when capture is off."""
    return _run(
        request,
        db,
        principal,
        conversation_turns.append,
        needs=WRITE_SCOPE,
        returns=results.Appended,
        pass_credential=True,
        conversation_id=conversation_id,
        turns=[turn.model_dump(exclude_none=True) for turn in body.turns],
        title=body.title,
        ai_name=body.ai_name,
        ai_platform=body.ai_platform,
        space=body.space,
    )


@router.get("/conversations/{conversation_id}/turns", response_model_exclude_none=True)
def read_turns(
    request: Request,
    db: DB,
    principal: ApiPrincipal,
    conversation_id: ConversationId,
    offset: Annotated[int, Query(ge=0, le=limits.MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=limits.MAX_LIMIT)] = 50,
    space: SpaceQuery = None,
) -> results.ConversationTurns:
    """A page of a kept conversation's turns, in order (as the memory_conversation tool)."""
    return _run(
        request,
        db,
        principal,
        conversation_turns.read,
        needs=READ_SCOPE,
        returns=results.ConversationTurns,
        conversation_id=conversation_id,
        offset=offset,
        limit=limit,
        space=space,
    )


@router.delete("/conversations/{conversation_id}", response_model_exclude_none=True)
def forget_conversation(
    request: Request, db: DB, principal: ApiPrincipal, conversation_id: ConversationId, space: SpaceQuery = None
) -> results.ConversationForgotten:
    """Forget a kept conversation and every turn in it (as the memory_forget_conversation tool)."""
    return _run(
        request,
        db,
        principal,
        conversation_turns.forget,
        needs=FORGET_SCOPE,
        returns=results.ConversationForgotten,
        conversation_id=conversation_id,
        space=space,
    )
