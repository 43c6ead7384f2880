"""``search`` and ``fetch``: the two read-only tools ChatGPT's deep research
and connectors call, each with one string argument and the answer shape
OpenAI documents (search: ``{"results": [{"id", "title", "url"}]}``; fetch:
``{"id", "title", "text", "url", "metadata"}``), over the same hybrid search
and the same read of one memory as memory_search and memory_get."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.principal import READ_SCOPE
from memory import access, hybrid_search, item_types, items, spaces
from memory import tool_results as results
from memory.embeddings import EmbeddingProvider
from memory.tool_calls import READ_ONLY, UnitOfWork
from models import Document

RESULTS = 10
TITLE_CHARS = 80


def register(mcp: FastMCP, work: Any) -> None:
    @mcp.tool(annotations=READ_ONLY)
    def search(
        query: Annotated[str, Field(description="What to look for in the person's memories, in natural language.")],
        run: UnitOfWork = work,
    ) -> results.ResearchResults:
        """Search the person's memories by meaning and keywords; read-only. Returns up to 10 results, best first,
        each with an id to pass to fetch. (For ChatGPT deep research and connectors; memory_search has filters.)"""
        return run(
            research_search,
            returns=results.ResearchResults,
            needs=READ_SCOPE,
            spans=True,
            embedder=run.embedder,
            query=query,
        )

    @mcp.tool(annotations=READ_ONLY)
    def fetch(
        id: Annotated[str, Field(description="An id from search, e.g. 'observation:42'.")],
        run: UnitOfWork = work,
    ) -> results.ResearchDocument:
        """Read one memory in full by the id search gave; read-only. (For ChatGPT deep research and connectors;
        memory_get answers the same with every field.)"""
        return run(research_fetch, returns=results.ResearchDocument, needs=READ_SCOPE, ref=id)


def research_search(
    db: Session, *, owner_id: spaces.Owners, embedder: EmbeddingProvider, query: str, viewer: uuid.UUID | None = None
) -> dict[str, Any]:
    found = hybrid_search.search(db, owner_id=owner_id, embedder=embedder, query=query, limit=RESULTS, viewer=viewer)
    hits = found["results"]
    documents = [int(hit["ref"].split(":")[1]) for hit in hits if hit["type"] == "document"]
    urls = {
        item_types.ref("document", document_id): url
        for document_id, url in db.execute(
            select(Document.id, Document.url).where(
                Document.owner_id.in_(spaces.owners(owner_id)), Document.id.in_(documents)
            )
        )
        if url
    }
    return {
        "results": [
            {
                "id": hit["ref"],
                "title": hit.get("title") or _title(hit["text"]),
                "url": urls.get(hit["ref"]) or _resource(hit["ref"]),
            }
            for hit in hits
        ]
    }


def research_fetch(db: Session, *, owner_id: uuid.UUID, ref: str) -> dict[str, Any]:
    item = items.load_item(db, owner_id=owner_id, ref=ref, field="id")
    kind = item_types.kind_of(item)
    access.mark_accessed(db, owner_id=owner_id, hits=[(kind, item.id)])
    whole = item_types.full(item)
    text = item_types.content(item)
    shown = {
        name: value
        for name, value in whole.items()
        if name not in ("text", "ref", "id", "title", "url", "type", "metadata") and value not in (None, [], {})
    }
    return {
        "id": whole["ref"],
        "title": item_types.title(item) or _title(text),
        "text": text,
        "url": whole.get("url") or _resource(whole["ref"]),
        "metadata": {"type": kind, **(whole.get("metadata") or {}), **shown},
    }


def _title(text: str) -> str:
    return item_types.shortened(" ".join(text.split()), TITLE_CHARS)


def _resource(ref: str) -> str:
    kind, item_id = ref.split(":", 1)
    return f"memorygate://memory/{kind}/{item_id}"
