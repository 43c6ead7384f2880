"""Conversations as memory: turns appended as they are said, read in order or
around one turn, and forgotten a conversation at a time.

A turn is a memory of its own kind (``turn:17``): embedded and indexed for
words like the others, archived and retained like them. Text inside
``<private>…</private>`` is cut before anything is checked or stored, and an
account that turned capture off stores nothing. Every function takes the
owner explicitly (keyword-only) and filters every query on it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import audit
from core.errors import Conflict, InvalidInput, NotFound
from memory import conversations, indexing, item_types
from memory import validation as check
from models import ConversationSession, Embedding, Turn
from oauth_models import User

MAX_TURN_CHARS = 20_000
MAX_TURNS_PER_APPEND = 500
MAX_CONVERSATION_ID_CHARS = 500
MAX_SOURCE_KEY_CHARS = 200
NEIGHBOURS_EACH_SIDE = 2
# A turn is embedded with this much of the reply that followed it: a
# question is often answered in the reply to the turn it asks about.
# LoCoMo dev, all-MiniLM-L6-v2, vector search alone, hit@5 / hit@25 on the
# two halves of the conversations: the turn alone 39.8 / 69.9 and 41.9 / 64.6;
# with 60 characters of the reply 46.4 / 75.8 and 45.1 / 70.2; with 120
# 45.9 / 75.0 and 42.5 / 71.3; with the previous turn instead 41.7 / 67.9 (all).
REPLY_CHARS = 60
NEIGHBOUR_TEXT_CHARS = 500
# A closed tag cuts what it holds; an unclosed one cuts to the end, so a
# forgotten closing tag never leaks what it meant to hide.
_PRIVATE = re.compile(r"<private>.*?(?:</private>|\Z)", re.IGNORECASE | re.DOTALL)


def without_private(text: str) -> str:
    return _PRIVATE.sub("", text)


@dataclass(frozen=True)
class NewTurn:
    speaker: str
    text: str
    occurred_at: datetime | None
    source_key: str | None


class TurnInput(BaseModel):
    """One turn as it was said."""

    model_config = ConfigDict(extra="forbid")

    speaker: str = Field(max_length=check.MAX_NAME_CHARS, description="Who said it, e.g. 'user' or 'assistant'.")
    text: str = Field(
        max_length=MAX_TURN_CHARS,
        description="What was said. Anything inside <private>…</private> is cut before storing.",
    )
    occurred_at: str | None = Field(None, max_length=40, description="When it was said (ISO 8601). Default: now.")
    id: str | None = Field(
        None,
        max_length=MAX_SOURCE_KEY_CHARS,
        description="Your id for this turn: appending a turn whose id the conversation holds adds nothing.",
    )


def parse_turns(value: Any, *, field: str = "turns") -> tuple[list[NewTurn], int]:
    """The turns to append, checked whole before anything is written, and
    how many said nothing once their private parts were cut."""
    if not isinstance(value, list) or not value:
        raise InvalidInput(field, "must be a non-empty list of turns")
    if len(value) > MAX_TURNS_PER_APPEND:
        raise InvalidInput(field, f"holds {len(value)} turns; the limit is {MAX_TURNS_PER_APPEND} per call")
    parsed, emptied = [], 0
    for index, raw in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(raw, dict):
            raise InvalidInput(where, "must be an object with speaker and text")
        unknown = sorted(set(raw) - {"speaker", "text", "occurred_at", "id"})
        if unknown:
            raise InvalidInput(f"{where}.{unknown[0]}", "is not a turn field (speaker, text, occurred_at, id)")
        speaker = check.required_text(f"{where}.speaker", raw.get("speaker"), max_chars=check.MAX_NAME_CHARS)
        said = check.required_text(f"{where}.text", raw.get("text"), max_chars=MAX_TURN_CHARS)
        occurred_at = check.moment(f"{where}.occurred_at", raw.get("occurred_at"))
        source_key = check.text(f"{where}.id", raw.get("id"), max_chars=MAX_SOURCE_KEY_CHARS, required=False)
        kept = without_private(said).strip()
        if not kept:
            emptied += 1
            continue
        parsed.append(NewTurn(speaker, kept, occurred_at, source_key))
    return parsed, emptied


def capture_on(db: Session, *, owner_id: uuid.UUID) -> bool:
    return bool(db.execute(select(User.capture_conversations).where(User.id == owner_id)).scalar_one_or_none())


def append(
    db: Session,
    *,
    owner_id: uuid.UUID,
    conversation_id: str,
    turns: Any,
    title: str | None = None,
    ai_name: str | None = None,
    ai_platform: str | None = None,
    credential_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Append turns to a conversation (made on first use), in order after
    the ones it has; a turn whose ``id`` the conversation already holds is
    skipped, so sending a transcript again adds nothing."""
    conversation_id = check.required_text("conversation_id", conversation_id, max_chars=MAX_CONVERSATION_ID_CHARS)
    title = check.text("title", title, max_chars=check.MAX_TITLE_CHARS, required=False)
    new_turns, emptied = parse_turns(turns)
    if not capture_on(db, owner_id=owner_id):
        raise Conflict(
            "Conversation capture is off for this account (Conversations, on the account page); nothing was stored"
        )
    # Unnamed, the conversation keeps the AI it was registered with.
    named = ai_name is not None or ai_platform is not None
    instance = (
        conversations.upsert_ai_instance(db, owner_id=owner_id, name=ai_name, platform=ai_platform) if named else None
    )
    # The upsert locks the conversation's row until this transaction ends:
    # appends to one conversation take turns, so positions never collide.
    session = conversations.upsert_session(
        db,
        owner_id=owner_id,
        conversation_id=conversation_id,
        title=title,
        ai_instance=instance,
        credential_id=credential_id,
    )
    held = _held_keys(db, session_id=session.id, keys=[t.source_key for t in new_turns if t.source_key])
    position = db.execute(
        select(func.coalesce(func.max(Turn.position) + 1, 0)).where(Turn.session_id == session.id)
    ).scalar_one()
    now = datetime.now(UTC)
    added: list[Turn] = []
    for turn in new_turns:
        if turn.source_key is not None:
            if turn.source_key in held:
                continue
            held.add(turn.source_key)
        row = Turn(
            owner_id=owner_id,
            session_id=session.id,
            position=position,
            speaker=turn.speaker,
            text=turn.text,
            occurred_at=turn.occurred_at or now,
            source_key=turn.source_key,
        )
        db.add(row)
        added.append(row)
        position += 1
    db.flush()
    replies = link_replies(db, owner_id=owner_id, session_ids=[session.id])
    for row in added:
        if row.id in replies:  # set in SQL: the loaded row learns it without a read
            set_committed_value(row, "reply", replies[row.id])
    earlier_ids = set(replies) - {row.id for row in added}  # the turn these answered, embedded again
    fresh = select(Turn).where(Turn.id.in_(earlier_ids)).execution_options(populate_existing=True)
    earlier = list(db.scalars(fresh)) if earlier_ids else []
    for row in [*earlier, *added]:
        indexing.index_after_commit(db, row)
    return {
        "conversation_id": session.conversation_id,
        "appended": [item_types.ref("turn", row.id) for row in added],
        "already_stored": len(new_turns) - len(added),
        "private_only": emptied,
    }


def link_replies(db: Session, *, owner_id: uuid.UUID, session_ids: list[int]) -> dict[int, str]:
    """Give each turn of these conversations that has none the start of the
    turn after it (its ``reply``); returns the turns given one (id: reply),
    whose vectors are now out of date."""
    if not session_ids:
        return {}
    statement = sql_text(
        "UPDATE turns AS t SET reply = n.speaker || ': ' || left(n.text, :chars) FROM turns AS n "
        "WHERE t.owner_id = :owner AND n.owner_id = :owner AND t.session_id = ANY(:sessions) "
        "AND n.session_id = t.session_id AND n.position = t.position + 1 AND t.reply IS NULL RETURNING t.id, t.reply"
    )
    found = db.execute(statement, {"owner": owner_id, "sessions": session_ids, "chars": REPLY_CHARS})
    return {turn_id: reply for turn_id, reply in found}


def _held_keys(db: Session, *, session_id: int, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    query = select(Turn.source_key).where(Turn.session_id == session_id, Turn.source_key.in_(keys))
    return {key for key in db.scalars(query) if key is not None}


def _conversation(db: Session, *, owner_id: uuid.UUID, conversation_id: Any) -> ConversationSession:
    conversation_id = check.required_text("conversation_id", conversation_id, max_chars=MAX_CONVERSATION_ID_CHARS)
    found = db.scalars(
        select(ConversationSession).where(
            ConversationSession.owner_id == owner_id, ConversationSession.conversation_id == conversation_id
        )
    ).one_or_none()
    if found is None:
        raise NotFound(f"No conversation found for conversation_id {conversation_id!r}")
    return found


def _turn_line(turn: Turn, *, chars: int | None = None) -> dict[str, Any]:
    return {
        "ref": item_types.ref("turn", turn.id),
        "position": turn.position,
        "speaker": turn.speaker,
        "text": item_types.shortened(turn.text, chars) if chars else turn.text,
        "occurred_at": turn.occurred_at.isoformat(),
    }


def read(db: Session, *, owner_id: uuid.UUID, conversation_id: Any, offset: Any = 0, limit: Any = 50) -> dict[str, Any]:
    """A page of a conversation's turns, in the order they were said."""
    offset = check.offset("offset", offset)
    limit = check.limit("limit", limit)
    session = _conversation(db, owner_id=owner_id, conversation_id=conversation_id)
    rows = list(
        db.scalars(
            select(Turn)
            .where(Turn.owner_id == owner_id, Turn.session_id == session.id)
            .order_by(Turn.position)
            .offset(offset)
            .limit(limit + 1)
        )
    )
    return {
        "conversation_id": session.conversation_id,
        "title": session.title,
        "count": min(len(rows), limit),
        "offset": offset,
        "has_more": len(rows) > limit,
        "turns": [_turn_line(row) for row in rows[:limit]],
    }


def neighbours(db: Session, *, owner_id: uuid.UUID, turn: Turn) -> list[dict[str, Any]]:
    """The turns just before and after this one, for context."""
    rows = db.scalars(
        select(Turn)
        .where(
            Turn.owner_id == owner_id,
            Turn.session_id == turn.session_id,
            Turn.position.between(turn.position - NEIGHBOURS_EACH_SIDE, turn.position + NEIGHBOURS_EACH_SIDE),
            Turn.id != turn.id,
        )
        .order_by(Turn.position)
    )
    return [_turn_line(row, chars=NEIGHBOUR_TEXT_CHARS) for row in rows]


def forget(db: Session, *, owner_id: uuid.UUID, conversation_id: Any) -> dict[str, Any]:
    """Delete a conversation's turns and their vectors, in one transaction;
    the conversation's record goes too (observations stored in it stay)."""
    session = _conversation(db, owner_id=owner_id, conversation_id=conversation_id)
    turn_ids = select(Turn.id).where(Turn.owner_id == owner_id, Turn.session_id == session.id)
    db.execute(
        delete(Embedding).where(
            Embedding.owner_id == owner_id, Embedding.source_type == "turn", Embedding.source_id.in_(turn_ids)
        )
    )
    removed = db.execute(delete(Turn).where(Turn.owner_id == owner_id, Turn.session_id == session.id))
    forgotten = int(removed.rowcount)  # type: ignore[attr-defined]
    db.delete(session)
    audit.record_in_space(
        db,
        audit.CONVERSATION_FORGOTTEN,
        space=owner_id,
        targets={"conversation_id": session.conversation_id, "turns": forgotten},
    )
    return {"forgotten": True, "conversation_id": session.conversation_id, "turns": forgotten}


def captured(db: Session, *, owner_id: uuid.UUID | list[uuid.UUID], limit: int = 100) -> list[dict[str, Any]]:
    """The conversations with turns kept (in one space or several), most
    recently active first, each with its space's id."""
    owners = [owner_id] if isinstance(owner_id, uuid.UUID) else owner_id
    rows = db.execute(
        select(
            ConversationSession.conversation_id,
            ConversationSession.title,
            func.count(Turn.id),
            func.min(Turn.occurred_at),
            func.max(Turn.occurred_at),
            ConversationSession.owner_id,
        )
        .join(Turn, Turn.session_id == ConversationSession.id)
        .where(ConversationSession.owner_id.in_(owners), Turn.owner_id.in_(owners))
        .group_by(ConversationSession.id)
        .order_by(func.max(Turn.occurred_at).desc())
        .limit(limit)
    ).all()
    return [
        {"conversation_id": row[0], "title": row[1], "turns": row[2], "first": row[3], "last": row[4], "space": row[5]}
        for row in rows
    ]
