"""What every memory tool answers, as pydantic models: the output schema each
tool publishes in ``tools/list``, and the check that its answer keeps to it.

A memory's text is ``text`` in every shape (a search hit, a listed or full
observation, pattern, concept or document). Fields a memory does not have
are left out of the answer rather than sent as null, so no field is
repeated or empty (``Result`` drops them when serialising).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, create_model, model_serializer

Kind = Literal["observation", "pattern", "concept", "document", "turn"]
When = Field(description="ISO 8601 date-time, UTC.")
EmbeddingStatus = Literal["indexed", "pending", "disabled"]


def _never_null(schema: dict[str, Any]) -> None:
    """Publish what answers hold: a field that may be missing is left out,
    never sent as null, so its schema admits no null."""
    required = set(schema.get("required", []))
    for name, field in schema.get("properties", {}).items():
        if name in required:
            continue
        field.pop("default", None)
        options = [option for option in field.get("anyOf", []) if option != {"type": "null"}]
        if "anyOf" in field:
            field.pop("anyOf")
            if len(options) == 1:
                field.update(options[0])
            else:
                field["anyOf"] = options


class Result(BaseModel):
    """Every tool answer: exactly the declared fields, none of them null."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, serialize_by_alias=True, json_schema_extra=_never_null
    )

    @model_serializer(mode="wrap")
    # Unannotated on purpose: a return type would replace the fields in the serialisation schema.
    def _without_nulls(self, serialize: Any):
        return {name: value for name, value in serialize(self).items() if value is not None}


class Written(Result):
    embedding: EmbeddingStatus | None = Field(
        None, description="Whether the stored text is searchable by meaning yet (pending: the backfill retries)."
    )


# --- memories, listed and whole -------------------------------------------------------------------


class Why(Result):
    """The parts of a hit's score: score = (meaning + keywords) × period × recency."""

    meaning: float = Field(description="The share of the score from closeness of meaning (its weight × similarity).")
    keywords: float = Field(description="The share of the score from the query's words found in the memory.")
    words_matched: float = Field(description="The share of the query's word weight the memory contains, 0 to 1.")
    all_words: bool = Field(description="It contains every word of the query (which ranks it higher).")
    period: float | None = Field(
        None, description="The factor it gained by happening in the period the query names (see the search's period)."
    )
    recency: float | None = Field(None, description="The factor its age scaled the score by (recency_half_life_days).")
    reply: float | None = Field(
        None, description="For a reply (reply_to): the share of the score of the turn it answers that it carries."
    )


class Hit(Result):
    """One search hit: a memory, its text once, and why it ranked."""

    ref: str = Field(description="The memory's reference, e.g. 'observation:42'.")
    type: Kind
    text: str = Field(description="The memory's text, up to 2,000 characters (memory_get has it whole).")
    title: str | None = Field(None, description="Pattern category/name, concept name or document title.")
    score: float = Field(description="Fused relevance; higher ranks first.")
    matched: Literal["meaning", "keywords", "both", "reply"] = Field(
        description="Why it is here: close in meaning, the query's words, both, or 'reply': it answers a turn that "
        "matched (reply_to), just after which it ranks."
    )
    similarity: float | None = Field(None, description="Cosine similarity of meaning, when it was compared.")
    confidence: float | None = None
    domain: str | None = None
    recorded_at: str = When
    occurred_at: str | None = Field(None, description="When it happened, if given (observations), or was said (turns).")
    superseded_by: str | None = Field(None, description="The newer version's ref (with include_history).")
    speaker: str | None = Field(None, description="Who said it (turns).")
    conversation_id: str | None = Field(None, description="The conversation it was said in (turns).")
    position: int | None = Field(None, description="Its place in the conversation, from 0 (turns).")
    reply_to: str | None = Field(None, description="The turn it answers, when it ranks as that turn's reply.")
    statements: list[str] | None = Field(
        None, description="What a concept's relationships say ('Ann lives in Porto'), up to 10."
    )
    why: Why | None = Field(None, description="With explain=true: the parts of its score.")
    space: str | None = Field(None, description="The space it is in, when the search spanned several.")
    stored_by: str | None = Field(None, description="Who stored it, when a member of a shared space did.")


class Listed(Result):
    """A memory as memory_browse lists it."""

    ref: str
    type: Kind
    text: str = Field(description="Its text, up to 2,000 characters (memory_get has it whole).")
    title: str | None = Field(None, description="Pattern category/name, concept name or document title.")
    domain: str | None = None
    at: str = Field(description="When it was recorded (ISO 8601, UTC).")
    space: str | None = Field(None, description="The space it is in, when the list spans several.")
    archived: bool | None = Field(None, description="True when it is archived (left out of search and recall).")
    replaced: bool | None = Field(None, description="True when a newer version replaced it.")


class Browsed(Result):
    """A page of memories to look through, newest first (or the best matches for a query)."""

    memories: list[Listed]
    page: int = Field(description="This page's number, from 0.")
    more: bool = Field(description="Whether a next page has more.")


class Memory(Result):
    """What every memory has, whole."""

    type: Kind
    ref: str
    id: int
    text: str | None = Field(None, description="The memory's text (a concept's description; absent if none).")
    created_at: str = When


class VersionLinks(BaseModel):
    supersedes: str | None = Field(None, description="Ref of the version this one replaced.")
    superseded_by: str | None = Field(None, description="Ref of the version that replaced this one.")
    valid_until: str | None = Field(
        None,
        description="When a replaced version stopped being true: when its replacement became true (it happened, "
        "else was recorded). It became true itself at occurred_at, else created_at.",
    )


class ObservationRecord(Memory, VersionLinks):
    """An observation, whole."""

    type: Literal["observation"]
    text: str
    confidence: float
    domain: str | None = None
    evidence: list[str]
    ai_name: str | None = None
    ai_platform: str | None = None
    conversation_id: str | None = None
    occurred_at: str | None = None
    access_count: int
    last_accessed: str | None = None
    seen_count: int = Field(description="How often this was stored or restated.")
    last_seen_at: str | None = None
    space: str | None = Field(None, description="The space it is in, when the answer spans several.")
    stored_by: str | None = Field(None, description="Who stored it, when a member of a shared space did.")


class Version(Result):
    """One version in a chain of replaced versions."""

    ref: str
    recorded_at: str = When
    text: str


class PatternRecord(Memory, VersionLinks):
    """A pattern, whole."""

    type: Literal["pattern"]
    text: str
    category: str
    pattern_name: str
    confidence: float
    evidence_observation_ids: list[int]
    last_updated: str = When
    versions: list[Version] | None = Field(None, description="The version chain, oldest first, when replaced.")


class Relationship(Result):
    """A link between this concept and another."""

    direction: Literal["outgoing", "incoming"]
    rel_type: str
    concept: str = Field(description="The other concept's name.")
    ref: str = Field(description="The other concept's ref.")
    weight: float
    description: str | None = None


class ConceptRecord(Memory):
    """A concept, whole, with its aliases (and relationships where asked)."""

    type: Literal["concept"]
    name: str
    concept_type: str
    domain: str | None = None
    status: str | None = None
    metadata: dict[str, Any]
    aliases: list[str] = Field(description="Up to 100, alphabetical; alias_count says how many there are.")
    alias_count: int
    updated_at: str = When
    relationships: list[Relationship] | None = None


class DocumentRecord(Memory):
    """A document reference, whole."""

    type: Literal["document"]
    text: str
    title: str
    doc_type: str
    url: str | None = None
    key_concepts: list[str]
    publication_date: str | None = None
    metadata: dict[str, Any]


class TurnLine(Result):
    """One turn of a conversation."""

    ref: str
    position: int = Field(description="Its place in the conversation, from 0.")
    speaker: str
    text: str
    occurred_at: str = Field(description="When it was said (ISO 8601).")


class TurnRecord(Memory):
    """A turn of a conversation, whole, with the turns around it."""

    type: Literal["turn"]
    text: str
    speaker: str
    conversation_id: str
    position: int
    occurred_at: str = Field(description="When it was said (ISO 8601).")
    neighbours: list[TurnLine] = Field(
        description="Up to two turns before and two after, in order (their text up to 500 characters)."
    )


def _any_memory() -> type[Memory]:
    """One shape for a memory of any type (memory_get): the common fields,
    then each type's own, present only on that type."""
    own: dict[str, Any] = {}
    for record in (ObservationRecord, PatternRecord, ConceptRecord, DocumentRecord, TurnRecord):
        for name, field in record.model_fields.items():
            if name not in Memory.model_fields and name not in own:
                description = f"{field.description} " if field.description else ""
                own[name] = (
                    cast(Any, field.annotation) | None,
                    Field(None, description=f"{description}({record.__name__})"),
                )
    doc = "A memory of any type, whole; fields of one type only are marked with it."
    return create_model("AnyMemory", __base__=Memory, __doc__=doc, **own)


if TYPE_CHECKING:
    AnyMemory = Memory
else:
    AnyMemory = _any_memory()


# --- answers of the memory tools ----------------------------------------------------------------


class PossibleConflict(Result):
    ref: str
    text: str


class Stored(Written):
    """What memory_store did: stored a new observation, or strengthened the one that already says it."""

    stored: bool = Field(description="false: a current observation already said this; it was strengthened.")
    id: int | None = None
    ref: str | None = None
    supersedes: str | None = Field(None, description="The observation this one replaced.")
    duplicate_of: str | None = Field(None, description="When not stored: the observation that says it already.")
    seen_count: int | None = Field(None, description="When not stored: how often it has now been said.")
    possible_conflicts: list[PossibleConflict] | None = Field(
        None,
        description="Current observations about the same subject that this one may replace (nothing was changed); "
        "if it does, store the same observation again with supersedes=its ref.",
    )


class Page(Result):
    count: int
    offset: int
    has_more: bool


FORGOTTEN = Field(None, description="With changed_since: refs of the memories deleted since then (up to 100).")


class Recalled(Page):
    """A page of current observations, newest first."""

    observations: list[ObservationRecord]
    forgotten: list[str] | None = FORGOTTEN


class Period(Result):
    """Days, both included."""

    from_: str = Field(alias="from", description="The first day, YYYY-MM-DD.")
    to: str = Field(description="The last day, YYYY-MM-DD.")


class Found(Result):
    """Search hits, best first; weak matches left out and counted."""

    mode: Literal["hybrid", "keyword"]
    count: int
    dropped: int = Field(description="Candidates left out as weak matches.")
    results: list[Hit]
    forgotten: list[str] | None = FORGOTTEN
    period: Period | None = Field(
        None,
        description="The days the query names ('on 7 July 2023', 'in May 2023', 'last week'): "
        "memories from then (a few days' slack) rank higher.",
    )
    notice: str | None = Field(None, description="Why search ran on keywords only.")


class Archived(Result):
    """The refs archived (or, with query, a preview that archived nothing)."""

    archived: list[str] | None = None
    already_archived: list[str] | None = None
    preview: list[Hit] | None = Field(None, description="With query: what it finds; nothing was archived.")
    next: str | None = None


class Rehydrated(Result):
    """The refs brought back from the archive."""

    rehydrated: list[str]
    already_rehydrated: list[str] | None = None


class Candidate(Result):
    """A memory that could be archived, with why."""

    ref: str
    text: str
    confidence: float
    access_count: int
    recorded_at: str = When
    last_used: str = When
    staleness: float


class Candidates(Result):
    """Memories that could be archived, stalest first."""

    count: int
    candidates: list[Candidate]


class Deleted(Written):
    """The memory forgotten (a concept's: the concepts it was related to are embedded again)."""

    deleted: bool
    ref: str


class DomainCount(Result):
    domain: str
    observations: int


class AIInstanceSeen(Result):
    name: str
    platform: str
    last_seen: str = When


class EmbeddingState(Result):
    """Which model embeds, and what still waits."""

    provider: str
    model: str | None = None
    pending: int = Field(description="Memories waiting for their vectors.")


class Counts(Result):
    """Current memories by type (neither archived nor replaced)."""

    observations: int
    patterns: int
    concepts: int
    documents: int
    turns: int


class Stats(Result):
    """A space's memory in figures."""

    space: str = Field(description="The space counted.")
    counts: Counts
    archived: int
    superseded: int
    sessions: int
    top_domains: list[DomainCount]
    ai_instances: list[AIInstanceSeen]
    embedding: EmbeddingState


class Session(Result):
    """The conversation as registered."""

    session_id: int
    conversation_id: str
    title: str | None = None
    ai_name: str
    ai_platform: str
    started_at: str = When
    last_active: str = When
    observations_in_session: int


class Newest(Result):
    ref: str
    text: str


class RecentChanges(Result):
    """What changed in the last days."""

    days: int
    recorded: int
    replaced: int
    archived: int
    newest: list[Newest]


class Instance(Result):
    """This AI instance, as memory knows it."""

    name: str
    platform: str
    is_new: bool
    first_seen: str = When
    last_seen_before_now: str | None = None
    sessions: int
    observations: int


class SpaceReached(Result):
    name: str = Field(description="Pass it as 'space'; a space shared with the person is 'owner@example.com/name'.")
    default: bool | None = Field(None, description="True for where writes go when no space is named.")
    role: Literal["reader", "writer"] | None = Field(
        None, description="In a space shared with the person: reader (read only) or writer (read, store, change)."
    )
    read_only: bool | None = Field(None, description="True where this credential may only read.")


class Bootstrap(Result):
    """What an agent needs on first contact."""

    spaces: list[SpaceReached] = Field(description="The spaces this credential reaches; pass a name as 'space'.")
    memory_counts: Counts
    recent_changes: RecentChanges
    recommended_first_steps: list[str]
    ai_instance: Instance | None = None


class Guide(Result):
    """The user guide, as markdown text or as JSON data."""

    format: Literal["markdown", "json"]
    guide: str | dict[str, Any]


# --- answers of the knowledge tools -------------------------------------------------------------


class Upserted(Written):
    """The concept or pattern created or updated."""

    id: int
    ref: str
    created: bool = Field(description="false: an existing one was updated.")
    supersedes: str | None = Field(None, description="The pattern version this one replaced.")


class DocumentStored(Written):
    """The document reference stored."""

    id: int
    ref: str
    stored: bool


class AliasAdded(Result):
    """The alias, added or already there."""

    concept: str
    alias: str
    created: bool


class Linked(Written):
    """The relationship created or updated (its two concepts are embedded again with it)."""

    from_: str = Field(alias="from")
    to: str
    rel_type: str
    weight: float


class Related(Result):
    """The concepts linked to this one, strongest first."""

    concept: str
    relationships: list[Relationship]


class Patterns(Page):
    """A page of current patterns, most confident first."""

    patterns: list[PatternRecord]


# --- conversations ---------------------------------------------------------------------------------


class Appended(Written):
    """What memory_append_turns stored."""

    conversation_id: str
    appended: list[str] = Field(description="Refs of the turns stored, in order.")
    already_stored: int = Field(description="Turns skipped because the conversation already holds their id.")
    private_only: int = Field(description="Turns not stored: nothing was left once <private> text was cut.")


class ConversationTurns(Page):
    """A page of a conversation's turns, in the order they were said."""

    conversation_id: str
    title: str | None = None
    turns: list[TurnLine]


class ConversationForgotten(Result):
    """The conversation forgotten, with how many turns went with it."""

    forgotten: bool
    conversation_id: str
    turns: int


# --- the brief ------------------------------------------------------------------------------------


class BriefSection(Result):
    name: Literal["about", "changes", "topic"]
    shown: int
    left_out: int
    more: str | None = Field(None, description="Which tool lists what this section left out.")


class Brief(Result):
    """What an agent should know right now, within max_tokens: one memory a line, each with its ref and date."""

    text: str = Field(description="Markdown: a heading per section, one line per memory.")
    tokens: int = Field(description="Tokens the text takes (never more than max_tokens).")
    max_tokens: int
    since: str = Field(description="Changes are counted from here (ISO 8601).")
    since_basis: str = Field(description="Why that time: given, this client's last conversation, or a week ago.")
    sections: list[BriefSection]


# --- search and fetch in OpenAI's documented shape (ChatGPT deep research and connectors) ------------


class ResearchHit(Result):
    id: str = Field(description="The memory's ref; fetch takes it.")
    title: str
    url: str = Field(description="For citation: the memory's own URL if it has one, else its resource URI.")


class ResearchResults(Result):
    """Memories matching the query, best first."""

    results: list[ResearchHit]


class ResearchDocument(Result):
    """One memory in full."""

    id: str
    title: str
    text: str
    url: str
    metadata: dict[str, Any] | None = None
