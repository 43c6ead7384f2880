"""The tools through FastMCP's in-memory client: no HTTP, no auth gate — the
caller is injected — so the tool layer is tested fast, against the real
database and services."""

from __future__ import annotations

from fastmcp import Client

from core.principal import ALL_SCOPES, READ_SCOPE, Principal
from memory.embeddings import NoEmbeddings
from memory.mcp_tools import build_mcp_server
from tests.support import TEST_DATABASE, call, call_error, new_user


def _server_for(principal: Principal):
    return build_mcp_server(
        session_factory=TEST_DATABASE.sessions, embedder=NoEmbeddings(), principal_source=lambda: principal
    )


def _principal(scopes=ALL_SCOPES) -> Principal:
    owner, email = new_user("inmemory")
    return Principal(user_id=owner, email=email, scopes=frozenset(scopes), credential_type="api_key")


async def test_tools_run_for_the_injected_caller_in_memory():
    async with Client(_server_for(_principal())) as client:
        schemas = {tool.name: tool.input_schema for tool in await client.list_tools()}
        # What is injected (the caller, the session, the embedder) is no argument.
        assert all("run" not in schema.get("properties", {}) for schema in schemas.values())
        stored = await call(client, "memory_store", observation="Tested without HTTP")
        assert stored["embedding"] == "disabled"
        found = await call(client, "memory_search", query="tested without http")
        assert [hit["ref"] for hit in found["results"]] == [stored["ref"]]


async def test_a_read_only_caller_is_refused_before_anything_is_written():
    async with Client(_server_for(_principal((READ_SCOPE,)))) as client:
        refused = await call_error(client, "memory_store", observation="not allowed")
        assert "lacks memory:write" in refused
        assert (await call(client, "memory_stats"))["counts"]["observations"] == 0
