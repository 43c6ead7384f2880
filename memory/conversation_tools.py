"""The tools over conversations kept as memory: append turns as they are
said, read a conversation in order, and forget one whole."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from core.principal import FORGET_SCOPE, READ_SCOPE, WRITE_SCOPE
from memory import tool_results as results
from memory import turns as conversation_turns
from memory.tool_calls import ADDITIVE, DESTRUCTIVE, READ_ONLY, Limit, Offset, OptionalName, SpaceName, UnitOfWork

ConversationId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=conversation_turns.MAX_CONVERSATION_ID_CHARS,
        description="The conversation's id, as the client names it (any string, e.g. a session id).",
    ),
]


def register(mcp: FastMCP, work: Any) -> None:
    @mcp.tool(annotations=ADDITIVE)
    def memory_append_turns(
        conversation_id: ConversationId,
        turns: Annotated[
            list[conversation_turns.TurnInput],
            Field(
                min_length=1,
                max_length=conversation_turns.MAX_TURNS_PER_APPEND,
                description="The new turns, in the order they were said.",
            ),
        ],
        title: Annotated[str | None, Field(description="The conversation's title, if it has one.")] = None,
        ai_name: OptionalName = None,
        ai_platform: OptionalName = None,
        space: SpaceName = None,
        run: UnitOfWork = work,
    ) -> results.Appended:
        """Keep a conversation's new turns as memory, searchable by meaning and words (type 'turn').

        Adds the turns after the ones the conversation has (it is created on first use), all or none. A turn
        whose id the conversation already holds is skipped (already_stored), so sending a transcript again
        adds nothing; <private>…</private> text is never stored. Refused when the person turned conversation
        capture off. memory_get on a turn's ref shows the turns around it.
        """
        return run(
            conversation_turns.append,
            returns=results.Appended,
            needs=WRITE_SCOPE,
            space=space,
            pass_credential=True,
            conversation_id=conversation_id,
            turns=[turn.model_dump(exclude_none=True) for turn in turns],
            title=title,
            ai_name=ai_name,
            ai_platform=ai_platform,
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_conversation(
        conversation_id: ConversationId,
        offset: Offset = 0,
        limit: Limit = 50,
        space: SpaceName = None,
        run: UnitOfWork = work,
    ) -> results.ConversationTurns:
        """Read a kept conversation's turns in the order they were said, a page at a time. Read-only."""
        return run(
            conversation_turns.read,
            returns=results.ConversationTurns,
            needs=READ_SCOPE,
            space=space,
            conversation_id=conversation_id,
            offset=offset,
            limit=limit,
        )

    @mcp.tool(annotations=DESTRUCTIVE)
    def memory_forget_conversation(
        conversation_id: ConversationId, space: SpaceName = None, run: UnitOfWork = work
    ) -> results.ConversationForgotten:
        """Forget a conversation permanently: every turn kept from it and their search vectors; it cannot be
        restored. Observations stored during it stay. Use when the person asks to forget a conversation."""
        return run(
            conversation_turns.forget,
            returns=results.ConversationForgotten,
            needs=FORGET_SCOPE,
            space=space,
            conversation_id=conversation_id,
        )
