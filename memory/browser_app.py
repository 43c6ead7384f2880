"""The memory browser as an MCP App (the MCP Apps extension,
io.modelcontextprotocol/ui): ``memory_browse`` lists memories, and hosts
that render apps show its answer in the page of ``BROWSER_URI``, where a
person searches, pages, edits (a new version), archives, brings back or
forgets what the agent remembers without leaving the conversation.

The page is one self-contained HTML document (hosts load nothing else into
an app's frame by default): ``app_assets/memories.html`` with its script and
the App class of ``@modelcontextprotocol/ext-apps`` 2.0.4 inlined (an ES
module, its closing ``export`` turned into a local object). It calls the
server's own tools through the host, so it can do exactly what the
connection's credential may, in the spaces it reaches.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from fastmcp import FastMCP
from fastmcp.apps.config import UI_MIME_TYPE, AppConfig
from pydantic import Field

from core.principal import READ_SCOPE
from memory import listing
from memory import tool_results as results
from memory.tool_calls import READ_ONLY, Archived, SpacesRead, UnitOfWork

BROWSER_URI = "ui://memorygate/memories.html"
ASSETS = Path(__file__).parent / "app_assets"
EXT_APPS = ASSETS / "vendor" / "ext-apps-2.0.4-app-with-deps.js"
_EXPORTS = re.compile(r"export\s*\{([^}]*)\}\s*;?\s*$")


def register(mcp: FastMCP, work: Any) -> None:
    @mcp.resource(
        BROWSER_URI,
        name="memory_browser",
        title="Your memory",
        description="MemoryGate's memory browser, shown by hosts that render MCP Apps (with memory_browse).",
        mime_type=UI_MIME_TYPE,
        app=AppConfig(prefers_border=True),
    )
    def memory_browser() -> str:
        return page()

    @mcp.tool(annotations=READ_ONLY, app=AppConfig(resource_uri=BROWSER_URI))
    def memory_browse(
        query: Annotated[
            str | None, Field(max_length=2_000, description="Words or a question: the best matches, one page.")
        ] = None,
        type: Annotated[
            Literal["observation", "pattern", "concept", "document", "turn"] | None,
            Field(description="Only memories of this type; default every type."),
        ] = None,
        archived: Archived = "exclude",
        page: Annotated[int, Field(ge=0, le=400, description="Which page of 25, from 0 (newest first).")] = 0,
        space: SpacesRead = None,
        run: UnitOfWork = work,
    ) -> results.Browsed:
        """List memories for the user to look through, newest first, 25 a page (or, with query, the best matches).

        Read-only: changes nothing, and looking is not counted as use. Hosts that render MCP Apps show the list in
        MemoryGate's memory browser, where the user can search, edit, archive or forget a memory themselves (each
        through this connection's own tools and rights). Use it when the user asks to see or correct what you
        remember. Each memory has ref, type, text (up to 2,000 characters) and when it was recorded; title, domain,
        space, archived and replaced where they apply.
        """
        return run(
            listing.page_for_app,
            returns=results.Browsed,
            needs=READ_SCOPE,
            spans=True,
            space=space,
            embedder=run.embedder,
            query=query,
            type=type,
            archived=archived,
            page=page,
        )


@functools.cache
def page() -> str:
    """The app's HTML: the page, its script and the App class, in one document."""
    html = (ASSETS / "memories.html").read_text(encoding="utf-8")
    script = (ASSETS / "memories.js").read_text(encoding="utf-8")
    return html.replace("/*EXT_APPS*/", _as_local(EXT_APPS.read_text(encoding="utf-8"))).replace("/*APP*/", script)


def _as_local(module: str) -> str:
    """The bundle with its closing ``export {a as App, ...}`` made
    ``const McpApps = {App: a, ...}``, so the page's own script, in the same
    inline module, can use it."""
    exported = _EXPORTS.search(module)
    if exported is None:
        raise RuntimeError(f"{EXT_APPS.name} no longer ends with one export statement")
    pairs = []
    for part in exported.group(1).split(","):
        local, _, public = part.strip().partition(" as ")
        pairs.append(f"{public or local}:{local}")
    return module[: exported.start()] + "const McpApps={" + ",".join(pairs) + "};"
