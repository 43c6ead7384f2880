"""Conversations as memory: turns appended as they are said, found by meaning
and words with the turns around them, private text never kept, capture that
the person can turn off, and a conversation forgotten whole."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update

from models import Embedding, Turn
from oauth_models import User
from tests.support import call, call_error, new_user, session_scope, tool_client

pytestmark = pytest.mark.tools  # the tool tier: scripts/check runs it

DINNER = [
    {"speaker": "Caroline", "text": "Hey Mel, how was your weekend?", "occurred_at": "2023-05-08T13:56:00"},
    {"speaker": "Melanie", "text": "We went camping by the lake with the kids.", "occurred_at": "2023-05-08T13:57:00"},
    {"speaker": "Caroline", "text": "Lovely! I adopted a rescue greyhound called Biscuit.", "id": "c-3"},
    {"speaker": "Melanie", "text": "Oh wow, how is Biscuit settling in?", "id": "m-4"},
    {"speaker": "Caroline", "text": "He sleeps all day on the sofa.", "id": "c-5"},
]


def _turn_count(owner) -> int:
    with session_scope() as db:
        return db.execute(select(func.count()).select_from(Turn).where(Turn.owner_id == owner)).scalar_one()


async def test_appended_turns_are_found_by_meaning_and_words_with_their_neighbours(local_embedder):
    owner, _ = new_user("turns")
    async with tool_client(owner, embedder=local_embedder) as client:
        appended = await call(
            client, "memory_append_turns", conversation_id="chat-1", turns=DINNER, title="Catching up"
        )
        assert appended["conversation_id"] == "chat-1"
        assert len(appended["appended"]) == 5 and appended["embedding"] == "indexed"
        by_meaning = await call(client, "memory_search", query="which pet did she get", source_types=["turn"])
        by_words = await call(client, "memory_search", query="greyhound Biscuit", limit=1)
        whole = await call(client, "memory_get", ref=appended["appended"][2])
    best = by_meaning["results"][0]
    assert best["ref"] == appended["appended"][2] and best["matched"] in ("meaning", "both")
    assert best["speaker"] == "Caroline" and best["conversation_id"] == "chat-1" and best["position"] == 2
    assert by_words["results"][0]["ref"] == appended["appended"][2]
    assert whole["text"] == "Lovely! I adopted a rescue greyhound called Biscuit."
    assert whole["occurred_at"][:10] == datetime.now(UTC).date().isoformat()  # no time given: when it was appended
    assert [n["position"] for n in whole["neighbours"]] == [0, 1, 3, 4]
    assert whole["neighbours"][1]["text"] == "We went camping by the lake with the kids."
    assert whole["neighbours"][0]["occurred_at"].startswith("2023-05-08T13:56:00")


async def test_sending_a_transcript_again_adds_nothing_and_new_turns_follow_in_order(local_embedder):
    owner, _ = new_user("again")
    async with tool_client(owner, embedder=local_embedder) as client:
        keyed = [turn for turn in DINNER if "id" in turn]
        first = await call(client, "memory_append_turns", conversation_id="chat-2", turns=keyed)
        again = await call(client, "memory_append_turns", conversation_id="chat-2", turns=keyed)
        later = await call(
            client,
            "memory_append_turns",
            conversation_id="chat-2",
            turns=[*keyed, {"speaker": "Melanie", "text": "Ha, typical greyhound.", "id": "m-6"}],
        )
        page = await call(client, "memory_conversation", conversation_id="chat-2", limit=2, offset=2)
    assert len(first["appended"]) == 3
    assert again["appended"] == [] and again["already_stored"] == 3
    assert len(later["appended"]) == 1 and later["already_stored"] == 3
    assert page["count"] == 2 and page["has_more"] is False
    assert [turn["position"] for turn in page["turns"]] == [2, 3]
    assert page["turns"][1]["text"] == "Ha, typical greyhound."
    assert _turn_count(owner) == 4


async def test_private_text_is_never_stored(local_embedder):
    owner, _ = new_user("private")
    async with tool_client(owner, embedder=local_embedder) as client:
        appended = await call(
            client,
            "memory_append_turns",
            conversation_id="chat-3",
            turns=[
                {"speaker": "user", "text": "My PIN is <private>4921</private> and I like <PRIVATE>x\ny</private>tea"},
                {"speaker": "user", "text": "<private>my whole diagnosis</private>"},
                {"speaker": "user", "text": "Remember this <private>but not the rest, never closed"},
            ],
        )
        found = await call(client, "memory_search", query="4921 diagnosis closed", min_similarity=0.0)
    assert appended["private_only"] == 1 and len(appended["appended"]) == 2
    with session_scope() as db:
        kept = sorted(db.scalars(select(Turn.text).where(Turn.owner_id == owner)))
    assert kept == ["My PIN is  and I like tea", "Remember this"]
    assert not [hit for hit in found["results"] if hit["type"] == "turn" and "4921" in hit["text"]]


async def test_bad_turns_are_refused_by_field_and_add_nothing(local_embedder):
    owner, _ = new_user("bad-turns")
    good = {"speaker": "user", "text": "fine"}
    async with tool_client(owner, embedder=local_embedder) as client:
        too_long = await call_error(
            client, "memory_append_turns", conversation_id="c", turns=[good, {"speaker": "u", "text": "x" * 20_001}]
        )
        bad_time = await call_error(
            client,
            "memory_append_turns",
            conversation_id="c",
            turns=[good, {"speaker": "u", "text": "y", "occurred_at": "yesterday-ish"}],
        )
        no_speaker = await call_error(client, "memory_append_turns", conversation_id="c", turns=[{"text": "z"}])
        unknown = await call_error(client, "memory_conversation", conversation_id="never-seen")
        forget_unknown = await call_error(client, "memory_forget_conversation", conversation_id="never-seen")
    assert too_long.startswith("turns[1].text ") and "\n" not in too_long
    assert "20000" in too_long.replace(",", "")
    assert "turns[1].occurred_at" in bad_time and "\n" not in bad_time
    assert "speaker" in no_speaker
    assert "No conversation found for conversation_id 'never-seen'" in unknown
    assert "never-seen" in forget_unknown
    assert _turn_count(owner) == 0


async def test_capture_turned_off_stores_nothing(local_embedder):
    owner, _ = new_user("no-capture")
    with session_scope() as db:
        db.execute(update(User).where(User.id == owner).values(capture_conversations=False))
    async with tool_client(owner, embedder=local_embedder) as client:
        refused = await call_error(client, "memory_append_turns", conversation_id="c", turns=DINNER)
    assert "capture is off" in refused
    assert _turn_count(owner) == 0


async def test_forgetting_a_conversation_takes_its_turns_and_vectors_and_nothing_else(local_embedder):
    owner, _ = new_user("forget")
    async with tool_client(owner, embedder=local_embedder) as client:
        await call(client, "memory_append_turns", conversation_id="keep", turns=DINNER[:2])
        await call(client, "memory_append_turns", conversation_id="drop", turns=DINNER[2:])
        fact = await call(client, "memory_store", observation="Has a greyhound", conversation_id="drop")
        forgotten = await call(client, "memory_forget_conversation", conversation_id="drop")
        found = await call(client, "memory_search", query="greyhound Biscuit sofa", min_similarity=0.0)
        left = await call(client, "memory_get", ref=fact["ref"])
    assert forgotten == {"forgotten": True, "conversation_id": "drop", "turns": 3}
    assert {hit["conversation_id"] for hit in found["results"] if hit["type"] == "turn"} <= {"keep"}
    assert left["text"] == "Has a greyhound"
    with session_scope() as db:
        vectors = db.execute(
            select(func.count()).where(Embedding.owner_id == owner, Embedding.source_type == "turn")
        ).scalar_one()
    assert _turn_count(owner) == 2 and vectors == 2


async def test_turns_are_private_to_their_owner(local_embedder):
    owner, _ = new_user("mine")
    other, _ = new_user("theirs")
    async with tool_client(owner, embedder=local_embedder) as client:
        appended = await call(client, "memory_append_turns", conversation_id="shared-name", turns=DINNER)
    async with tool_client(other, embedder=local_embedder) as client:
        found = await call(client, "memory_search", query="greyhound Biscuit", min_similarity=0.0)
        unknown = await call_error(client, "memory_conversation", conversation_id="shared-name")
        not_theirs = await call_error(client, "memory_get", ref=appended["appended"][0])
        # The same conversation id in another account is another conversation.
        own = await call(client, "memory_append_turns", conversation_id="shared-name", turns=DINNER[:1])
    assert found["results"] == []
    assert "No conversation found" in unknown and "No memory found" in not_theirs
    assert own["appended"] and own["appended"][0] not in appended["appended"]


async def test_a_turn_is_embedded_with_the_start_of_its_reply_even_when_the_reply_comes_later(local_embedder):
    owner, _ = new_user("replies")
    async with tool_client(owner, embedder=local_embedder) as client:
        first = await call(client, "memory_append_turns", conversation_id="c", turns=DINNER[:3])
        await call(client, "memory_append_turns", conversation_id="c", turns=DINNER[3:])
    with session_scope() as db:
        rows = db.execute(select(Turn.id, Turn.reply).where(Turn.owner_id == owner).order_by(Turn.position)).all()
        vectors = dict(
            db.execute(select(Embedding.source_id, Embedding.vector).where(Embedding.owner_id == owner)).all()
        )
    assert [reply for _, reply in rows] == [
        "Melanie: We went camping by the lake with the kids.",
        "Caroline: Lovely! I adopted a rescue greyhound called Biscuit.",
        "Melanie: Oh wow, how is Biscuit settling in?",  # the reply came in the next call
        "Caroline: He sleeps all day on the sofa.",
        None,
    ]
    third = rows[2][0]
    assert first["appended"][2] == f"turn:{third}"
    expected = local_embedder.embed(
        ["Caroline: Lovely! I adopted a rescue greyhound called Biscuit.\nMelanie: Oh wow, how is Biscuit settling in?"]
    )[0]
    assert sum(a * b for a, b in zip(vectors[third], expected, strict=True)) > 0.999  # embedded again with it


async def test_the_reply_to_a_matching_turn_ranks_just_after_it(local_embedder):
    """A question asked in a conversation matches the turn that asked it (a
    turn is embedded with its reply); the answer, the next turn, follows it."""
    owner, _ = new_user("replies-follow")
    said = [
        {"speaker": "Ana", "text": "Where are you going on holiday this summer?"},
        {"speaker": "Ben", "text": "Two weeks in August, by the sea near Lagos."},
        {"speaker": "Ana", "text": "Nice. Did you finish the quarterly report?"},
        {"speaker": "Ben", "text": "Yes, sent it on Friday."},
    ]
    async with tool_client(owner, embedder=local_embedder) as client:
        refs = (await call(client, "memory_append_turns", conversation_id="chat", turns=said))["appended"]
        found = await call(client, "memory_search", query="where is Ben going on holiday", explain=True)
        observations_only = await call(
            client, "memory_search", query="where is Ben going on holiday", source_types=["observation"]
        )
    first, second = found["results"][:2]
    assert first["ref"] == refs[0] and first["matched"] in ("meaning", "both")
    assert second["ref"] == refs[1] and second["matched"] == "reply" and second["reply_to"] == refs[0]
    assert second["score"] == round(first["score"] * 0.95, 4) and second["why"]["reply"] == 0.95
    assert observations_only["results"] == []  # a reply is only ever a turn's
