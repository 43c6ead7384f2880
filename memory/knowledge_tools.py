"""The tools over knowledge: documents, concepts (aliases, relationships)
and patterns."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from core.principal import READ_SCOPE, WRITE_SCOPE
from memory import knowledge
from memory import tool_results as results
from memory import validation as limits
from memory.tool_calls import (
    ADDITIVE,
    READ_ONLY,
    UPSERT,
    Confidence,
    Limit,
    Metadata,
    MinConfidence,
    Name,
    Offset,
    SpaceName,
    UnitOfWork,
    metadata_object,
)


def register(mcp: FastMCP, work: Any) -> None:
    @mcp.tool(annotations=ADDITIVE)
    def memory_store_document(
        title: Annotated[str, Field(min_length=1, max_length=limits.MAX_TITLE_CHARS)],
        doc_type: Annotated[str, Field(description="e.g. article, paper, spec, book, repository.")],
        content_summary: Annotated[str, Field(description="Your summary of what matters in it.")],
        url: str | None = None,
        key_concepts: list[str] | None = None,
        publication_date: Annotated[str | None, Field(description="YYYY-MM-DD")] = None,
        metadata: Metadata = None,
        space: SpaceName = None,
        run: UnitOfWork = work,
    ) -> results.DocumentStored:
        """Remember a document by reference: title, type, URL, your summary and its key concepts."""
        return run(
            knowledge.store_document,
            returns=results.DocumentStored,
            needs=WRITE_SCOPE,
            space=space,
            title=title,
            doc_type=doc_type,
            content_summary=content_summary,
            url=url,
            key_concepts=key_concepts,
            publication_date=publication_date,
            metadata=metadata_object(metadata),
        )

    @mcp.tool(annotations=UPSERT)
    def memory_store_concept(
        name: Name,
        concept_type: Annotated[
            str | None,
            Field(description="e.g. project, tool, person, idea, organisation. Required when creating."),
        ] = None,
        description: str | None = None,
        domain: str | None = None,
        status: Annotated[str | None, Field(description="e.g. active, archived.")] = None,
        metadata: Metadata = None,
        space: SpaceName = None,
        run: UnitOfWork = work,
    ) -> results.Upserted:
        """Create a named concept, or update the existing one with this name (names are case-insensitive).

        On an existing concept only the fields you pass change; omitted fields keep their value. To clear
        description, domain or status pass an empty string ""; to clear metadata pass [].
        """
        return run(
            knowledge.store_concept,
            returns=results.Upserted,
            needs=WRITE_SCOPE,
            space=space,
            name=name,
            concept_type=concept_type,
            description=description,
            domain=domain,
            status=status,
            metadata=metadata_object(metadata),
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_get_concept(name: Name, space: SpaceName = None, run: UnitOfWork = work) -> results.ConceptRecord:
        """Read a concept by name or alias, with its aliases and relationships."""
        return run(knowledge.get_concept, returns=results.ConceptRecord, needs=READ_SCOPE, space=space, name=name)

    @mcp.tool(annotations=ADDITIVE)
    def memory_add_concept_alias(
        concept_name: Name, alias: Name, space: SpaceName = None, run: UnitOfWork = work
    ) -> results.AliasAdded:
        """Add another name the concept can be found by."""
        return run(
            knowledge.add_alias,
            returns=results.AliasAdded,
            needs=WRITE_SCOPE,
            space=space,
            concept_name=concept_name,
            alias=alias,
        )

    @mcp.tool(annotations=UPSERT)
    def memory_add_concept_relationship(
        from_concept: Name,
        to_concept: Name,
        rel_type: knowledge.RelationshipType,
        weight: Annotated[float, Field(ge=0.0, le=1.0, description="Strength of the link, 0 to 1.")] = 0.5,
        description: str | None = None,
        space: SpaceName = None,
        run: UnitOfWork = work,
    ) -> results.Linked:
        """Link two concepts; calling again with the same pair and type updates weight and description.

        The link becomes a statement memory_search finds ("Ann lives in Porto": related_to with the description
        "lives_in" reads as its verb); both concepts are embedded again with it."""
        return run(
            knowledge.add_relationship,
            returns=results.Linked,
            needs=WRITE_SCOPE,
            space=space,
            from_concept=from_concept,
            to_concept=to_concept,
            rel_type=rel_type,
            weight=weight,
            description=description,
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_related_concepts(
        concept_name: Name,
        rel_type: knowledge.RelationshipType | None = None,
        min_weight: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0,
        space: SpaceName = None,
        run: UnitOfWork = work,
    ) -> results.Related:
        """Concepts linked to this one, in both directions, strongest first (at most 100)."""
        return run(
            knowledge.related_concepts,
            returns=results.Related,
            needs=READ_SCOPE,
            space=space,
            concept_name=concept_name,
            rel_type=rel_type,
            min_weight=min_weight,
        )

    @mcp.tool(annotations=UPSERT)
    def memory_update_pattern(
        category: Name,
        pattern_name: Name,
        pattern_text: Annotated[str, Field(description="The pattern, stated so another AI can act on it.")],
        confidence: Confidence = 0.8,
        evidence_observation_ids: Annotated[
            list[int] | None, Field(description="Ids of your observations that support it.")
        ] = None,
        space: SpaceName = None,
        run: UnitOfWork = work,
    ) -> results.Upserted:
        """Create the pattern (category, pattern_name), a synthesis of several observations. A new text for an
        existing name replaces it with a new version: the old one is kept (memory_get shows the chain; search
        with include_history finds it) and the answer names it as supersedes. The same text again only updates
        confidence and evidence."""
        return run(
            knowledge.update_pattern,
            returns=results.Upserted,
            needs=WRITE_SCOPE,
            space=space,
            category=category,
            pattern_name=pattern_name,
            pattern_text=pattern_text,
            confidence=confidence,
            evidence_observation_ids=evidence_observation_ids,
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_get_pattern(
        category: Name, pattern_name: Name, space: SpaceName = None, run: UnitOfWork = work
    ) -> results.PatternRecord:
        """Read one pattern by category and name."""
        return run(
            knowledge.get_pattern,
            returns=results.PatternRecord,
            needs=READ_SCOPE,
            space=space,
            category=category,
            pattern_name=pattern_name,
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_patterns(
        category: str | None = None,
        min_confidence: MinConfidence = 0.0,
        limit: Limit = 20,
        offset: Offset = 0,
        space: SpaceName = None,
        run: UnitOfWork = work,
    ) -> results.Patterns:
        """List patterns, most confident first, optionally within one category."""
        return run(
            knowledge.list_patterns,
            returns=results.Patterns,
            needs=READ_SCOPE,
            space=space,
            category=category,
            min_confidence=min_confidence,
            limit=limit,
            offset=offset,
        )
