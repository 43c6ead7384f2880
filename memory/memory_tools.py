"""The tools over an account's memories: store, recall, search, get, the
archive, delete, stats, sessions, bootstrap and the user guide."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastmcp import FastMCP
from pydantic import Field

from core.principal import FORGET_SCOPE, READ_SCOPE, WRITE_SCOPE
from memory import archive, conversations, hybrid_search, items, observations, space_access, user_guide
from memory import tool_results as results
from memory import validation as limits
from memory.embeddings import OPENAI_MIN_SIMILARITY
from memory.local_models import LOCAL_MODELS
from memory.tool_calls import (
    ADDITIVE,
    DESTRUCTIVE,
    READ_ONLY,
    REFRESH,
    Archived,
    AsOf,
    ChangedSince,
    Confidence,
    IncludeHistory,
    Limit,
    MinConfidence,
    Offset,
    OptionalName,
    Ref,
    Since,
    SpaceName,
    SpacesRead,
    TimeField,
    UnitOfWork,
    Until,
)

MODEL_FLOORS = (
    "the floor measured for the server's model ("
    + ", ".join(f"{model.min_similarity:g} for {model.name}" for model in LOCAL_MODELS.values())
    + f", {OPENAI_MIN_SIMILARITY:g} for OpenAI's)"
)


def register(mcp: FastMCP, work: Any) -> None:
    @mcp.tool(annotations=ADDITIVE)
    def memory_store(
        observation: Annotated[str, Field(description="The fact, preference or event, in one or two sentences.")],
        confidence: Confidence = 0.8,
        domain: Annotated[str | None, Field(description="Short lowercase topic, e.g. 'preferences'.")] = None,
        evidence: Annotated[list[str] | None, Field(description="Quotes or reasons supporting it.")] = None,
        ai_name: Annotated[
            str | None,
            Field(description="Your name, e.g. 'Claude'. Default: the one given to memory_init_session."),
        ] = None,
        ai_platform: Annotated[
            str | None,
            Field(description="Where you run, e.g. 'Claude Desktop'. Default: as given to memory_init_session."),
        ] = None,
        conversation_id: Annotated[str | None, Field(description="This conversation's id, if known.")] = None,
        conversation_title: str | None = None,
        occurred_at: Annotated[
            str | None,
            Field(description="When it happened, if not now: a date (2024-05-01) or date-time (ISO 8601)."),
        ] = None,
        supersedes: Annotated[
            str | None,
            Field(
                description="Ref of an observation this one replaces (e.g. 'observation:42' when the user moved "
                "from Lisbon to Porto). The old one is kept as the previous version but leaves search and recall."
            ),
        ] = None,
        allow_duplicate: Annotated[
            bool, Field(description="Store a new row even if a current observation already says the same.")
        ] = False,
        space: SpaceName = None,
        run: UnitOfWork = work,
    ) -> results.Stored:
        """Store one observation about the user or their work so any AI can recall it later.

        Adds one memory (and registers the conversation when conversation_id is given). If a current observation
        already says the same words (case, punctuation and small words aside), nothing is added: that one is
        strengthened instead (seen_count +1, the higher confidence, evidence merged) and the answer is
        {stored: false, duplicate_of: its ref, seen_count}. With supersedes, the named observation is marked
        replaced by the new one. A new memory's answer has its id and ref (e.g. 'observation:42') and stored: true,
        and possible_conflicts when a current observation about the same subject may be what it replaces ("Ann
        lives in Porto" for "Ann moved to Lisbon"): nothing is changed for it; if it is replaced, call memory_store
        again with the same observation and supersedes=its ref, which marks it replaced by the one just stored (no
        second copy: stored: false, duplicate_of, supersedes). Store durable facts, not chit-chat.
        """
        return run(
            observations.store_observation,
            returns=results.Stored,
            needs=WRITE_SCOPE,
            space=space,
            pass_credential=True,
            observation=observation,
            confidence=confidence,
            domain=domain,
            evidence=evidence,
            ai_name=ai_name,
            ai_platform=ai_platform,
            conversation_id=conversation_id,
            conversation_title=conversation_title,
            occurred_at=occurred_at,
            supersedes=supersedes,
            allow_duplicate=allow_duplicate,
            embedder=run.embedder,
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_recall(
        domain: str | None = None,
        min_confidence: MinConfidence = 0.0,
        limit: Limit = 10,
        ai_name: Annotated[str | None, Field(description="Only observations stored by this AI.")] = None,
        offset: Offset = 0,
        include_history: IncludeHistory = False,
        since: Since = None,
        until: Until = None,
        time_field: TimeField = "recorded",
        archived: Archived = "exclude",
        as_of: AsOf = None,
        changed_since: ChangedSince = None,
        space: SpacesRead = None,
        run: UnitOfWork = work,
    ) -> results.Recalled:
        """List current observations, newest first, optionally filtered by domain, confidence, the AI that stored
        them, or a period (since/until on when they were recorded or happened)."""
        return run(
            observations.recall,
            returns=results.Recalled,
            needs=READ_SCOPE,
            spans=True,
            space=space,
            domain=domain,
            min_confidence=min_confidence,
            limit=limit,
            ai_name=ai_name,
            offset=offset,
            include_history=include_history,
            since=since,
            until=until,
            time_field=time_field,
            archived=archived,
            as_of=as_of,
            changed_since=changed_since,
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_search(
        query: Annotated[str, Field(description="What you are looking for, in natural language.")],
        limit: Annotated[int, Field(ge=1, le=limits.MAX_LIMIT)] = 5,
        min_confidence: MinConfidence = 0.0,
        min_similarity: Annotated[
            float | None,
            Field(
                ge=0.0,
                le=1.0,
                description="Relevance floor: leave out hits whose meaning is less similar than this, unless they "
                f"contain every word of the query. 0 keeps every candidate. Default: {MODEL_FLOORS}.",
            ),
        ] = None,
        domain: str | None = None,
        source_types: Annotated[
            list[Literal["observation", "pattern", "concept", "document", "turn"]] | None,
            Field(description="Restrict to these memory types; default all."),
        ] = None,
        include_history: IncludeHistory = False,
        since: Since = None,
        until: Until = None,
        time_field: TimeField = "recorded",
        archived: Archived = "exclude",
        recency_half_life_days: Annotated[
            float | None,
            Field(
                gt=0,
                le=hybrid_search.MAX_HALF_LIFE_DAYS,
                description="Favour recent memories: one this many days old (by occurred_at, else when recorded) "
                "scores half as much as one from today. Default: no preference.",
            ),
        ] = None,
        explain: Annotated[
            bool,
            Field(description="Give each hit 'why': the parts of its score (meaning, keywords, period, recency)."),
        ] = False,
        as_of: AsOf = None,
        changed_since: ChangedSince = None,
        space: SpacesRead = None,
        run: UnitOfWork = work,
    ) -> results.Found:
        """Search all memories by meaning and keywords together (observations, patterns, concepts, documents, and
        the turns of kept conversations).

        Read-only. Each hit has ref, type, text (up to 2,000 characters; memory_get has the rest), score,
        matched ("meaning", "keywords", "both", or "reply": the answer to a turn that matched, ranked just after
        it), and where they apply title, similarity, confidence, domain and recorded_at; a turn's hit adds speaker,
        conversation_id and position, and a reply reply_to (the turn it answers). Weak matches are left out
        rather than padding the list; "dropped" counts them. "mode" is "hybrid", or "keyword" when semantic
        search is unavailable (no relevance floor then). A day, month or year the query names ("on 7 July 2023",
        "in May 2023", "yesterday", "last week") favours memories from then (by occurred_at, else when recorded)
        without excluding others, and "period" says which days were read; since/until restrict strictly.
        """
        return run(
            hybrid_search.search,
            returns=results.Found,
            needs=READ_SCOPE,
            spans=True,
            space=space,
            embedder=run.embedder,
            query=query,
            limit=limit,
            min_confidence=min_confidence,
            min_similarity=min_similarity,
            domain=domain,
            source_types=source_types,
            include_history=include_history,
            since=since,
            until=until,
            time_field=time_field,
            archived=archived,
            recency_half_life_days=recency_half_life_days,
            explain=explain,
            as_of=as_of,
            changed_since=changed_since,
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_get(ref: Ref, run: UnitOfWork = work) -> results.AnyMemory:
        """Read one memory in full by its ref; a replaced or replacing observation or pattern also lists its versions
        (oldest first), and a conversation's turn the turns around it."""
        return run(items.get_item, returns=results.AnyMemory, needs=READ_SCOPE, ref=ref)

    @mcp.tool(annotations=REFRESH)
    def memory_archive(
        refs: Annotated[
            list[str] | None, Field(description="Refs to archive, e.g. ['observation:42']; all or none.")
        ] = None,
        query: Annotated[
            str | None, Field(description="Instead of refs: preview what this search finds; archives nothing.")
        ] = None,
        limit: Limit = 10,
        space: SpaceName = None,
        run: UnitOfWork = work,
    ) -> results.Archived:
        """Move memories to cold storage: kept whole, but out of search, recall and bootstrap until rehydrated.

        With refs: archives those (every ref must be yours, or nothing changes) and returns "archived" (and
        "already_archived"). With query: changes nothing and returns a "preview" of the matching memories, to
        archive by ref next. memory_search(archived="only") searches the archive.
        """
        return run(
            archive.archive,
            returns=results.Archived,
            needs=WRITE_SCOPE,
            space=space,
            embedder=run.embedder,
            refs=refs,
            query=query,
            limit=limit,
        )

    @mcp.tool(annotations=REFRESH)
    def memory_rehydrate(
        refs: Annotated[list[str], Field(description="Refs of archived memories to bring back; all or none.")],
        run: UnitOfWork = work,
    ) -> results.Rehydrated:
        """Bring archived memories back into search, recall and bootstrap. Changes only their archived state."""
        return run(archive.rehydrate, returns=results.Rehydrated, needs=WRITE_SCOPE, refs=refs)

    @mcp.tool(annotations=READ_ONLY)
    def memory_archive_candidates(
        limit: Limit = 20, space: SpaceName = None, run: UnitOfWork = work
    ) -> results.Candidates:
        """List current memories of every type that could be archived, stalest first. Read-only; archives nothing.

        staleness = days since last used (read, found, restated or changed) x (2 - confidence) / (1 + times read);
        concepts and documents count as confidence 0.8.
        """
        return run(archive.candidates, returns=results.Candidates, needs=READ_SCOPE, space=space, limit=limit)

    @mcp.tool(annotations=DESTRUCTIVE)
    def memory_delete(ref: Ref, run: UnitOfWork = work) -> results.Deleted:
        """Forget one memory permanently (with its search vectors); it cannot be restored. A concept goes with its
        aliases and relationships.

        Use when the user asks to forget something.
        """
        return run(items.delete_item, returns=results.Deleted, needs=FORGET_SCOPE, ref=ref)

    @mcp.tool(annotations=READ_ONLY)
    def memory_stats(space: SpaceName = None, run: UnitOfWork = work) -> results.Stats:
        """Counts of memories by type, the main domains, known AI instances and embedding status."""
        return run(
            items.stats,
            returns=results.Stats,
            needs=READ_SCOPE,
            space=space,
            embedder=run.embedder,
            viewer=run.principal.user_id,  # a space shared with the caller is named with its owner
        )

    @mcp.tool(annotations=REFRESH)
    def memory_init_session(
        conversation_id: Annotated[str, Field(min_length=1, max_length=500)],
        title: str | None = None,
        ai_name: str = "Unknown",
        ai_platform: str = "Unknown",
        source_url: str | None = None,
        space: SpaceName = None,
        run: UnitOfWork = work,
    ) -> results.Session:
        """Register (or refresh) the current conversation and the AI instance taking part in it.

        Creates or updates the conversation record and the AI instance (last seen); memories are untouched.
        Later memory_store calls that omit ai_name/ai_platform are attributed to this AI instance.
        """
        return run(
            conversations.init_session,
            returns=results.Session,
            needs=WRITE_SCOPE,
            space=space,
            pass_credential=True,
            conversation_id=conversation_id,
            title=title,
            ai_name=ai_name,
            ai_platform=ai_platform,
            source_url=source_url,
        )

    @mcp.tool(annotations=ADDITIVE)
    def memory_bootstrap(
        ai_name: OptionalName = None, ai_platform: OptionalName = None, run: UnitOfWork = work
    ) -> results.Bootstrap:
        """Call first: whether this AI instance is new, when it was first and last seen, what memory holds,
        and the recommended first steps."""
        needs = WRITE_SCOPE if ai_name else READ_SCOPE
        return run(
            items.bootstrap,
            returns=results.Bootstrap,
            needs=needs,
            reached=space_access.reachable(run.db, run.principal),
            ai_name=ai_name,
            ai_platform=ai_platform,
        )

    @mcp.tool(annotations=READ_ONLY)
    def memory_user_guide(format: Literal["markdown", "json"] = "markdown", run: UnitOfWork = work) -> results.Guide:
        """The complete guide to using MemoryGate: tools, domains, the confidence scale and workflows."""
        if format == "json":
            return results.Guide(format="json", guide=user_guide.GUIDE)
        return results.Guide(format="markdown", guide=user_guide.as_markdown())
