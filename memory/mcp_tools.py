"""The MemoryGate MCP server: thin tools over the service layer.

``build_mcp_server(session_factory=..., embedder=...)`` returns a FastMCP
app with every tool: the memory tools (``memory_tools``), the knowledge
tools (``knowledge_tools``), the conversation tools (``conversation_tools``),
the brief and the research tools, and the memory browser app
(``browser_app``), each run as one unit of work (``tool_calls``).
"""

from __future__ import annotations

from collections.abc import Callable

from fastmcp import FastMCP
from sqlalchemy.orm import Session

from core.principal import Principal
from core.settings import VERSION
from memory import brief_tools, browser_app, conversation_tools, knowledge_tools, memory_tools, research_tools
from memory.embeddings import EmbeddingProvider
from memory.tool_calls import (
    CredentialRights,
    OneLineArgumentErrors,
    principal_of_http_request,
    unit_of_work_dependency,
)

SERVER_INSTRUCTIONS = (
    "MemoryGate is the user's persistent memory across conversations and AI models. "
    "At the start of a conversation call memory_brief (what to know now, sized to a budget; pass the topic when "
    "there is one), then memory_init_session. Search (memory_search) before asking "
    "the user to repeat something; store durable facts with memory_store. Read memory_user_guide for details."
)


def build_mcp_server(
    *,
    session_factory: Callable[[], Session],
    embedder: EmbeddingProvider,
    principal_source: Callable[[], Principal | None] | None = None,
) -> FastMCP:
    principal_source = principal_source or principal_of_http_request
    mcp = FastMCP(
        "MemoryGate",
        version=VERSION,
        instructions=SERVER_INSTRUCTIONS,
        mask_error_details=True,
        middleware=[CredentialRights(principal_source), OneLineArgumentErrors()],
    )
    work = unit_of_work_dependency(session_factory, embedder, principal_source)
    memory_tools.register(mcp, work)
    knowledge_tools.register(mcp, work)
    conversation_tools.register(mcp, work)
    brief_tools.register(mcp, work, session_factory=session_factory, principal_source=principal_source)
    research_tools.register(mcp, work)
    browser_app.register(mcp, work)
    return mcp
