"""The MemoryGate MCP server: thin tools over the service layer.

``build_mcp_server(session_factory=..., embedder=...)`` returns a FastMCP app.
Each tool receives its unit of work through FastMCP's dependency injection
(``Depends``): the caller (the principal the auth gate put into the ASGI
scope, or over stdio the fixed local owner), a database session and the
embedder. It runs one service operation for that caller, commits, embeds
what was stored, and turns service errors into one-line MCP tool errors that
name the offending argument. Tools are synchronous, so FastMCP runs them in
its threadpool, and the session is closed off the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastmcp import FastMCP
from fastmcp.dependencies import Depends
from fastmcp.exceptions import ToolError
from fastmcp.exceptions import ValidationError as ArgumentsRejected
from fastmcp.server.dependencies import get_http_request
from fastmcp.server.middleware import Middleware, MiddlewareContext
from pydantic import Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from core.errors import MemoryGateError
from core.principal import READ_SCOPE, WRITE_SCOPE, Principal, from_scope
from core.settings import VERSION
from memory import archive, hybrid_search, indexing, knowledge, observations, user_guide
from memory import validation as limits
from memory.embeddings import EmbeddingProvider

log = logging.getLogger("memorygate.mcp")

NOT_AUTHENTICATED = "Not authenticated: this request carries no MemoryGate identity."
INSUFFICIENT_SCOPE = "Insufficient scope: this credential lacks {scope}, so the call was refused and nothing changed."
DATABASE_UNAVAILABLE = "The memory database is unavailable right now; nothing was changed. Try again shortly."

SERVER_INSTRUCTIONS = (
    "MemoryGate is the user's persistent memory across conversations and AI models. "
    "On first contact call memory_bootstrap, then memory_init_session. Search (memory_search) before asking "
    "the user to repeat something; store durable facts with memory_store. Read memory_user_guide for details."
)

READ_ONLY = {"readOnlyHint": True, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False}
ADDITIVE = {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": False, "openWorldHint": False}
UPSERT = {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": True, "openWorldHint": False}
REFRESH = {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False}
DESTRUCTIVE = {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": True, "openWorldHint": False}

Confidence = Annotated[float, Field(ge=0.0, le=1.0, description="0 to 1; see memory_user_guide for the scale.")]
MinConfidence = Annotated[float, Field(ge=0.0, le=1.0, description="Only return items at least this confident.")]
Limit = Annotated[int, Field(ge=1, le=limits.MAX_LIMIT, description=f"1 to {limits.MAX_LIMIT}.")]
Offset = Annotated[int, Field(ge=0, le=limits.MAX_OFFSET, description="Skip this many results (for paging).")]
Name = Annotated[str, Field(min_length=1, max_length=limits.MAX_NAME_CHARS)]
OptionalName = Annotated[str | None, Field(max_length=limits.MAX_NAME_CHARS)]
Ref = Annotated[str, Field(description="A memory reference such as 'observation:42', 'pattern:3', 'concept:7'.")]
IncludeHistory = Annotated[
    bool,
    Field(
        description="Also replaced (superseded) versions of observations and patterns; by default only current ones."
    ),
]
Since = Annotated[str | None, Field(description="Only memories from this date or date-time on (ISO 8601).")]
Until = Annotated[str | None, Field(description="Only memories up to this date or date-time (ISO 8601).")]
Archived = Annotated[
    Literal["exclude", "include", "only"],
    Field(description="Archived memories: left out (default), included, or only them (search the archive)."),
]
TimeField = Annotated[
    Literal["recorded", "occurred"],
    Field(description="What since/until compare: when stored, or when it happened (observations' occurred_at)."),
]


class UnitOfWork:
    """One tool call's work: the caller, a database session and the embedder,
    injected by FastMCP (``Depends``). Calling it runs one service operation
    for the caller, commits, and then runs the second step (embedding what
    the operation asked for)."""

    def __init__(self, db: Session, principal: Principal, embedder: EmbeddingProvider) -> None:
        self.db = db
        self.principal = principal
        self.embedder = embedder

    def __call__(
        self, operation: Callable[..., dict[str, Any]], *, needs: str, pass_credential: bool = False, **arguments: Any
    ) -> dict[str, Any]:
        if not self.principal.can(needs):
            raise ToolError(INSUFFICIENT_SCOPE.format(scope=needs))
        if pass_credential:
            arguments["credential_id"] = self.principal.credential_id
        db = self.db
        try:
            try:
                result = operation(db, owner_id=self.principal.user_id, **arguments)
                db.commit()
            except BaseException:
                db.rollback()
                raise
            # The second step: what the call stored is safe; now embed it.
            status = indexing.index_committed(db, embedder=self.embedder)
            if status is not None:
                result["embedding"] = status
        except MemoryGateError as exc:
            raise ToolError(exc.message) from None
        except OperationalError:
            log.exception("database error in %s", getattr(operation, "__name__", "tool"))
            raise ToolError(DATABASE_UNAVAILABLE) from None
        return result


def _unit_of_work_dependency(
    session_factory: Callable[[], Session],
    embedder: EmbeddingProvider,
    principal_source: Callable[[], Principal | None],
) -> Any:
    """The ``Depends`` marker every tool takes: who calls (by default the
    principal the auth gate put into the HTTP request's scope), and a session
    that is closed off the event loop once the call is done."""

    def caller() -> Principal:
        principal = principal_source()
        if principal is None:
            raise ToolError(NOT_AUTHENTICATED)
        return principal

    @asynccontextmanager
    async def unit_of_work(principal: Principal = Depends(caller)) -> AsyncIterator[UnitOfWork]:
        session = session_factory()
        try:
            yield UnitOfWork(session, principal, embedder)
        finally:
            await anyio.to_thread.run_sync(session.close)

    return Depends(unit_of_work)


def _principal_of_http_request() -> Principal | None:
    return from_scope(get_http_request().scope)


class OneLineArgumentErrors(Middleware):
    """Arguments the tool schema rejects come back as one line per call,
    naming each argument and its rule, instead of pydantic's report."""

    async def on_call_tool(self, context: MiddlewareContext, call_next: Callable) -> Any:
        try:
            return await call_next(context)
        except ArgumentsRejected as exc:
            cause = exc.__cause__
            if not isinstance(cause, PydanticValidationError):
                raise
            server = context.fastmcp_context.fastmcp if context.fastmcp_context is not None else None
            tool = await server.get_tool(context.message.name) if server is not None else None
            schema = tool.parameters.get("properties", {}) if tool is not None else {}
            raise ToolError("; ".join(argument_problem(error, schema) for error in cause.errors())) from None


def argument_problem(error: Any, properties: dict[str, Any]) -> str:
    """'confidence must be between 0 and 1' from one pydantic error."""
    location = [str(part) for part in error["loc"]]
    argument = location[0] if location else "arguments"
    name = argument + "".join(f"[{part}]" for part in location[1:])
    rule = properties.get(argument, {})
    context = error.get("ctx", {})
    kind = error["type"]
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        low, high = rule.get("minimum"), rule.get("maximum")
        if low is not None and high is not None and len(location) == 1:
            return f"{name} must be between {low} and {high}"
        bound = next(iter(context.values()), "?")
        words = {"greater_than_equal": "at least", "less_than_equal": "at most"}
        return f"{name} must be {words.get(kind, kind.replace('_', ' '))} {bound}"
    if kind == "string_too_long":
        return f"{name} must be at most {context.get('max_length')} characters"
    if kind == "string_too_short":
        return f"{name} must not be empty"
    if kind == "too_long":
        return f"{name} must have at most {context.get('max_length')} items"
    if kind == "missing":
        return f"{name} is required"
    if kind == "unexpected_keyword_argument":
        return f"{name} is not an argument of this tool"
    if kind == "literal_error":
        return f"{name} must be one of {context.get('expected')}"
    simple = {
        "int_parsing": "a whole number",
        "int_type": "a whole number",
        "int_from_float": "a whole number",
        "float_parsing": "a number",
        "float_type": "a number",
        "string_type": "a string",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "list_type": "a list",
        "dict_type": "an object",
    }
    if kind in simple:
        return f"{name} must be {simple[kind]}"
    return f"{name}: {error['msg']}"


def build_mcp_server(
    *,
    session_factory: Callable[[], Session],
    embedder: EmbeddingProvider,
    principal_source: Callable[[], Principal | None] | None = None,
) -> FastMCP:
    mcp = FastMCP(
        "MemoryGate",
        version=VERSION,
        instructions=SERVER_INSTRUCTIONS,
        mask_error_details=True,
        middleware=[OneLineArgumentErrors()],
    )
    work = _unit_of_work_dependency(session_factory, embedder, principal_source or _principal_of_http_request)
    _register_memory_tools(mcp, work)
    _register_knowledge_tools(mcp, work)
    return mcp


def _register_memory_tools(mcp: FastMCP, work: Any) -> None:
    @mcp.tool(annotations=ADDITIVE)
    def memory_store(
        observation: Annotated[str, Field(description="The fact, preference or event, in one or two sentences.")],
        confidence: Confidence = 0.8,
        domain: Annotated[str | None, Field(description="Short lowercase topic, e.g. 'preferences'.")] = None,
        evidence: Annotated[list[str] | None, Field(description="Quotes or reasons supporting it.")] = None,
        ai_name: Annotated[
            str | None,
            Field(description="Your name, e.g. 'Claude'. Default: the one given to memory_init_session."),
        ] = None,
        ai_platform: Annotated[
            str | None,
            Field(description="Where you run, e.g. 'Claude Desktop'. Default: as given to memory_init_session."),
        ] = None,
        conversation_id: Annotated[str | None, Field(description="This conversation's id, if known.")] = None,
        conversation_title: str | None = None,
        occurred_at: Annotated[
            str | None,
            Field(description="When it happened, if not now: a date (2024-05-01) or date-time (ISO 8601)."),
        ] = None,
        supersedes: Annotated[
            str | None,
            Field(
                description="Ref of an observation this one replaces (e.g. 'observation:42' when the user moved "
                "from Lisbon to Porto). The old one is kept as the previous version but leaves search and recall."
            ),
        ] = None,
        allow_duplicate: Annotated[
            bool, Field(description="Store a new row even if a current observation already says the same.")
        ] = False,
        run: UnitOfWork = work,
    ) -> dict[str, Any]:
        """Store one observation about the user or their work so any AI can recall it later.

        Adds one memory (and registers the conversation when conversation_id is given). If a current observation
        already says the same words (case, punctuation and small words aside), nothing is added: that one is
        strengthened instead (seen_count +1, the higher confidence, evidence merged) and the answer is
        {stored: false, duplicate_of: its ref, seen_count}. With supersedes, the named observation is marked
        replaced by the new one. A new memory's answer has its id and ref (e.g. 'observation:42') and stored: true.
        Store durable facts, not chit-chat.
        """
        return run(
            observations.store_observation,
            needs=WRITE_SCOPE,
            pass_credential=True,
            observation=observation,
            confidence=confidence,
            domain=domain,
            evidence=evidence,
            ai_name=ai_name,
            ai_platform=ai_platform,
            conversation_id=conversation_id,
            conversation_title=conversation_title,
            occurred_at=occurred_at,
            supersedes=supersedes,
            allow_duplicate=allow_duplicate,
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_recall(
        domain: str | None = None,
        min_confidence: MinConfidence = 0.0,
        limit: Limit = 10,
        ai_name: Annotated[str | None, Field(description="Only observations stored by this AI.")] = None,
        offset: Offset = 0,
        include_history: IncludeHistory = False,
        since: Since = None,
        until: Until = None,
        time_field: TimeField = "recorded",
        archived: Archived = "exclude",
        run: UnitOfWork = work,
    ) -> dict[str, Any]:
        """List current observations, newest first, optionally filtered by domain, confidence, the AI that stored
        them, or a period (since/until on when they were recorded or happened)."""
        return run(
            observations.recall,
            needs=READ_SCOPE,
            domain=domain,
            min_confidence=min_confidence,
            limit=limit,
            ai_name=ai_name,
            offset=offset,
            include_history=include_history,
            since=since,
            until=until,
            time_field=time_field,
            archived=archived,
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_search(
        query: Annotated[str, Field(description="What you are looking for, in natural language.")],
        limit: Annotated[int, Field(ge=1, le=limits.MAX_LIMIT)] = 5,
        min_confidence: MinConfidence = 0.0,
        min_similarity: Annotated[
            float,
            Field(
                ge=0.0,
                le=1.0,
                description="Relevance floor: leave out hits whose meaning is less similar than this, unless they "
                "contain every word of the query. 0 keeps every candidate.",
            ),
        ] = hybrid_search.DEFAULT_MIN_SIMILARITY,
        domain: str | None = None,
        source_types: Annotated[
            list[Literal["observation", "pattern", "concept", "document"]] | None,
            Field(description="Restrict to these memory types; default all."),
        ] = None,
        include_history: IncludeHistory = False,
        since: Since = None,
        until: Until = None,
        time_field: TimeField = "recorded",
        archived: Archived = "exclude",
        recency_half_life_days: Annotated[
            float | None,
            Field(
                gt=0,
                le=hybrid_search.MAX_HALF_LIFE_DAYS,
                description="Favour recent memories: one this many days old (by occurred_at, else when recorded) "
                "scores half as much as one from today. Default: no preference.",
            ),
        ] = None,
        run: UnitOfWork = work,
    ) -> dict[str, Any]:
        """Search all memories by meaning and keywords together (observations, patterns, concepts, documents).

        Read-only. Each hit has ref, type, text (up to 2,000 characters; memory_get has the rest), score,
        matched ("meaning", "keywords" or "both"), and where they apply title, similarity, confidence, domain
        and recorded_at. Weak matches are left out rather than padding the list; "dropped" counts them.
        "mode" is "hybrid", or "keyword" when semantic search is unavailable (no relevance floor then).
        """
        return run(
            hybrid_search.search,
            needs=READ_SCOPE,
            embedder=run.embedder,
            query=query,
            limit=limit,
            min_confidence=min_confidence,
            min_similarity=min_similarity,
            domain=domain,
            source_types=source_types,
            include_history=include_history,
            since=since,
            until=until,
            time_field=time_field,
            archived=archived,
            recency_half_life_days=recency_half_life_days,
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_get(ref: Ref, run: UnitOfWork = work) -> dict[str, Any]:
        """Read one memory in full by its ref; a replaced or replacing observation or pattern also lists its versions
        (oldest first)."""
        return run(observations.get_item, needs=READ_SCOPE, ref=ref)

    @mcp.tool(annotations=REFRESH)
    def memory_archive(
        refs: Annotated[
            list[str] | None, Field(description="Refs to archive, e.g. ['observation:42']; all or none.")
        ] = None,
        query: Annotated[
            str | None, Field(description="Instead of refs: preview what this search finds; archives nothing.")
        ] = None,
        limit: Limit = 10,
        run: UnitOfWork = work,
    ) -> dict[str, Any]:
        """Move memories to cold storage: kept whole, but out of search, recall and bootstrap until rehydrated.

        With refs: archives those (every ref must be yours, or nothing changes) and returns "archived" (and
        "already_archived"). With query: changes nothing and returns a "preview" of the matching memories, to
        archive by ref next. memory_search(archived="only") searches the archive.
        """
        return run(archive.archive, needs=WRITE_SCOPE, embedder=run.embedder, refs=refs, query=query, limit=limit)

    @mcp.tool(annotations=REFRESH)
    def memory_rehydrate(
        refs: Annotated[list[str], Field(description="Refs of archived memories to bring back; all or none.")],
        run: UnitOfWork = work,
    ) -> dict[str, Any]:
        """Bring archived memories back into search, recall and bootstrap. Changes only their archived state."""
        return run(archive.rehydrate, needs=WRITE_SCOPE, refs=refs)

    @mcp.tool(annotations=READ_ONLY)
    def memory_archive_candidates(limit: Limit = 20, run: UnitOfWork = work) -> dict[str, Any]:
        """List current memories of every type that could be archived, stalest first. Read-only; archives nothing.

        staleness = days since last used (read, found, restated or changed) x (2 - confidence) / (1 + times read);
        concepts and documents count as confidence 0.8.
        """
        return run(archive.candidates, needs=READ_SCOPE, limit=limit)

    @mcp.tool(annotations=DESTRUCTIVE)
    def memory_delete(ref: Ref, run: UnitOfWork = work) -> dict[str, Any]:
        """Forget one memory permanently (with its search vectors); it cannot be restored.

        Use when the user asks to forget something.
        """
        return run(observations.delete_item, needs=WRITE_SCOPE, ref=ref)

    @mcp.tool(annotations=READ_ONLY)
    def memory_stats(run: UnitOfWork = work) -> dict[str, Any]:
        """Counts of memories by type, the main domains, known AI instances and embedding status."""
        return run(observations.stats, needs=READ_SCOPE, embedder=run.embedder)

    @mcp.tool(annotations=REFRESH)
    def memory_init_session(
        conversation_id: Annotated[str, Field(min_length=1, max_length=500)],
        title: str | None = None,
        ai_name: str = "Unknown",
        ai_platform: str = "Unknown",
        source_url: str | None = None,
        run: UnitOfWork = work,
    ) -> dict[str, Any]:
        """Register (or refresh) the current conversation and the AI instance taking part in it.

        Creates or updates the conversation record and the AI instance (last seen); memories are untouched.
        Later memory_store calls that omit ai_name/ai_platform are attributed to this AI instance.
        """
        return run(
            observations.init_session,
            needs=WRITE_SCOPE,
            pass_credential=True,
            conversation_id=conversation_id,
            title=title,
            ai_name=ai_name,
            ai_platform=ai_platform,
            source_url=source_url,
        )

    @mcp.tool(annotations=ADDITIVE)
    def memory_bootstrap(
        ai_name: OptionalName = None, ai_platform: OptionalName = None, run: UnitOfWork = work
    ) -> dict[str, Any]:
        """Call first: whether this AI instance is new, when it was first and last seen, what memory holds,
        and the recommended first steps."""
        needs = WRITE_SCOPE if ai_name else READ_SCOPE
        return run(observations.bootstrap, needs=needs, ai_name=ai_name, ai_platform=ai_platform)

    @mcp.tool(annotations=READ_ONLY)
    def memory_user_guide(format: Literal["markdown", "json"] = "markdown", run: UnitOfWork = work) -> dict[str, Any]:
        """The complete guide to using MemoryGate: tools, domains, the confidence scale and workflows."""
        if format == "json":
            return {"format": "json", "guide": user_guide.GUIDE}
        return {"format": "markdown", "guide": user_guide.as_markdown()}


def _register_knowledge_tools(mcp: FastMCP, work: Any) -> None:
    @mcp.tool(annotations=ADDITIVE)
    def memory_store_document(
        title: Annotated[str, Field(min_length=1, max_length=limits.MAX_TITLE_CHARS)],
        doc_type: Annotated[str, Field(description="e.g. article, paper, spec, book, repository.")],
        content_summary: Annotated[str, Field(description="Your summary of what matters in it.")],
        url: str | None = None,
        key_concepts: list[str] | None = None,
        publication_date: Annotated[str | None, Field(description="YYYY-MM-DD")] = None,
        metadata: dict[str, Any] | None = None,
        run: UnitOfWork = work,
    ) -> dict[str, Any]:
        """Remember a document by reference: title, type, URL, your summary and its key concepts."""
        return run(
            knowledge.store_document,
            needs=WRITE_SCOPE,
            title=title,
            doc_type=doc_type,
            content_summary=content_summary,
            url=url,
            key_concepts=key_concepts,
            publication_date=publication_date,
            metadata=metadata,
        )

    @mcp.tool(annotations=UPSERT)
    def memory_store_concept(
        name: Name,
        concept_type: Annotated[
            str | None,
            Field(description="e.g. project, tool, person, idea, organisation. Required when creating."),
        ] = None,
        description: str | None = None,
        domain: str | None = None,
        status: Annotated[str | None, Field(description="e.g. active, archived.")] = None,
        metadata: dict[str, Any] | None = None,
        run: UnitOfWork = work,
    ) -> dict[str, Any]:
        """Create a named concept, or update the existing one with this name (names are case-insensitive).

        On an existing concept only the fields you pass change; omitted fields keep their value. To clear
        description, domain or status pass an empty string ""; to clear metadata pass {}.
        """
        return run(
            knowledge.store_concept,
            needs=WRITE_SCOPE,
            name=name,
            concept_type=concept_type,
            description=description,
            domain=domain,
            status=status,
            metadata=metadata,
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_get_concept(name: Name, run: UnitOfWork = work) -> dict[str, Any]:
        """Read a concept by name or alias, with its aliases and relationships."""
        return run(knowledge.get_concept, needs=READ_SCOPE, name=name)

    @mcp.tool(annotations=ADDITIVE)
    def memory_add_concept_alias(concept_name: Name, alias: Name, run: UnitOfWork = work) -> dict[str, Any]:
        """Add another name the concept can be found by."""
        return run(knowledge.add_alias, needs=WRITE_SCOPE, concept_name=concept_name, alias=alias)

    @mcp.tool(annotations=UPSERT)
    def memory_add_concept_relationship(
        from_concept: Name,
        to_concept: Name,
        rel_type: Literal["enables", "version_of", "part_of", "related_to", "implements", "demonstrates"],
        weight: Annotated[float, Field(ge=0.0, le=1.0, description="Strength of the link, 0 to 1.")] = 0.5,
        description: str | None = None,
        run: UnitOfWork = work,
    ) -> dict[str, Any]:
        """Link two concepts; calling again with the same pair and type updates weight and description."""
        return run(
            knowledge.add_relationship,
            needs=WRITE_SCOPE,
            from_concept=from_concept,
            to_concept=to_concept,
            rel_type=rel_type,
            weight=weight,
            description=description,
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_related_concepts(
        concept_name: Name,
        rel_type: Literal["enables", "version_of", "part_of", "related_to", "implements", "demonstrates"] | None = None,
        min_weight: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0,
        run: UnitOfWork = work,
    ) -> dict[str, Any]:
        """Concepts linked to this one, in both directions, strongest first (at most 100)."""
        return run(
            knowledge.related_concepts,
            needs=READ_SCOPE,
            concept_name=concept_name,
            rel_type=rel_type,
            min_weight=min_weight,
        )

    @mcp.tool(annotations=UPSERT)
    def memory_update_pattern(
        category: Name,
        pattern_name: Name,
        pattern_text: Annotated[str, Field(description="The pattern, stated so another AI can act on it.")],
        confidence: Confidence = 0.8,
        evidence_observation_ids: Annotated[
            list[int] | None, Field(description="Ids of your observations that support it.")
        ] = None,
        run: UnitOfWork = work,
    ) -> dict[str, Any]:
        """Create the pattern (category, pattern_name), a synthesis of several observations. A new text for an
        existing name replaces it with a new version: the old one is kept (memory_get shows the chain; search
        with include_history finds it) and the answer names it as supersedes. The same text again only updates
        confidence and evidence."""
        return run(
            knowledge.update_pattern,
            needs=WRITE_SCOPE,
            category=category,
            pattern_name=pattern_name,
            pattern_text=pattern_text,
            confidence=confidence,
            evidence_observation_ids=evidence_observation_ids,
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_get_pattern(category: Name, pattern_name: Name, run: UnitOfWork = work) -> dict[str, Any]:
        """Read one pattern by category and name."""
        return run(knowledge.get_pattern, needs=READ_SCOPE, category=category, pattern_name=pattern_name)

    @mcp.tool(annotations=READ_ONLY)
    def memory_patterns(
        category: str | None = None,
        min_confidence: MinConfidence = 0.0,
        limit: Limit = 20,
        offset: Offset = 0,
        run: UnitOfWork = work,
    ) -> dict[str, Any]:
        """List patterns, most confident first, optionally within one category."""
        return run(
            knowledge.list_patterns,
            needs=READ_SCOPE,
            category=category,
            min_confidence=min_confidence,
            limit=limit,
            offset=offset,
        )
