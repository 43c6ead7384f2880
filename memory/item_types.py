"""The five searchable memory types and how each is shown and embedded.

A memory is addressed by a ref such as ``observation:42``. This module maps a
type name to its table, the text that gets embedded, and the dictionaries the
tools return, so every service speaks about items the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import exists, func, or_, select, true
from sqlalchemy.orm import Session

from models import Concept, ConceptRelationship, Document, Observation, Pattern, Turn

MemoryItem = Observation | Pattern | Concept | Document | Turn

ITEM_MODELS: dict[str, type[MemoryItem]] = {
    "observation": Observation,
    "pattern": Pattern,
    "concept": Concept,
    "document": Document,
    "turn": Turn,
}

# Search hits carry a memory's text up to this length; memory_get has it whole.
HIT_TEXT_CHARS = 2_000
MAX_ALIASES_SHOWN = 100


# Kinds an agent stores on purpose (a turn is kept as it was said).
CURATED: tuple[str, ...] = ("observation", "pattern", "concept", "document")

# Kinds with versions: a newer one replaces an older one, which is kept.
VERSIONED: tuple[str, ...] = ("observation", "pattern")


def superseded_by(item: MemoryItem) -> int | None:
    return item.superseded_by_id if isinstance(item, Observation | Pattern) else None


def _version_links(kind: str, item: Observation | Pattern) -> dict[str, str | None]:
    return {
        "supersedes": ref(kind, item.supersedes_id) if item.supersedes_id else None,
        "superseded_by": ref(kind, item.superseded_by_id) if item.superseded_by_id else None,
    }


def valid_until(db: Session, kind: str, items: Iterable[MemoryItem]) -> dict[int, datetime]:
    """When each replaced version stopped being true: when the version that
    replaced it became true (it happened, or else was recorded), by id."""
    newer_of = {item.superseded_by_id: item.id for item in items if isinstance(item, Observation | Pattern)}
    newer_of.pop(None, None)
    if not newer_of:
        return {}
    if kind == "observation":
        began = select(Observation.id, func.coalesce(Observation.occurred_at, Observation.created_at))
        rows = db.execute(began.where(Observation.id.in_(list(newer_of))))
    else:
        rows = db.execute(select(Pattern.id, Pattern.created_at).where(Pattern.id.in_(list(newer_of))))
    return {newer_of[newer_id]: when for newer_id, when in rows}


def get(db: Session, kind: str, item_id: int) -> MemoryItem | None:
    """The item of this type and id (callers check the owner)."""
    return cast(MemoryItem | None, db.get(ITEM_MODELS[kind], item_id, populate_existing=True))


def ref(kind: str, item_id: int) -> str:
    return f"{kind}:{item_id}"


def kind_of(item: MemoryItem) -> str:
    for kind, model in ITEM_MODELS.items():
        if isinstance(item, model):
            return kind
    raise TypeError(f"not a memory item: {type(item).__name__}")


# The columns embedding_text reads, so the backfill loads no others: a
# value elsewhere in a row that cannot be read back must not stop indexing.
EMBEDDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "observation": ("observation",),
    "pattern": ("category", "pattern_name", "pattern_text"),
    "concept": ("name", "type", "description"),
    "document": ("title", "content_summary"),
    "turn": ("speaker", "text", "reply"),
}


def has_meaning(kind: str) -> Any:
    """SQL: the rows of ``kind`` that are embedded (embedding_text is not None)."""
    if kind == "concept":
        related = exists().where(
            or_(ConceptRelationship.from_concept_id == Concept.id, ConceptRelationship.to_concept_id == Concept.id)
        )
        return (func.coalesce(func.btrim(Concept.description), "") != "") | related
    return true()


def embedding_text(item: MemoryItem, said: list[str] | None = None) -> str | None:
    """What a memory's vector is made from; ``said``: a concept's statements.

    None for a concept that is only a name (no description, no
    relationships): a bare name's vector is close to every question that
    mentions the name ("Ann" scored above "Ann: likes tea" for "what does Ann
    drink") and, with a strong model, to words that only look like it
    ("annual report"), so it has none: it is found by its name, as words.
    A concept's relationships are part of what it means, so "where does Ann
    live" finds the concept whose relationship says so."""
    if isinstance(item, Observation):
        return item.observation
    if isinstance(item, Pattern):
        return f"{item.category}: {item.pattern_name}. {item.pattern_text}"
    if isinstance(item, Concept):
        parts = [(item.description or "").strip(), *(f"{sentence}." for sentence in said or [])]
        if not any(parts):
            return None
        return f"{item.name} ({item.type}). " + " ".join(part for part in parts if part)
    if isinstance(item, Turn):
        line = f"{item.speaker}: {item.text}"
        return f"{line}\n{item.reply}" if item.reply else line
    return f"{item.title}. {item.content_summary}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def content(item: MemoryItem) -> str:
    if isinstance(item, Observation):
        return item.observation
    if isinstance(item, Pattern):
        return item.pattern_text
    if isinstance(item, Concept):
        return item.description or item.name
    if isinstance(item, Turn):
        return item.text
    return item.content_summary


def title(item: MemoryItem) -> str | None:
    if isinstance(item, Pattern):
        return f"{item.category}/{item.pattern_name}"
    if isinstance(item, Concept):
        return item.name
    if isinstance(item, Document):
        return item.title
    return None


def confidence(item: MemoryItem) -> float | None:
    return item.confidence if isinstance(item, Observation | Pattern) else None


def domain(item: MemoryItem) -> str | None:
    """Observations and concepts have a domain; a pattern's category plays that role."""
    if isinstance(item, Observation | Concept):
        return item.domain
    if isinstance(item, Pattern):
        return item.category
    return None


def timestamp(item: MemoryItem) -> datetime:
    if isinstance(item, Pattern):
        return item.last_updated
    return item.created_at


def shortened(text: str, limit: int = HIT_TEXT_CHARS) -> str:
    """The text within ``limit`` characters, cut between words where there
    is a space in its last fifth, and marked with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    cut = cut if cut >= limit * 0.8 else limit - 1
    return text[:cut].rstrip() + "…"


def summary(item: MemoryItem) -> dict[str, Any]:
    """The short form used in search results: each field once."""
    kind = kind_of(item)
    return {
        "ref": ref(kind, item.id),
        "type": kind,
        "title": title(item),
        "text": shortened(content(item)),
        "confidence": confidence(item),
        "domain": domain(item),
        "recorded_at": _iso(timestamp(item)),
        "occurred_at": _iso(getattr(item, "occurred_at", None)),
        "superseded_by": ref(kind, newer) if (newer := superseded_by(item)) else None,
        **(_turn_place(item) if isinstance(item, Turn) else {}),
    }


def _turn_place(item: Turn) -> dict[str, Any]:
    """Who said a turn, and where: the conversation and its place in it."""
    return {"speaker": item.speaker, "conversation_id": item.session.conversation_id, "position": item.position}


def observation_dict(item: Observation, until: datetime | None = None) -> dict[str, Any]:
    """``until``: when it stopped being true, if it was replaced (valid_until)."""
    return {
        "type": "observation",
        "ref": ref("observation", item.id),
        "id": item.id,
        "text": item.observation,
        "confidence": item.confidence,
        "domain": item.domain,
        "evidence": item.evidence,
        "ai_name": item.ai_instance.name if item.ai_instance else None,
        "ai_platform": item.ai_instance.platform if item.ai_instance else None,
        "conversation_id": item.session.conversation_id if item.session else None,
        "created_at": _iso(item.created_at),
        "occurred_at": _iso(item.occurred_at),
        "access_count": item.access_count,
        "last_accessed": _iso(item.last_accessed),
        "seen_count": item.seen_count,
        "last_seen_at": _iso(item.last_seen_at),
        **_version_links("observation", item),
        "valid_until": _iso(until),
    }


def pattern_dict(item: Pattern, until: datetime | None = None) -> dict[str, Any]:
    """``until``: when it stopped being true, if it was replaced (valid_until)."""
    return {
        "type": "pattern",
        "ref": ref("pattern", item.id),
        "id": item.id,
        "category": item.category,
        "pattern_name": item.pattern_name,
        "text": item.pattern_text,
        "confidence": item.confidence,
        "evidence_observation_ids": item.evidence_observation_ids,
        "created_at": _iso(item.created_at),
        "last_updated": _iso(item.last_updated),
        **_version_links("pattern", item),
        "valid_until": _iso(until),
    }


def concept_dict(item: Concept) -> dict[str, Any]:
    return {
        "type": "concept",
        "ref": ref("concept", item.id),
        "id": item.id,
        "name": item.name,
        "concept_type": item.type,
        "text": item.description,
        "domain": item.domain,
        "status": item.status,
        "metadata": item.metadata_,
        "aliases": sorted(alias.alias for alias in item.aliases)[:MAX_ALIASES_SHOWN],
        "alias_count": len(item.aliases),
        "created_at": _iso(item.created_at),
        "updated_at": _iso(item.updated_at),
    }


def document_dict(item: Document) -> dict[str, Any]:
    return {
        "type": "document",
        "ref": ref("document", item.id),
        "id": item.id,
        "title": item.title,
        "doc_type": item.doc_type,
        "url": item.url,
        "text": item.content_summary,
        "key_concepts": item.key_concepts,
        "publication_date": item.publication_date.isoformat() if item.publication_date else None,
        "metadata": item.metadata_,
        "created_at": _iso(item.created_at),
    }


def turn_dict(item: Turn) -> dict[str, Any]:
    return {
        "type": "turn",
        "ref": ref("turn", item.id),
        "id": item.id,
        "text": item.text,
        **_turn_place(item),
        "occurred_at": _iso(item.occurred_at),
        "created_at": _iso(item.created_at),
    }


def full(item: MemoryItem, until: datetime | None = None) -> dict[str, Any]:
    """The whole memory; ``until``: when a replaced version stopped being true."""
    if isinstance(item, Observation):
        return observation_dict(item, until)
    if isinstance(item, Pattern):
        return pattern_dict(item, until)
    if isinstance(item, Concept):
        return concept_dict(item)
    if isinstance(item, Turn):
        return turn_dict(item)
    return document_dict(item)
