"""The right each MCP tool needs, in one table: tools/list shows a caller
only the tools its credential may call, the auth gate answers a call beyond
an OAuth token's rights with HTTP 403 ``insufficient_scope`` (so the client
can ask the person for more), and each tool checks again when it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.principal import FORGET_SCOPE, READ_SCOPE, WRITE_SCOPE

TOOL_RIGHTS: dict[str, str] = {
    # Reading.
    "memory_search": READ_SCOPE,
    "memory_recall": READ_SCOPE,
    "memory_get": READ_SCOPE,
    "memory_archive_candidates": READ_SCOPE,
    "memory_stats": READ_SCOPE,
    "memory_bootstrap": READ_SCOPE,  # and write with ai_name (it registers the AI): required_right
    "memory_user_guide": READ_SCOPE,
    "memory_get_concept": READ_SCOPE,
    "memory_related_concepts": READ_SCOPE,
    "memory_get_pattern": READ_SCOPE,
    "memory_patterns": READ_SCOPE,
    "memory_conversation": READ_SCOPE,
    "memory_brief": READ_SCOPE,
    "memory_browse": READ_SCOPE,
    "search": READ_SCOPE,
    "fetch": READ_SCOPE,
    # Writing: adding, changing, archiving (nothing is lost).
    "memory_store": WRITE_SCOPE,
    "memory_archive": WRITE_SCOPE,
    "memory_rehydrate": WRITE_SCOPE,
    "memory_init_session": WRITE_SCOPE,
    "memory_store_document": WRITE_SCOPE,
    "memory_store_concept": WRITE_SCOPE,
    "memory_add_concept_alias": WRITE_SCOPE,
    "memory_add_concept_relationship": WRITE_SCOPE,
    "memory_update_pattern": WRITE_SCOPE,
    "memory_append_turns": WRITE_SCOPE,
    # Forgetting: gone for good.
    "memory_delete": FORGET_SCOPE,
    "memory_forget_conversation": FORGET_SCOPE,
}


# Prompts ask the assistant to use tools: "remember" has it store.
PROMPT_RIGHTS: dict[str, str] = {"brief": READ_SCOPE, "remember": WRITE_SCOPE}


def required_right(tool: str, arguments: Mapping[str, Any] | None = None) -> str | None:
    """The right a call of ``tool`` with ``arguments`` needs; None for a tool
    this table does not know (FastMCP answers it as unknown)."""
    if tool == "memory_bootstrap" and arguments and arguments.get("ai_name"):
        return WRITE_SCOPE
    return TOOL_RIGHTS.get(tool)


def right_for_message(message: Any) -> str | None:
    """The right a JSON-RPC request to the MCP server needs before it runs
    (tools/call, resources/read, prompts/get); None for the rest, which
    any caller may send (initialize, the lists, which are filtered)."""
    if not isinstance(message, dict):
        return None
    method, params = message.get("method"), message.get("params")
    params = params if isinstance(params, dict) else {}
    name = params.get("name")
    if method == "tools/call" and isinstance(name, str):
        arguments = params.get("arguments")
        return required_right(name, arguments if isinstance(arguments, dict) else None)
    if method == "resources/read":
        return READ_SCOPE
    if method == "prompts/get" and isinstance(name, str):
        return PROMPT_RIGHTS.get(name, READ_SCOPE)
    return None
