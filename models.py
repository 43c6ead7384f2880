"""The memory tables, on the one declarative Base shared with oauth_models.py.

Every memory row has an ``owner_id`` referencing ``spaces.id``: a space owns
its memories, and an account owns its spaces (its default space has the
account's own id, so a one-space account's memories name the account).
Uniqueness is always per owner, and every query in the service layer filters
on it, with an owner the caller's credential was found to reach
(memory/spaces.py), never one the caller names.
Searchable text gets a generated ``search_tsv`` column with a GIN index;
vectors live in ``embeddings`` (see memory/search_indexes.py for their HNSW indexes).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import BIT, JSONB, TSVECTOR, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


def owner_column() -> Mapped[uuid.UUID]:
    """The space a row belongs to (deleting the space deletes the row)."""
    return mapped_column(UUID(as_uuid=True), ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False, index=True)


# Who stored a memory, when it was a member of a space it does not own:
# filled by the database from the setting a call makes (memory/unit_of_work.py).
ACTING_MEMBER = "nullif(current_setting('memorygate.actor', true), '')::uuid"


def stored_by_column() -> Mapped[uuid.UUID | None]:
    """The member who stored it (NULL: the space's owner, or a member since gone)."""
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), server_default=text(ACTING_MEMBER)
    )


def created_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def search_tsv_column(columns_sql: str) -> Mapped[Any]:
    """A generated tsvector: the owner as one lexeme, then the English text.

    The owner lexeme lets one ordinary GIN index answer "this owner's rows
    matching these words" by intersecting posting lists, so a search costs
    what the owner's matches cost, not everyone's (btree_gin is not
    available in every PostgreSQL build we run on).

    Only SQL reads it, so it is deferred: loading a memory never carries it.
    """
    generated = Computed(
        f"to_tsvector('simple', 'owner' || replace(owner_id::text, '-', '')) || to_tsvector('english', {columns_sql})",
        persisted=True,
    )
    return mapped_column(TSVECTOR, generated, deferred=True)


def search_index(table: str) -> Index:
    """The GIN index over ``search_tsv``, without a pending list: a new
    memory's words go straight into the index, so no search reads through
    unmerged entries (up to 4 MB of them with PostgreSQL's default
    fastupdate: at 1.3 million memories, 9,000 updated rows made a 10k
    owner's keyword search take 9.2 ms instead of 1.9)."""
    return Index(f"ix_{table}_search_tsv", "search_tsv", postgresql_using="gin", postgresql_with={"fastupdate": "off"})


# Memory tables leave room on each page for a row's next version, so counting
# a read (access_count, last_accessed: in no index) updates the row in place
# (a HOT update) without adding an entry to every index.
MEMORY_TABLE_OPTIONS = {"postgresql_with": {"fillfactor": 90}}


def owner_lexeme(owner_id: uuid.UUID) -> str:
    return "owner" + owner_id.hex


def confidence_check(table: str, column: str = "confidence") -> CheckConstraint:
    return CheckConstraint(f"{column} >= 0 AND {column} <= 1", name=f"ck_{table}_{column}_range")


class Space(Base):
    """A part of an account's memory kept apart from the rest: its own
    memories, concepts, conversations and retention. Every account has a
    default space whose id is the account's (made by a trigger on users,
    migration 0027), which cannot be deleted."""

    __tablename__ = "spaces"
    __table_args__ = (UniqueConstraint("owner_user_id", "name_key", name="uq_spaces_owner_name_key"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    owner_user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    # The name as compared: two names that read the same are one (memory/spaces.py name_key).
    name_key: Mapped[str] = mapped_column(String(64), nullable=False)
    # Archive observations unused for this many days (None: never).
    retention_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_column()

    @property
    def is_default(self) -> bool:
        return self.id == self.owner_user_id


class SpaceMember(Base):
    """Another account a space is shared with, as reader or writer."""

    __tablename__ = "space_members"

    space_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(10), nullable=False)  # reader or writer
    created_at: Mapped[datetime] = created_column()


class SpaceInvitation(Base):
    """An invitation to a space, for whoever signs in with this e-mail address."""

    __tablename__ = "space_invitations"
    __table_args__ = (UniqueConstraint("space_id", "email", name="uq_space_invitations_space_email"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    space_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False
    )
    email: Mapped[str] = mapped_column(String(320), nullable=False, index=True)  # lowercased
    role: Mapped[str] = mapped_column(String(10), nullable=False)
    created_at: Mapped[datetime] = created_column()


class AIInstance(Base):
    __tablename__ = "ai_instances"
    __table_args__ = (UniqueConstraint("owner_id", "name", "platform", name="uq_ai_instances_owner_name_platform"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[uuid.UUID] = owner_column()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    platform: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[datetime] = created_column()
    last_seen: Mapped[datetime] = created_column()


class ConversationSession(Base):
    """A conversation an agent registered with memory_init_session."""

    __tablename__ = "sessions"
    __table_args__ = (
        UniqueConstraint("owner_id", "conversation_id", name="uq_sessions_owner_conversation"),
        Index("ix_sessions_owner_credential", "owner_id", "credential_id", "last_active"),
        Index("ix_sessions_ai_instance_id", "ai_instance_id", postgresql_where=text("ai_instance_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[uuid.UUID] = owner_column()
    conversation_id: Mapped[str] = mapped_column(String(500), nullable=False)
    title: Mapped[str | None] = mapped_column(String(500))
    ai_instance_id: Mapped[int | None] = mapped_column(ForeignKey("ai_instances.id", ondelete="SET NULL"))
    source_url: Mapped[str | None] = mapped_column(String(2000))
    started_at: Mapped[datetime] = created_column()
    last_active: Mapped[datetime] = created_column()
    summary: Mapped[str | None] = mapped_column(Text)
    # The API key or OAuth grant that registered it (None: the local owner).
    credential_id: Mapped[uuid.UUID | None] = mapped_column(UUID)

    ai_instance: Mapped[AIInstance | None] = relationship()


class Observation(Base):
    __tablename__ = "observations"
    __table_args__ = (
        confidence_check("observations"),
        Index("ix_observations_owner_created", "owner_id", "created_at"),
        search_index("observations"),
        Index("ix_observations_owner_text_key", "owner_id", "text_key"),
        # The brief: an owner's most established current facts, and what was archived lately.
        Index(
            "ix_observations_owner_established",
            "owner_id",
            text("seen_count DESC"),
            text("confidence DESC"),
            text("created_at DESC"),
            text("id DESC"),
            postgresql_where=text("superseded_by_id IS NULL AND archived_at IS NULL"),
        ),
        Index(
            "ix_observations_owner_archived",
            "owner_id",
            "archived_at",
            postgresql_where=text("archived_at IS NOT NULL"),
        ),
        # Deleting what an observation points at (a conversation, an AI
        # instance, another version) finds the pointing rows through these,
        # not by reading the table: deleting a large account stays linear.
        *(
            Index(f"ix_observations_{column}", column, postgresql_where=text(f"{column} IS NOT NULL"))
            for column in ("session_id", "ai_instance_id", "supersedes_id", "superseded_by_id")
        ),
        MEMORY_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[uuid.UUID] = owner_column()
    stored_by: Mapped[uuid.UUID | None] = stored_by_column()
    observation: Mapped[str] = mapped_column(Text, nullable=False)
    confidence: Mapped[float] = mapped_column(Float, nullable=False, server_default=text("0.8"))
    domain: Mapped[str | None] = mapped_column(String(200), index=True)
    evidence: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id", ondelete="SET NULL"))
    ai_instance_id: Mapped[int | None] = mapped_column(ForeignKey("ai_instances.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_column()
    access_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    last_accessed: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When it happened, if the agent said (created_at is when it was recorded).
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Versions: the observation this one replaced, and the one that replaced it.
    supersedes_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("observations.id", ondelete="SET NULL", name="fk_observations_supersedes")
    )
    superseded_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("observations.id", ondelete="SET NULL", name="fk_observations_superseded_by")
    )
    # Duplicates: stores of the same thing strengthen this row instead. The
    # key is the SQL function observation_key (migration 0005): the text's
    # word stems in order, stop words and "user" aside, negations counted.
    seen_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    text_key: Mapped[str] = mapped_column(String(32), Computed("observation_key(observation)", persisted=True))
    # Set while the memory is in cold storage: kept, but out of search and recall.
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    search_tsv: Mapped[Any] = search_tsv_column("coalesce(observation, '') || ' ' || coalesce(domain, '')")

    ai_instance: Mapped[AIInstance | None] = relationship()
    session: Mapped[ConversationSession | None] = relationship()


class Pattern(Base):
    __tablename__ = "patterns"
    __table_args__ = (
        # One current version per name; the versions it replaced keep the name.
        Index(
            "uq_patterns_owner_category_name_current",
            "owner_id",
            "category",
            "pattern_name",
            unique=True,
            postgresql_where=text("superseded_by_id IS NULL"),
        ),
        confidence_check("patterns"),
        search_index("patterns"),
        *(
            Index(f"ix_patterns_{column}", column, postgresql_where=text(f"{column} IS NOT NULL"))
            for column in ("supersedes_id", "superseded_by_id")
        ),
        MEMORY_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[uuid.UUID] = owner_column()
    stored_by: Mapped[uuid.UUID | None] = stored_by_column()
    category: Mapped[str] = mapped_column(String(200), nullable=False)
    pattern_name: Mapped[str] = mapped_column(String(200), nullable=False)
    pattern_text: Mapped[str] = mapped_column(Text, nullable=False)
    confidence: Mapped[float] = mapped_column(Float, nullable=False, server_default=text("0.8"))
    evidence_observation_ids: Mapped[list[int]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    created_at: Mapped[datetime] = created_column()
    last_updated: Mapped[datetime] = created_column()
    access_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    last_accessed: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Versions: a new text for the same name replaces the pattern, which is kept.
    supersedes_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("patterns.id", ondelete="SET NULL", name="fk_patterns_supersedes")
    )
    superseded_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("patterns.id", ondelete="SET NULL", name="fk_patterns_superseded_by")
    )
    # Set while the memory is in cold storage: kept, but out of search and recall.
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    search_tsv: Mapped[Any] = search_tsv_column(
        "coalesce(category, '') || ' ' || coalesce(pattern_name, '') || ' ' || coalesce(pattern_text, '')"
    )


class Concept(Base):
    __tablename__ = "concepts"
    __table_args__ = (
        Index("uq_concepts_owner_lower_name", "owner_id", text("lower(name)"), unique=True),
        search_index("concepts"),
        MEMORY_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[uuid.UUID] = owner_column()
    stored_by: Mapped[uuid.UUID | None] = stored_by_column()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    type: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    domain: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str | None] = mapped_column(String(100))
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()
    access_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    last_accessed: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set while the memory is in cold storage: kept, but out of search and recall.
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Its aliases, space-separated, kept by a trigger on concept_aliases
    # (migration 0026) so a concept is found by any name it goes by.
    aliases_text: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("''"))
    search_tsv: Mapped[Any] = search_tsv_column(
        "coalesce(name, '') || ' ' || aliases_text || ' ' || coalesce(description, '') || ' ' || coalesce(domain, '')"
    )

    aliases: Mapped[list[ConceptAlias]] = relationship(
        back_populates="concept", cascade="all, delete-orphan", passive_deletes=True
    )


class ConceptAlias(Base):
    __tablename__ = "concept_aliases"
    __table_args__ = (Index("uq_concept_aliases_owner_lower_alias", "owner_id", text("lower(alias)"), unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[uuid.UUID] = owner_column()
    concept_id: Mapped[int] = mapped_column(ForeignKey("concepts.id", ondelete="CASCADE"), nullable=False, index=True)
    alias: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = created_column()

    concept: Mapped[Concept] = relationship(back_populates="aliases")


class ConceptRelationship(Base):
    __tablename__ = "concept_relationships"
    __table_args__ = (
        UniqueConstraint("from_concept_id", "to_concept_id", "rel_type", name="uq_concept_relationships_edge"),
        confidence_check("concept_relationships", "weight"),
        CheckConstraint("from_concept_id <> to_concept_id", name="ck_concept_relationships_not_self"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[uuid.UUID] = owner_column()
    from_concept_id: Mapped[int] = mapped_column(
        ForeignKey("concepts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    to_concept_id: Mapped[int] = mapped_column(
        ForeignKey("concepts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    rel_type: Mapped[str] = mapped_column(String(50), nullable=False)
    weight: Mapped[float] = mapped_column(Float, nullable=False, server_default=text("0.5"))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()

    from_concept: Mapped[Concept] = relationship(foreign_keys=[from_concept_id])
    to_concept: Mapped[Concept] = relationship(foreign_keys=[to_concept_id])


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (search_index("documents"), MEMORY_TABLE_OPTIONS)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[uuid.UUID] = owner_column()
    stored_by: Mapped[uuid.UUID | None] = stored_by_column()
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    doc_type: Mapped[str] = mapped_column(String(100), nullable=False)
    url: Mapped[str | None] = mapped_column(String(2000))
    content_summary: Mapped[str] = mapped_column(Text, nullable=False)
    key_concepts: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    publication_date: Mapped[date | None] = mapped_column(Date)
    access_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    last_accessed: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = created_column()
    # Set while the memory is in cold storage: kept, but out of search and recall.
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    search_tsv: Mapped[Any] = search_tsv_column("coalesce(title, '') || ' ' || coalesce(content_summary, '')")


class Turn(Base):
    """One turn of a conversation, as it was said: searchable like every
    other memory, and read with its neighbours for context."""

    __tablename__ = "turns"
    __table_args__ = (
        UniqueConstraint("session_id", "position", name="uq_turns_session_position"),
        # A client's own id for a turn makes appending it again a no-op (hooks
        # resend a transcript; imports run twice).
        UniqueConstraint("session_id", "source_key", name="uq_turns_session_source_key"),
        Index("ix_turns_owner_created", "owner_id", "created_at"),
        search_index("turns"),
        MEMORY_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[uuid.UUID] = owner_column()
    stored_by: Mapped[uuid.UUID | None] = stored_by_column()
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False)
    # Order within the conversation, from 0, given at append.
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    speaker: Mapped[str] = mapped_column(String(200), nullable=False)
    # When it was said (created_at is when it was stored).
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    source_key: Mapped[str | None] = mapped_column(String(200))
    # The start of the turn that answered it, embedded with it (memory/turns.py: link_replies).
    reply: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = created_column()
    access_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    last_accessed: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Declared after the last use of sqlalchemy's text() in this class, which it hides.
    text: Mapped[str] = mapped_column(Text, nullable=False)
    search_tsv: Mapped[Any] = search_tsv_column("coalesce(speaker, '') || ' ' || coalesce(text, '')")

    # Loaded with the turns (one query per load, not one per turn): every
    # search hit and listing of a turn names its conversation.
    session: Mapped[ConversationSession] = relationship(lazy="selectin")


class Embedding(Base):
    """One vector per memory item and model; a missing row means 'pending'."""

    __tablename__ = "embeddings"
    __table_args__ = (
        UniqueConstraint("owner_id", "source_type", "source_id", "model", name="uq_embeddings_item_model"),
        CheckConstraint(
            "source_type IN ('observation', 'pattern', 'concept', 'document', 'turn')", name="ck_embeddings_source_type"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[uuid.UUID] = owner_column()
    source_type: Mapped[str] = mapped_column(String(20), nullable=False)
    source_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    model: Mapped[str] = mapped_column(String(100), nullable=False)
    # Dimension-less so several models can coexist; each known model gets a
    # partial HNSW index over an expression cast to its dimension.
    vector: Mapped[Any] = mapped_column(Vector(), nullable=False)
    created_at: Mapped[datetime] = created_column()


class EmbeddingSketch(Base):
    """The sign of each dimension of an embedding (pgvector's
    ``binary_quantize``), kept beside it by triggers on ``embeddings``
    (migration 0013); the app never writes it. An exact search ranks the
    owner's sketches, read from one covering index (48 bytes a vector
    instead of a 1.5 KB row), by Hamming distance and measures only a
    shortlist of the closest exactly (memory/vector_plan.py)."""

    __tablename__ = "embedding_sketches"
    __table_args__ = (
        Index(
            "ix_embedding_sketches_owner_model",
            "owner_id",
            "model",
            postgresql_include=["embedding_id", "source_type", "signs"],
        ),
    )

    embedding_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("embeddings.id", ondelete="CASCADE"), primary_key=True
    )
    # Copies of the embedding's, so the search's first pass never reads it.
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    model: Mapped[str] = mapped_column(String(100), nullable=False)
    source_type: Mapped[str] = mapped_column(String(20), nullable=False)
    signs: Mapped[Any] = mapped_column(BIT(varying=True), nullable=False)


class AuditEvent(Base):
    """Who did what, when and from where — never memory content or secrets."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_actor_time", "actor_user_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    occurred_at: Mapped[datetime] = created_column()
    event: Mapped[str] = mapped_column(String(50), nullable=False)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    targets: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(64))


class RateLimitCounter(Base):
    """Rate-limit counters shared by every process (RATE_LIMIT_STORAGE_URI=database).

    UNLOGGED: no WAL flush per request; a database crash only resets limits."""

    __tablename__ = "rate_limit_counters"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[float] = mapped_column(Float, nullable=False)  # Unix time


class ImportJob(Base):
    """One import into an account, from the account page or the CLI.

    A page upload waits here as ``previewed`` (with its file) until the person
    confirms; while ``running``, ``done_count`` is its progress, then
    ``embedded_count`` of ``embedding_count`` while its memories get their
    vectors (set once its records are in). The file is dropped once the
    import is done, and unconfirmed uploads after a day."""

    __tablename__ = "import_jobs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = owner_column()
    file_name: Mapped[str] = mapped_column(String(300), nullable=False)
    # memorygate, mcp-memory, chatgpt, claude-ai or claude-code
    source: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # previewed, running, done, failed
    content: Mapped[str | None] = mapped_column(Text)
    plan: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    total_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    done_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    embedding_count: Mapped[int | None] = mapped_column(Integer)
    embedded_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    # Each claim's number: only the run holding the latest may finish the job.
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class ForgottenMemory(Base):
    """A memory forgotten on the account page, as it was, for its short undo
    window (memory/undo.py); deleted for good when the window ends."""

    __tablename__ = "forgotten_memories"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = owner_column()
    ref: Mapped[str] = mapped_column(String(40), nullable=False)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)


# Few rows name a member (stored_by): deleting an account finds its rows through these.
for _stored in (Observation, Pattern, Concept, Document, Turn):
    Index(
        f"ix_{_stored.__tablename__}_stored_by",
        _stored.stored_by,
        postgresql_where=text("stored_by IS NOT NULL"),
    )
