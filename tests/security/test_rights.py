"""Credentials that can do only what they need: every tool, resource, prompt
and /api route tried with keys holding each right alone, over HTTP as
clients call them. A credential sees exactly the tools its rights allow and
is refused the rest, naming the right it lacks; nothing it was refused
changed anything."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mcp.types import TextContent

from core.principal import FORGET_SCOPE, MANAGE_SCOPE, READ_SCOPE, WRITE_SCOPE
from memory.tool_rights import TOOL_RIGHTS
from tests.support import call, mcp_client, new_key, user_with_key

CREDENTIALS: dict[str, tuple[str, ...]] = {
    "read": (READ_SCOPE,),
    "write": (WRITE_SCOPE,),
    "forget": (FORGET_SCOPE,),
    "manage": (MANAGE_SCOPE,),
    "read and write": (READ_SCOPE, WRITE_SCOPE),
}


def arguments(tool: str, ref: str) -> dict[str, Any]:
    """Arguments each tool accepts, about the account's own memories."""
    by_tool: dict[str, dict[str, Any]] = {
        "memory_store": {"observation": "Stored by a rights check"},
        "memory_recall": {},
        "memory_search": {"query": "rights"},
        "memory_get": {"ref": ref},
        "memory_archive": {"refs": [ref]},
        "memory_rehydrate": {"refs": [ref]},
        "memory_archive_candidates": {},
        "memory_delete": {"ref": ref},
        "memory_stats": {},
        "memory_init_session": {"conversation_id": "rights-check"},
        "memory_bootstrap": {},
        "memory_user_guide": {},
        "memory_store_document": {"title": "Doc", "doc_type": "note", "content_summary": "A note"},
        "memory_store_concept": {"name": "Ann"},
        "memory_get_concept": {"name": "Ann"},
        "memory_add_concept_alias": {"concept_name": "Ann", "alias": "Annie"},
        "memory_add_concept_relationship": {"from_concept": "Ann", "to_concept": "Porto", "rel_type": "lives_in"},
        "memory_related_concepts": {"concept_name": "Ann"},
        "memory_update_pattern": {"category": "work", "pattern_name": "mornings", "pattern_text": "Codes early"},
        "memory_get_pattern": {"category": "work", "pattern_name": "mornings"},
        "memory_patterns": {},
        "memory_append_turns": {"conversation_id": "kept", "turns": [{"speaker": "user", "text": "hello"}]},
        "memory_conversation": {"conversation_id": "kept"},
        "memory_forget_conversation": {"conversation_id": "kept"},
        "memory_brief": {},
        "memory_browse": {},
        "search": {"query": "rights"},
        "fetch": {"id": ref},
    }
    return by_tool[tool]


def refusal(result: Any) -> str | None:
    """The right a tool error says the credential lacks, if it was refused for one."""
    if not result.is_error:
        return None
    text = result.content[0].text if isinstance(result.content[0], TextContent) else ""
    return text.split("lacks ", 1)[1].split(",")[0] if text.startswith("Insufficient scope") else None


async def test_each_right_alone_sees_and_calls_exactly_its_tools(server):
    owner, full = user_with_key("rights")
    async with mcp_client(server.url, full) as client:
        ref = (await call(client, "memory_store", observation="A memory the rights check works on"))["ref"]
    for label, scopes in CREDENTIALS.items():
        async with mcp_client(server.url, new_key(owner, scopes=scopes)) as client:
            allowed = {tool for tool, right in TOOL_RIGHTS.items() if right in scopes}
            assert {tool.name for tool in await client.list_tools()} == allowed, label
            for tool, right in TOOL_RIGHTS.items():
                result = await client.call_tool(tool, arguments(tool, ref), raise_on_error=False)
                assert refusal(result) == (None if right in scopes else right), (label, tool, result.content)


async def test_registering_an_ai_with_bootstrap_needs_write(server):
    owner, _ = user_with_key("rights-bootstrap")
    async with mcp_client(server.url, new_key(owner, scopes=(READ_SCOPE,))) as client:
        assert "ai_instance" not in await call(client, "memory_bootstrap")  # reads, registers nothing
        result = await client.call_tool("memory_bootstrap", {"ai_name": "Claude"}, raise_on_error=False)
        assert refusal(result) == WRITE_SCOPE


async def test_resources_need_read_and_each_prompt_the_right_it_asks_the_assistant_to_use(server):
    owner, _ = user_with_key("rights-resources")
    async with mcp_client(server.url, new_key(owner, scopes=(WRITE_SCOPE,))) as writer:
        assert await writer.list_resources() == [] and await writer.list_resource_templates() == []
        assert [prompt.name for prompt in await writer.list_prompts()] == ["remember"]
        with pytest.raises(Exception, match="lacks memory:read"):
            await writer.read_resource("memorygate://brief")
        with pytest.raises(Exception, match="lacks memory:read"):
            await writer.get_prompt("brief")
    async with mcp_client(server.url, new_key(owner, scopes=(READ_SCOPE,))) as reader:
        assert [prompt.name for prompt in await reader.list_prompts()] == ["brief"]
        assert "memorygate://brief" in {str(resource.uri) for resource in await reader.list_resources()}


def test_each_api_route_needs_its_right(server):
    owner, full = user_with_key("rights-api")
    api = server.url + "/api/v1"
    stored = httpx.post(api + "/memories", json={"observation": "For the routes"}, headers=_bearer(full)).json()
    routes = [
        ("GET", "/brief", None, READ_SCOPE),
        ("GET", "/search?query=routes", None, READ_SCOPE),
        ("GET", f"/memories/{stored['ref']}", None, READ_SCOPE),
        ("POST", "/memories", {"observation": "More"}, WRITE_SCOPE),
        ("POST", "/conversations/c/turns", {"turns": [{"speaker": "user", "text": "hi"}]}, WRITE_SCOPE),
        ("GET", "/conversations/c/turns", None, READ_SCOPE),
        ("DELETE", "/conversations/c", None, FORGET_SCOPE),
        ("DELETE", f"/memories/{stored['ref']}", None, FORGET_SCOPE),
    ]
    for label, scopes in CREDENTIALS.items():
        key = new_key(owner, scopes=scopes)
        for method, path, body, right in routes:
            if right in scopes:
                continue  # allowed: its behaviour is tested in tests/web/test_api.py
            answer = httpx.request(method, api + path, json=body, headers=_bearer(key))
            assert answer.status_code == 403, (label, method, path, answer.text)
            assert f"lacks {right}" in answer.json()["detail"]
    kept = httpx.get(f"{api}/memories/{stored['ref']}", headers=_bearer(full))
    assert kept.status_code == 200  # nothing refused was done


def test_only_a_key_that_may_manage_reaches_the_accounts_keys(server):
    owner, _ = user_with_key("rights-manage")
    for label, scopes in CREDENTIALS.items():
        key = new_key(owner, scopes=scopes)
        listed = httpx.get(server.url + "/auth/api-keys", headers=_bearer(key))
        assert listed.status_code == (200 if MANAGE_SCOPE in scopes else 403), label
    manager = new_key(owner, scopes=(READ_SCOPE, MANAGE_SCOPE))
    made = httpx.post(server.url + "/auth/api-keys", json={"name": "minted"}, headers=_bearer(manager))
    assert made.status_code == 201 and made.json()["scopes"] == [READ_SCOPE]  # its own memory rights, no more
    wider = httpx.post(
        server.url + "/auth/api-keys", json={"name": "wider", "scopes": [WRITE_SCOPE]}, headers=_bearer(manager)
    )
    assert wider.status_code == 403


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
