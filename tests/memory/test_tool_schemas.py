"""What the tools publish: a described output schema for every tool, input
schemas that strict function calling accepts, and one name for a memory's
text in every answer. (Every ``call`` in the suite also checks its answer
against the published output schema: ``tests.support.call``.)"""

from __future__ import annotations

import json

import pytest
from agents import Agent, RunContextWrapper
from agents.mcp import MCPServerStreamableHttp

from memory.embeddings import NoEmbeddings
from tests.support import call, mcp_client, new_user, tool_client, user_with_key

pytestmark = pytest.mark.tools  # the tool tier: scripts/check runs it


def _in_memory():
    return tool_client(new_user("schemas")[0], embedder=NoEmbeddings())


def _closed_objects(schema: object, where: str = "") -> list[str]:
    """Paths of objects in a schema that do not close their properties."""
    problems = []
    if isinstance(schema, dict):
        if (
            schema.get("type") == "object"
            and schema.get("properties")
            and schema.get("additionalProperties") is not False
        ):
            problems.append(where or "/")
        for key, value in schema.items():
            problems += _closed_objects(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            problems += _closed_objects(value, f"{where}/{index}")
    return problems


async def test_every_tool_of_a_real_server_publishes_a_described_output_schema(server):
    _, key = user_with_key("schemas")
    async with mcp_client(server.url, key) as client:
        tools = await client.list_tools()
    assert len(tools) == 28
    for tool in tools:
        schema = tool.output_schema
        assert schema is not None, tool.name
        assert schema["type"] == "object" and schema["properties"], tool.name
        assert schema.get("description"), f"{tool.name}: the answer is not described"
        assert schema.get("additionalProperties") is False, tool.name
        assert not _closed_objects(schema), (tool.name, _closed_objects(schema))
        assert '"null"' not in json.dumps(schema), tool.name  # a missing value is left out, never sent as null


async def test_openai_agents_converts_every_tool_to_a_strict_schema(server):
    """openai-agents falls back to a non-strict schema (logging why) for any
    tool it cannot convert; every MemoryGate tool converts."""
    _, key = user_with_key("strict")
    connection = MCPServerStreamableHttp(
        {"url": server.url + "/mcp", "headers": {"Authorization": f"Bearer {key}"}}, name="memorygate"
    )
    async with connection:
        agent = Agent(name="strict", mcp_servers=[connection], mcp_config={"convert_schemas_to_strict": True})
        tools = await agent.get_mcp_tools(RunContextWrapper(context=None))
    assert len(tools) == 28
    assert [tool.name for tool in tools if not tool.strict_json_schema] == []


async def test_a_memory_text_is_called_text_in_every_answer():
    async with _in_memory() as client:
        observation = await call(client, "memory_store", observation="Sails a blue dinghy on weekends")
        pattern = await call(
            client, "memory_update_pattern", category="habits", pattern_name="sailing", pattern_text="Sails weekly"
        )
        described = await call(
            client, "memory_store_concept", name="Dinghy", concept_type="boat", description="A small sailing boat"
        )
        bare = await call(client, "memory_store_concept", name="Regatta", concept_type="event")
        document = await call(
            client, "memory_store_document", title="Sailing guide", doc_type="book", content_summary="How to sail"
        )
        texts = {
            observation["ref"]: "Sails a blue dinghy on weekends",
            pattern["ref"]: "Sails weekly",
            described["ref"]: "A small sailing boat",
            document["ref"]: "How to sail",
        }
        for ref, text in texts.items():
            assert (await call(client, "memory_get", ref=ref))["text"] == text
        assert "text" not in await call(client, "memory_get", ref=bare["ref"])  # no description: no text

        hits = {}
        for query in ("sail", "regatta", "dinghy"):
            hits |= {hit["ref"]: hit for hit in (await call(client, "memory_search", query=query, limit=10))["results"]}
        assert {ref: hits[ref]["text"] for ref in texts} == texts
        # A concept with no description is found by its name, as its text (and not twice, as its title too).
        assert hits[bare["ref"]]["text"] == "Regatta" and "title" not in hits[bare["ref"]]
        assert hits[described["ref"]]["title"] == "Dinghy"

        recalled = await call(client, "memory_recall")
        assert [row["text"] for row in recalled["observations"]] == ["Sails a blue dinghy on weekends"]
        patterns = await call(client, "memory_patterns")
        assert [row["text"] for row in patterns["patterns"]] == ["Sails weekly"]
        assert (await call(client, "memory_get_concept", name="dinghy"))["text"] == "A small sailing boat"


async def test_answers_leave_out_what_a_memory_does_not_have():
    async with _in_memory() as client:
        stored = await call(client, "memory_store", observation="Has no domain and no evidence date")
        shown = await call(client, "memory_get", ref=stored["ref"])
        assert None not in shown.values()
        assert "domain" not in shown and "occurred_at" not in shown and "superseded_by" not in shown
        # Fields of other memory types never appear on an observation.
        assert not {"category", "pattern_name", "concept_type", "doc_type", "aliases"} & shown.keys()


async def test_metadata_is_a_list_of_entries_and_a_plain_object_still_works():
    async with _in_memory() as client:
        await call(
            client,
            "memory_store_concept",
            name="Harbour",
            concept_type="place",
            metadata=[{"key": "country", "value": "PT"}, {"key": "berths", "value": 40}],
        )
        assert (await call(client, "memory_get_concept", name="Harbour"))["metadata"] == {"country": "PT", "berths": 40}
        await call(client, "memory_store_concept", name="Harbour", metadata={"country": "ES", "open": True})
        assert (await call(client, "memory_get_concept", name="Harbour"))["metadata"] == {"country": "ES", "open": True}
        await call(client, "memory_store_concept", name="Harbour", metadata=[])
        assert (await call(client, "memory_get_concept", name="Harbour"))["metadata"] == {}
        refused = await client.call_tool(
            "memory_store_document",
            {"title": "T", "doc_type": "note", "content_summary": "S", "metadata": [{"key": "", "value": 1}]},
            raise_on_error=False,
        )
        assert refused.is_error and refused.content[0].text.startswith("metadata[0].key")


async def test_search_and_fetch_answer_in_the_shape_chatgpt_expects(local_embedder):
    """OpenAI's MCP documentation: search(query) answers one text content item holding
    {"results": [{"id", "title", "url"}]}; fetch(id) one holding {"id", "title", "text", "url", "metadata"}."""
    async with tool_client(new_user("research")[0], embedder=local_embedder) as client:
        stored = await call(client, "memory_store", observation="Keeps bees on the roof of the studio")
        document = await call(
            client,
            "memory_store_document",
            title="Beekeeping basics",
            doc_type="book",
            content_summary="How to keep bees in a city",
            url="https://example.org/bees",
        )
        listed = {tool.name: tool for tool in await client.list_tools()}
        for name, argument in (("search", "query"), ("fetch", "id")):
            assert listed[name].input_schema["required"] == [argument]
            assert set(listed[name].input_schema["properties"]) == {argument}
            assert listed[name].annotations.read_only_hint is True

        found = await client.call_tool_mcp("search", {"query": "bees"})
        assert len(found.content) == 1 and found.content[0].type == "text"
        results = json.loads(found.content[0].text)["results"]
        assert {result["id"] for result in results} == {stored["ref"], document["ref"]}
        assert all(set(result) == {"id", "title", "url"} for result in results)
        by_id = {result["id"]: result for result in results}
        assert by_id[document["ref"]]["url"] == "https://example.org/bees"
        assert by_id[stored["ref"]]["url"] == "memorygate://memory/observation/" + stored["ref"].split(":")[1]

        fetched = await client.call_tool_mcp("fetch", {"id": stored["ref"]})
        assert len(fetched.content) == 1 and fetched.content[0].type == "text"
        record = json.loads(fetched.content[0].text)
        assert set(record) == {"id", "title", "text", "url", "metadata"}
        assert record["id"] == stored["ref"] and record["text"] == "Keeps bees on the roof of the studio"
        assert record["metadata"]["type"] == "observation"
        refused = await client.call_tool_mcp("fetch", {"id": "observation:999999999"})
        assert refused.is_error and "No memory found" in refused.content[0].text
