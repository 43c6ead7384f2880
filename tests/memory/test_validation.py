"""Bad input: an MCP tool error that names the field, and nothing written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from memory import item_types
from memory.validation import MAX_OBSERVATION_CHARS
from models import AIInstance, ConversationSession, Embedding
from tests.support import call, call_error, mcp_client, session_scope, user_with_key

pytestmark = pytest.mark.tools  # the tool tier: scripts/check runs it

BAD_CALLS = [
    ("memory_store", {"observation": ""}, "observation"),
    ("memory_store", {"observation": "   "}, "observation"),
    ("memory_store", {"observation": "x" * (MAX_OBSERVATION_CHARS + 1)}, "observation"),
    ("memory_store", {"observation": "nul \x00 byte"}, "observation"),
    ("memory_store", {"observation": "ok", "confidence": 1.5}, "confidence"),
    ("memory_store", {"observation": "ok", "confidence": -0.1}, "confidence"),
    ("memory_store", {"observation": "ok", "evidence": ["e"] * 101}, "evidence"),
    ("memory_recall", {"limit": 0}, "limit"),
    ("memory_recall", {"limit": 101}, "limit"),
    ("memory_search", {"query": "x", "limit": 101}, "limit"),
    ("memory_search", {"query": ""}, "query"),
    ("memory_search", {"query": "x", "source_types": ["memes"]}, "source_types"),
    ("memory_get", {"ref": "observation-12"}, "ref"),
    ("memory_get", {"ref": "secret:12"}, "ref"),
    ("memory_delete", {"ref": "observation:abc"}, "ref"),
    ("memory_store_concept", {"name": "", "concept_type": "idea"}, "name"),
    ("memory_store_concept", {"name": "New without a type"}, "concept_type"),
    ("memory_recall", {"limit": "many"}, "limit"),
    ("memory_recall", {"offset": 2**63}, "offset"),
    ("memory_patterns", {"offset": 10**30}, "offset"),
    ("memory_store", {"observation": "ok", "mood": "happy"}, "mood"),
    ("memory_store_concept", {"name": "n", "concept_type": "idea", "metadata": {"k": "v" * 20_000}}, "metadata"),
    (
        "memory_update_pattern",
        {"category": "c", "pattern_name": "p", "pattern_text": "t", "confidence": 3},
        "confidence",
    ),
    ("memory_store_document", {"title": "t", "doc_type": "d", "content_summary": ""}, "content_summary"),
    ("memory_init_session", {"conversation_id": ""}, "conversation_id"),
]


@pytest.mark.parametrize(("tool", "arguments", "field"), BAD_CALLS, ids=[f"{t}-{f}" for t, _, f in BAD_CALLS])
async def test_bad_input_names_the_field_and_writes_nothing(server, tool, arguments, field):
    owner, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        message = await call_error(client, tool, **arguments)
    assert field in message
    # One line an agent can act on: no validation report, no documentation links.
    assert "\n" not in message and "pydantic" not in message and "http" not in message, message
    assert _rows_owned_by(owner) == 0


async def test_argument_errors_state_the_rule_in_one_line(server):
    _, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        assert await call_error(client, "memory_store", observation="x", confidence=3) == (
            "confidence must be between 0.0 and 1.0"
        )
        both = await call_error(client, "memory_recall", limit=0, offset=-1)
        assert both == "limit must be between 1 and 100; offset must be between 0 and 1000000"
        assert await call_error(client, "memory_store", observation="x", colour="red") == (
            "colour is not an argument of this tool"
        )


async def test_unknown_ref_is_a_clear_not_found(server):
    owner, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        assert "No memory found for ref observation:987654321" in await call_error(
            client, "memory_get", ref="observation:987654321"
        )
        assert "No memory found" in await call_error(client, "memory_delete", ref="pattern:987654321")
        assert "No concept named 'nothing'" in await call_error(client, "memory_get_concept", name="nothing")
        stats = await call(client, "memory_stats")
    assert sum(stats["counts"].values()) == 0


def _rows_owned_by(owner) -> int:
    tables = [*item_types.ITEM_MODELS.values(), Embedding, AIInstance, ConversationSession]
    with session_scope() as session:
        return sum(
            session.execute(select(func.count()).where(table.owner_id == owner)).scalar_one() for table in tables
        )
