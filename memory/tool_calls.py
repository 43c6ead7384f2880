"""How a memory tool call runs, shared by every tool.

Each tool receives its unit of work through FastMCP's dependency injection
(``Depends``): the caller (the principal the auth gate put into the ASGI
scope, or over stdio the fixed local owner), a database session and the
embedder. It runs one service operation for that caller, commits, embeds
what was stored, and turns service errors into one-line MCP tool errors that
name the offending argument. Tools are synchronous, so FastMCP runs them in
its threadpool, and the session is closed off the event loop. Here too: the
tools' annotation sets and the argument types they share.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, TypeVar

import anyio.to_thread
from fastmcp.dependencies import Depends
from fastmcp.exceptions import PromptError, ResourceError, ToolError
from fastmcp.exceptions import ValidationError as ArgumentsRejected
from fastmcp.server.dependencies import get_http_request
from fastmcp.server.middleware import Middleware, MiddlewareContext
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from core.errors import MemoryGateError
from core.principal import READ_SCOPE, Principal, from_scope
from memory import validation as limits
from memory.embeddings import EmbeddingProvider
from memory.tool_results import Result
from memory.tool_rights import PROMPT_RIGHTS, TOOL_RIGHTS, required_right
from memory.unit_of_work import DATABASE_UNAVAILABLE, INSUFFICIENT_SCOPE, run_operation

log = logging.getLogger("memorygate.mcp")
Answer = TypeVar("Answer", bound=Result)

NOT_AUTHENTICATED = "Not authenticated: this request carries no MemoryGate identity."

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
AsOf = Annotated[
    str | None,
    Field(
        description="What was true then (ISO 8601): the versions that had become true by then (when they happened, "
        "else when recorded) and were not yet replaced by one that had; replaced versions included."
    ),
]
ChangedSince = Annotated[
    str | None,
    Field(
        description="Only what changed from then on (ISO 8601): added, replaced or archived (replaced and archived "
        "memories included; the answer's 'forgotten' lists what was deleted). Not with as_of."
    ),
]
SpaceName = Annotated[
    str | None,
    Field(
        max_length=limits.MAX_NAME_CHARS,
        description="The space (by name) it acts on; default: the one holding the memory it names, else this "
        "credential's default space. memory_bootstrap lists the spaces.",
    ),
]
SpacesRead = Annotated[
    str | None,
    Field(
        max_length=limits.MAX_NAME_CHARS,
        description="Only this space (by name); default or '*': every space this credential reaches, each hit "
        "naming its space when there are several.",
    ),
]
TimeField = Annotated[
    Literal["recorded", "occurred"],
    Field(description="What since/until compare: when stored, or when it happened (observations' occurred_at)."),
]


class MetadataEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=limits.MAX_NAME_CHARS)
    value: str | int | float | bool | None


def _entries_of_object(value: Any) -> Any:
    """Metadata also arrives as a plain JSON object ({"k": "v"}), as it did
    before it was published as a list; either way it is a list here."""
    if isinstance(value, dict):
        return [{"key": key, "value": item} for key, item in value.items()]
    return value


# A list of entries rather than an open object: a schema with closed objects
# only is one that strict function calling (OpenAI's) accepts as it is.
Metadata = Annotated[
    list[MetadataEntry] | None,
    BeforeValidator(_entries_of_object),
    Field(description='Extra facts as [{"key": "...", "value": text, number, true/false or null}].'),
]


def metadata_object(entries: list[MetadataEntry] | None) -> dict[str, Any] | None:
    """The stored form: one JSON object, the last entry of a key winning."""
    return None if entries is None else {entry.key: entry.value for entry in entries}


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
        self,
        operation: Callable[..., dict[str, Any]],
        *,
        needs: str,
        returns: type[Answer],
        pass_credential: bool = False,
        spans: bool = False,
        **arguments: Any,
    ) -> Answer:
        try:
            result = run_operation(
                self.db,
                self.principal,
                self.embedder,
                operation,
                needs=needs,
                pass_credential=pass_credential,
                spans=spans,
                **arguments,
            )
        except MemoryGateError as exc:
            raise ToolError(exc.message) from None
        except OperationalError:
            log.exception("database error in %s", getattr(operation, "__name__", "tool"))
            raise ToolError(DATABASE_UNAVAILABLE) from None
        # The answer is checked against the output schema the tool publishes.
        return returns.model_validate(result)


def unit_of_work_dependency(
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


def principal_of_http_request() -> Principal | None:
    return from_scope(get_http_request().scope)


class CredentialRights(Middleware):
    """A caller sees and calls only what its credential's rights allow:
    tools/list leaves out the tools it may not call (memory/tool_rights.py),
    and resources and prompts need reading (remember: writing)."""

    def __init__(self, principal_source: Callable[[], Principal | None]) -> None:
        self.principal_source = principal_source

    def _held(self) -> frozenset[str]:
        principal = self.principal_source()
        return principal.scopes if principal is not None else frozenset()

    def _require(self, right: str | None, refusal: type[Exception] = ToolError) -> None:
        if right is not None and right not in self._held():
            raise refusal(INSUFFICIENT_SCOPE.format(scope=right))

    async def on_list_tools(self, context: MiddlewareContext, call_next: Callable) -> Any:
        held = self._held()
        return [tool for tool in await call_next(context) if TOOL_RIGHTS.get(tool.name) in held]

    async def on_call_tool(self, context: MiddlewareContext, call_next: Callable) -> Any:
        self._require(required_right(context.message.name, context.message.arguments))
        return await call_next(context)

    async def on_list_resources(self, context: MiddlewareContext, call_next: Callable) -> Any:
        return await call_next(context) if READ_SCOPE in self._held() else []

    async def on_list_resource_templates(self, context: MiddlewareContext, call_next: Callable) -> Any:
        return await call_next(context) if READ_SCOPE in self._held() else []

    async def on_read_resource(self, context: MiddlewareContext, call_next: Callable) -> Any:
        self._require(READ_SCOPE, ResourceError)
        return await call_next(context)

    async def on_list_prompts(self, context: MiddlewareContext, call_next: Callable) -> Any:
        held = self._held()
        return [prompt for prompt in await call_next(context) if PROMPT_RIGHTS.get(prompt.name) in held]

    async def on_get_prompt(self, context: MiddlewareContext, call_next: Callable) -> Any:
        self._require(PROMPT_RIGHTS.get(context.message.name, READ_SCOPE), PromptError)
        return await call_next(context)


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
    # Written as in code: list positions in brackets, object keys after a dot (turns[1].text).
    name = argument + "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in location[1:])
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
