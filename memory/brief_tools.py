"""The brief offered every way a host can take it: a tool (memory_brief),
MCP resources (the brief, a brief per topic, one memory by ref, a concept by
name), prompts a person picks from a client's menu (brief, remember), and
completions of concept names for their arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import anyio.to_thread
import mcp_types
from fastmcp import FastMCP
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.principal import READ_SCOPE, Principal
from memory import brief, items, knowledge, space_access
from memory import tool_results as results
from memory.tool_calls import READ_ONLY, SpacesRead, UnitOfWork
from models import Concept

Topic = Annotated[
    str | None, Field(max_length=2_000, description="What the conversation is about; adds the memories most relevant.")
]
MaxTokens = Annotated[
    int,
    Field(
        ge=brief.MIN_TOKENS,
        le=brief.MAX_TOKENS,
        description=f"Budget for the text; never exceeded (whole lines are cut). Default {brief.DEFAULT_MAX_TOKENS}.",
    ),
]
MAX_COMPLETIONS = 20


def register(
    mcp: FastMCP,
    work: Any,
    *,
    session_factory: Callable[[], Session],
    principal_source: Callable[[], Principal | None],
) -> None:
    def the_brief(run: UnitOfWork, topic: str | None, **options: Any) -> results.Brief:
        return run(
            brief.brief,
            returns=results.Brief,
            needs=READ_SCOPE,
            pass_credential=True,
            spans=True,
            embedder=run.embedder,
            topic=topic,
            **options,
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_brief(
        topic: Topic = None,
        max_tokens: MaxTokens = brief.DEFAULT_MAX_TOKENS,
        since: Annotated[
            str | None, Field(description="Count changes from this date or date-time (ISO 8601) instead.")
        ] = None,
        conversation_id: Annotated[
            str | None, Field(max_length=500, description="This conversation's id, so it is not taken as the last.")
        ] = None,
        space: SpacesRead = None,
        run: UnitOfWork = work,
    ) -> results.Brief:
        """Call at the start of a conversation: what to know about the person right now, within max_tokens.

        Read-only; changes nothing (not even read counts). Three sections, one memory a line with its ref and date,
        no memory twice: about the person (their strongest patterns and facts), what changed since this client's
        last conversation (recorded, replaced, archived), and with a topic the memories most relevant to it.
        The answer says what each section left out and which tool lists the rest.
        """
        return the_brief(run, topic, max_tokens=max_tokens, since=since, conversation_id=conversation_id, space=space)

    @mcp.resource("memorygate://brief", name="brief", mime_type="text/markdown")
    def brief_resource(run: UnitOfWork = work) -> str:
        """The brief: who the person is and what changed since this client's last conversation."""
        return the_brief(run, None).text

    @mcp.resource("memorygate://brief/{topic}", name="brief on a topic", mime_type="text/markdown")
    def topic_brief_resource(topic: str, run: UnitOfWork = work) -> str:
        """The brief, with the memories most relevant to a topic."""
        return the_brief(run, topic).text

    @mcp.resource("memorygate://memory/{kind}/{item_id}", name="memory", mime_type="application/json")
    def memory_resource(kind: str, item_id: str, run: UnitOfWork = work) -> str:
        """One memory in full, e.g. memorygate://memory/observation/42."""
        found = run(items.get_item, returns=results.AnyMemory, needs=READ_SCOPE, ref=f"{kind}:{item_id}")
        return found.model_dump_json()

    @mcp.resource("memorygate://concept/{name}", name="concept", mime_type="application/json")
    def concept_resource(name: str, run: UnitOfWork = work) -> str:
        """A concept by name or alias, with its aliases and relationships."""
        return run(knowledge.get_concept, returns=results.ConceptRecord, needs=READ_SCOPE, name=name).model_dump_json()

    @mcp.prompt(name="brief")
    def brief_prompt(topic: Topic = None, run: UnitOfWork = work) -> str:
        """Load what MemoryGate knows about you (and about a topic) into this conversation."""
        text = the_brief(run, topic).text or "MemoryGate holds no memories yet."
        return (
            "Here is what MemoryGate, my persistent memory, knows that matters now. Use it; refs such as "
            f"observation:42 can be read whole with memory_get.\n\n{text}"
        )

    @mcp.prompt(name="remember")
    def remember_prompt(
        fact: Annotated[str, Field(min_length=1, max_length=2_000, description="What to remember.")],
    ) -> str:
        """Ask the assistant to store something in MemoryGate."""
        return (
            f"Please remember this in MemoryGate with memory_store, as a short standalone fact: {fact}\n"
            "If it replaces something stored before, find that with memory_search and pass its ref as supersedes."
        )

    def concept_names(prefix: str) -> list[str]:
        principal = principal_source()
        if principal is None or not principal.can(READ_SCOPE):
            return []
        with session_factory() as db:
            reached = [space.id for space in space_access.reachable(db, principal)]
            return list(
                db.scalars(
                    select(Concept.name)
                    .where(Concept.owner_id.in_(reached), Concept.name.ilike(_like_prefix(prefix)))
                    .order_by(Concept.name)
                    .limit(MAX_COMPLETIONS)
                )
            )

    @mcp.completion
    async def complete(
        reference: Any, argument: mcp_types.CompletionArgument, context: mcp_types.CompletionContext | None
    ) -> list[str]:
        """Concept names for a concept resource's name and a brief's topic."""
        if argument.name not in ("name", "topic"):
            return []
        return await anyio.to_thread.run_sync(concept_names, argument.value)


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped[:200] + "%"
