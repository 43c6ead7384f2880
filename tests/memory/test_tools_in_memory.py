"""The tools through FastMCP's in-memory client: no HTTP, no auth gate — the
caller is injected (tests.support.tool_client) — so the tool layer is tested
fast, against the real database and services."""

from __future__ import annotations

import pytest

from core.principal import READ_SCOPE
from memory.embeddings import NoEmbeddings
from tests.support import call, call_error, new_user, tool_client

pytestmark = pytest.mark.tools  # the tool tier: scripts/check runs it


async def test_tools_run_for_the_injected_caller_in_memory():
    async with tool_client(new_user("inmemory")[0], embedder=NoEmbeddings()) as client:
        schemas = {tool.name: tool.input_schema for tool in await client.list_tools()}
        # What is injected (the caller, the session, the embedder) is no argument.
        assert all("run" not in schema.get("properties", {}) for schema in schemas.values())
        stored = await call(client, "memory_store", observation="Tested without HTTP")
        assert stored["embedding"] == "disabled"
        found = await call(client, "memory_search", query="tested without http")
        assert [hit["ref"] for hit in found["results"]] == [stored["ref"]]


async def test_a_read_only_caller_is_refused_before_anything_is_written():
    async with tool_client(new_user("inmemory")[0], embedder=NoEmbeddings(), scopes=(READ_SCOPE,)) as client:
        refused = await call_error(client, "memory_store", observation="not allowed")
        assert "lacks memory:write" in refused
        assert (await call(client, "memory_stats"))["counts"]["observations"] == 0
