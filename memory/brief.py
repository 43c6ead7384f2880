"""The brief: what an agent should know right now, sized to a token budget.

Three sections, each line one memory with its ref and date, no memory twice:

- *About the person*: their most established patterns and facts (patterns
  by confidence; observations restated most, then most confident);
- *Changed since*: memories recorded, replaced or archived since this
  client's last conversation (or a given time; by default a week);
- *On the topic* (when one is given): the hybrid search's hits for it.

The budget (``max_tokens``, counted by ``memory.token_count``) is never
exceeded: whole lines are cut, and the answer says how many each section
left out and which tool pages on. Building a brief reads and changes
nothing (not even access counts), so the same memories give the same brief.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from core import audit
from core.errors import InvalidInput
from memory import hybrid_search, item_types, spaces, token_count
from memory import validation as check
from memory.embeddings import EmbeddingProvider
from memory.scope import Scope
from models import ConversationSession, Observation, Pattern

DEFAULT_MAX_TOKENS = 1_500
MIN_TOKENS = 100
MAX_TOKENS = 8_000
# A memory's text in a line (memory_get has it whole). Shorter lines fit
# more memories in a budget: LoCoMo dev turns, a 1,000-token brief on each
# question's topic held an evidence turn for 82.3 % of questions at 300
# characters (20.5 lines), 83.2 % at 200 (22.0), 84.2 % at 150 (24.1); 200
# keeps a long fact readable (most turns and observations are shorter).
LINE_CHARS = 200
CANDIDATES = 60  # per kind and section: more than any budget up to MAX_TOKENS shows
DEFAULT_SINCE = timedelta(days=7)


@dataclass
class Section:
    name: str
    heading: str
    lines: list[tuple[str, str]]  # (ref, rendered line)
    share: float
    more: str
    shown: list[str] = field(default_factory=list)

    @property
    def left_out(self) -> int:
        return len(self.lines) - len(self.shown)


def brief(
    db: Session,
    *,
    owner_id: spaces.Owners,
    embedder: EmbeddingProvider,
    topic: str | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    since: str | None = None,
    conversation_id: str | None = None,
    credential_id: uuid.UUID | None = None,
    viewer: uuid.UUID | None = None,
) -> dict[str, Any]:
    topic = check.text("topic", topic, max_chars=check.MAX_QUERY_CHARS, required=False)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not MIN_TOKENS <= max_tokens <= MAX_TOKENS:
        raise InvalidInput("max_tokens", f"must be a whole number from {MIN_TOKENS} to {MAX_TOKENS}")
    conversation_id = check.text("conversation_id", conversation_id, max_chars=500, required=False)
    given = check.moment("since", since) if since else None
    owners = spaces.owners(owner_id)
    start, basis = (given, "given") if given else _last_session(db, owners, credential_id, conversation_id)
    # Over several spaces, each line names its space.
    named_space = spaces.names(db, owners, viewer).get if len(owners) > 1 else None

    sections = []
    if topic:
        hits = _on_topic(db, owners=owners, embedder=embedder, topic=topic, viewer=viewer)
        named = item_types.shortened(" ".join(topic.split()), 100)  # one line: a topic cannot start a line of its own
        more = f'memory_search(query="{named}", limit=N) pages on'
        sections.append(Section("topic", f"## On “{named}”", hits, 0.5, more))
    changes = _changes(db, owners=owners, since=start, named_space=named_space)
    more = "memory_recall(since=...) and memory_search(since=...) list the rest"
    sections.append(
        Section("changes", f"## Changed since {start.date().isoformat()}", changes, 0.2 if topic else 0.4, more)
    )
    about = _about_the_person(db, owners=owners, named_space=named_space)
    sections.append(
        Section(
            "about",
            "## About the person",
            about,
            0.3 if topic else 0.6,
            "memory_patterns and memory_recall list the rest",
        )
    )

    _without_repeats(sections)
    text, used = _fit(sections, max_tokens)
    return {
        "text": text,
        "tokens": used,
        "max_tokens": max_tokens,
        "since": start.isoformat(),
        "since_basis": basis,
        "sections": [
            {"name": s.name, "shown": len(s.shown), "left_out": s.left_out, **({"more": s.more} if s.left_out else {})}
            for s in sections
        ],
    }


def _last_session(
    db: Session, owners: tuple[uuid.UUID, ...], credential_id: uuid.UUID | None, conversation_id: str | None
) -> tuple[datetime, str]:
    """When this client (its credential) was last active in a conversation
    other than the current one; else a week ago."""
    credential = (
        ConversationSession.credential_id.is_(None)
        if credential_id is None
        else ConversationSession.credential_id == credential_id
    )
    query = select(ConversationSession.last_active).where(ConversationSession.owner_id.in_(owners), credential)
    if conversation_id:
        query = query.where(ConversationSession.conversation_id != conversation_id)
    last = db.scalars(query.order_by(ConversationSession.last_active.desc()).limit(1)).first()
    if last is not None:
        return last, "your last conversation"
    # From the start of that day (UTC), so briefs within a day agree.
    week_ago = (datetime.now(UTC) - DEFAULT_SINCE).replace(hour=0, minute=0, second=0, microsecond=0)
    return week_ago, "a week ago (no earlier conversation)"


def _line(ref: str, when: datetime | str, text: str, prefix: str = "", space: str | None = None) -> tuple[str, str]:
    """One memory as one line: its ref, its space (when the brief spans
    several) and date, then its text on one line."""
    date = (when if isinstance(when, str) else when.isoformat())[:10]
    where = f"{ref} · {space}" if space else ref
    return ref, f"- {prefix}[{where} · {date}] {' '.join(item_types.shortened(text, LINE_CHARS).split())}"


SpaceNamer = Callable[[uuid.UUID], str | None] | None


def _space(named_space: SpaceNamer, item: item_types.MemoryItem) -> str | None:
    return named_space(item.owner_id) if named_space else None


def _about_the_person(db: Session, *, owners: tuple[uuid.UUID, ...], named_space: SpaceNamer) -> list[tuple[str, str]]:
    current = Scope()
    patterns = db.scalars(
        select(Pattern)
        .where(Pattern.owner_id.in_(owners), *[sql_text(c) for c in current.sql("pattern")])
        .order_by(Pattern.confidence.desc(), Pattern.last_updated.desc(), Pattern.id.desc())
        .limit(CANDIDATES)
    ).all()
    facts = db.scalars(
        select(Observation)
        .where(Observation.owner_id.in_(owners), *[sql_text(c) for c in current.sql("observation")])
        .order_by(
            Observation.seen_count.desc(),
            Observation.confidence.desc(),
            Observation.created_at.desc(),
            Observation.id.desc(),
        )
        .limit(CANDIDATES)
    ).all()
    lines = [
        _line(
            item_types.ref("pattern", p.id),
            p.last_updated,
            f"{p.pattern_name}: {p.pattern_text}",
            space=_space(named_space, p),
        )
        for p in patterns
    ]
    lines += [
        _line(
            item_types.ref("observation", o.id),
            o.occurred_at or o.created_at,
            o.observation,
            space=_space(named_space, o),
        )
        for o in facts
    ]
    return lines


def _changes(
    db: Session, *, owners: tuple[uuid.UUID, ...], since: datetime, named_space: SpaceNamer
) -> list[tuple[str, str]]:
    """Recorded, replaced or archived since then, newest first; then what was forgotten."""
    found: list[tuple[datetime, str, int, str, item_types.MemoryItem]] = []
    for kind in item_types.CURATED:
        model = item_types.ITEM_MODELS[kind]
        mine = model.owner_id.in_(owners)
        recorded = db.scalars(
            select(model)
            .where(mine, model.created_at >= since, model.archived_at.is_(None))
            .order_by(model.created_at.desc(), model.id.desc())
            .limit(CANDIDATES)
        )
        for item in cast(Iterable[item_types.MemoryItem], recorded):
            if item_types.superseded_by(item) is not None:
                continue  # replaced again since: its newer version is listed
            replaced = getattr(item, "supersedes_id", None)
            verb = f"replaces {item_types.ref(kind, replaced)}: " if replaced else "new: "
            found.append((item.created_at, kind, item.id, verb, item))
        archived = db.scalars(
            select(model)
            .where(mine, model.archived_at >= since)
            .order_by(model.archived_at.desc(), model.id.desc())
            .limit(CANDIDATES)
        )
        for item in cast(Iterable[item_types.MemoryItem], archived):
            assert item.archived_at is not None
            found.append((item.archived_at, kind, item.id, "archived: ", item))
    found.sort(key=lambda change: change[:3], reverse=True)
    lines = [
        _line(item_types.ref(kind, item_id), when, _shown(item), verb, _space(named_space, item))
        for when, kind, item_id, verb, item in found
    ]
    # What was deleted leaves only its ref: said last, so it never crowds out what is there.
    lines += [
        _line(ref, when, "(deleted)", "forgotten: ", named_space(owner) if named_space else None)
        for owner in owners
        for ref, when in audit.forgotten_since(db, space=owner, since=since, limit=CANDIDATES)
    ]
    return lines


def _shown(item: item_types.MemoryItem) -> str:
    return _titled(item_types.title(item), item_types.content(item))


def _titled(title: str | None, text: str) -> str:
    return f"{title}: {text}" if title and title != text else text


def _on_topic(
    db: Session, *, owners: tuple[uuid.UUID, ...], embedder: EmbeddingProvider, topic: str, viewer: uuid.UUID | None
) -> list[tuple[str, str]]:
    found = hybrid_search.search(
        db, owner_id=owners, embedder=embedder, query=topic, limit=CANDIDATES // 2, count_reads=False, viewer=viewer
    )
    return [
        _line(
            hit["ref"],
            hit.get("occurred_at") or hit["recorded_at"],
            _titled(hit.get("title"), hit["text"]),
            space=hit.get("space"),
        )
        for hit in found["results"]
    ]


def _without_repeats(sections: list[Section]) -> None:
    """A memory appears once, in the first section (by priority) that has it."""
    seen: set[str] = set()
    for section in sections:
        section.lines = [(ref, line) for ref, line in section.lines if ref not in seen]
        seen.update(ref for ref, _ in section.lines)


def _fit(sections: list[Section], max_tokens: int) -> tuple[str, int]:
    """Whole lines within the budget: each section first up to its share,
    then what is left in priority order; shown in reading order."""
    headings = token_count.tokens([s.heading + "\n" for s in sections])
    costs = [token_count.tokens([line + "\n" for _, line in s.lines]) if s.lines else [] for s in sections]
    used = 0

    def take(index: int, limit: float) -> None:
        nonlocal used
        section = sections[index]
        while len(section.shown) < len(section.lines):
            cost = costs[index][len(section.shown)] + (0 if section.shown else headings[index])
            if used + cost > limit:
                return
            used += cost
            section.shown.append(section.lines[len(section.shown)][1])

    spent = 0.0
    for index, section in enumerate(sections):
        spent += section.share * max_tokens
        take(index, min(spent, max_tokens))
    for index in range(len(sections)):
        take(index, max_tokens)
    reading_order = sorted(sections, key=lambda s: ["about", "changes", "topic"].index(s.name))
    text = "\n".join(part for s in reading_order if s.shown for part in (s.heading, *s.shown))
    return text, used
