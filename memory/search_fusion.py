"""How hybrid search ranks its candidates: pure arithmetic, no database.

Each candidate's score fuses its cosine similarity with its keyword score
(``fuse``); candidates are ranked, optionally scaled by their age
(``favour_recent``), and the best that clear the relevance floor are kept
(``strong_matches``) and shown (``hit``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from memory import item_types
from memory.query_dates import Period

# Matches of every word outrank matches of some words.
ALL_TERMS_BOOST = 1.0
REPLY_SHARE = 0.95  # of the score of the turn a reply answers
REPLIES_FOLLOWED = 5
# A memory from the period the query names (query_dates) scores this much
# more; a day named reaches PERIOD_SLACK_DAYS either side of it, since what
# was said on a day is often about the days around it ("last weekend"). On
# LoCoMo dev (bench/recall_quality.py) recall@5 rose 57.6 -> 59.4 % on
# observations and 70.0 -> 71.7 % on turns, on each half of the file by
# 1.1 to 2.2 points; a boost of 0.1 gave less, 0.4 the same.
PERIOD_BOOST = 0.2
PERIOD_SLACK_DAYS = 3
Items = dict[tuple[str, int], item_types.MemoryItem]


@dataclass
class Candidate:
    kind: str
    item_id: int
    score: float = 0.0
    similarity: float | None = None
    keyword_rank: float | None = None
    recency: float | None = None  # the factor its age scaled the score by (favour_recent)
    reply_to: int | None = None  # the turn it answers, when it ranks as that turn's reply (follow_replies)
    in_period: bool = False  # it happened in the period the query names (favour_period)


def fuse(candidates: Iterable[Candidate], *, semantic_weight: float) -> None:
    """Each candidate's score: its cosine similarity and its keyword score,
    weighted ``semantic_weight`` : 1 − it (the model's: its cosines'
    spread decides how much a difference in them should count).

    Scores, not ranks: reciprocal rank fusion gave the 40th keyword match as
    much as the 40th neighbour however weak either was. The keyword score is
    the share of the query's word weight matched (word_weights), plus
    ALL_TERMS_BOOST when every word is, so it means the same in every search
    and is taken as it is, on a 0–1 scale: scaling it by the search's best
    made a match of a name alone count as fully as a match of the question.
    On LoCoMo (bench/recall_quality.py, development file) weighted words and
    this fusion lifted R@5 by 2.7 points on observations and 1.1 on turns
    over ranking by PostgreSQL's ts_rank_cd scaled by the best; scoring every
    candidate on both sides (the keyword side's ``also`` and its
    distances) by 2.0 and 5.5 more."""
    for candidate in candidates:
        keyword = (candidate.keyword_rank or 0.0) / (1.0 + ALL_TERMS_BOOST)
        candidate.score = semantic_weight * (candidate.similarity or 0.0) + (1 - semantic_weight) * keyword


def ranked_best_first(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Best first; ties broken by type and id, so identical searches rank identically."""
    return sorted(candidates, key=lambda c: (-c.score, c.kind, c.item_id))


def clears_floor(candidate: Candidate, floor: float) -> bool:
    """Close enough in meaning, or holding every word of the query (or it
    ranks as the reply of a turn that did)."""
    all_words = candidate.keyword_rank is not None and candidate.keyword_rank >= ALL_TERMS_BOOST
    close = candidate.similarity is not None and candidate.similarity >= floor
    return floor == 0.0 or all_words or close or candidate.reply_to is not None


def follow_replies(
    candidates: dict[tuple[str, int], Candidate], asking: list[Candidate], replies: dict[int, int]
) -> None:
    """A turn's reply ranks just after it (REPLY_SHARE of its score, unless
    it scores more on its own): a turn is embedded with its reply, so a
    question matches the turn that asked and the answer is the next one
    ("what pet do you have?" / "a greyhound called Biscuit"). ``asking``:
    the turns whose replies follow them (matching_turns); ``replies`` maps a
    turn to the next one of its conversation. On LoCoMo's dialogue turns
    this lifted recall@5 by 7.0 and 5.2 points on the two halves of the
    development file."""
    for turn in asking:
        reply_id = replies.get(turn.item_id)
        if reply_id is None:
            continue
        reply = candidates.setdefault(("turn", reply_id), Candidate("turn", reply_id))
        carried = turn.score * REPLY_SHARE
        if carried > reply.score:
            reply.score, reply.reply_to = carried, turn.item_id


def matching_turns(ranked: list[Candidate], *, floor: float) -> list[Candidate]:
    """The REPLIES_FOLLOWED best turns that clear the floor (whose replies follow them)."""
    return [c for c in ranked if c.kind == "turn" and clears_floor(c, floor)][:REPLIES_FOLLOWED]


def favour_period(ranked: list[Candidate], items: Items, period: Period) -> list[Candidate]:
    """Raise by PERIOD_BOOST the score of each memory that happened (by
    occurred_at, else when it was recorded) in ``period``, widened by
    PERIOD_SLACK_DAYS each side: a question naming a day or a month is
    about what happened then, though the words of a memory rarely say when."""
    for candidate in ranked:
        item = items.get((candidate.kind, candidate.item_id))
        if item is not None and period.holds(_when(item), slack_days=PERIOD_SLACK_DAYS):
            candidate.in_period = True
            candidate.score *= 1 + PERIOD_BOOST
    return ranked_best_first(ranked)


def favour_recent(ranked: list[Candidate], items: Items, *, half_life_days: float) -> list[Candidate]:
    """Scale each score by 0.5 ** (age / half-life): a memory half_life_days
    old (by when it happened, else when it was recorded) counts half as much
    as one from today."""
    now = datetime.now(UTC)
    for candidate in ranked:
        item = items.get((candidate.kind, candidate.item_id))
        if item is None:
            continue
        age_days = max(0.0, (now - _when(item)).total_seconds() / 86400)
        candidate.recency = 0.5 ** (age_days / half_life_days)
        candidate.score *= candidate.recency
    return ranked_best_first(ranked)


def _when(item: item_types.MemoryItem) -> datetime:
    """When it happened, if it says, else when it was recorded."""
    occurred: datetime | None = getattr(item, "occurred_at", None)
    return occurred or item.created_at


def strong_matches(
    ranked: list[Candidate], *, floor: float, limit: int, load: Callable[[list[Candidate]], Items]
) -> tuple[list[tuple[Candidate, item_types.MemoryItem]], int]:
    """The best ``limit`` candidates whose memory is in the search's scope
    and clears the relevance floor, with their memories, and how many weaker
    ones ranked among them were left out.

    A candidate clears the floor when its meaning is close enough
    (similarity at or above it) or it contains every word of the query (or
    it ranks as the reply of a turn that did). Matching some words is not
    enough on its own: a word like "user" or a person's name appears in much
    of a memory and says little about relevance. Memories are read a window at a time in rank order, so a
    search reads about twice ``limit`` of them, not every candidate.
    """
    kept: list[tuple[Candidate, item_types.MemoryItem]] = []
    dropped = 0
    step = 2 * limit
    for start in range(0, len(ranked), step):
        window = ranked[start : start + step]
        items = load(window)
        for candidate in window:
            item = items.get((candidate.kind, candidate.item_id))
            if item is None:  # outside the scope, or gone
                continue
            if clears_floor(candidate, floor):
                kept.append((candidate, item))
                if len(kept) == limit:
                    return kept, dropped
            else:
                dropped += 1
    return kept, dropped


def hit(
    item: item_types.MemoryItem,
    candidate: Candidate,
    *,
    floor: float,
    semantic_weight: float,
    explain: bool = False,
) -> dict[str, Any]:
    """One search result: what it is, its text once, and why it ranked:
    by meaning (similarity at the floor or above), by keywords, or both;
    with ``explain``, the parts its score is made of."""
    by_meaning = candidate.similarity is not None and candidate.similarity >= floor
    by_keywords = candidate.keyword_rank is not None
    matched = "both" if by_meaning and by_keywords else "keywords" if by_keywords else "meaning"
    if candidate.reply_to is not None:
        matched = "reply"
    hit = item_types.summary(item)
    hit.update(score=round(candidate.score, 4), matched=matched, similarity=candidate.similarity)
    if candidate.reply_to is not None:
        hit["reply_to"] = item_types.ref("turn", candidate.reply_to)
    if explain:
        hit["why"] = why(candidate, semantic_weight=semantic_weight)
    if hit["text"] == hit["title"]:  # a concept without a description: its name is its text
        del hit["title"]
    return {name: value for name, value in hit.items() if value is not None}


def why(candidate: Candidate, *, semantic_weight: float) -> dict[str, Any]:
    """The parts of a candidate's score, as ``fuse``, ``favour_period`` and
    ``favour_recent`` made it: score = (meaning + keywords) × period × recency."""
    rank = candidate.keyword_rank or 0.0
    all_words = rank >= ALL_TERMS_BOOST
    parts: dict[str, Any] = {
        "meaning": round(semantic_weight * (candidate.similarity or 0.0), 4),
        "keywords": round((1 - semantic_weight) * rank / (1.0 + ALL_TERMS_BOOST), 4),
        "words_matched": round(rank - ALL_TERMS_BOOST if all_words else rank, 4),
        "all_words": all_words,
    }
    if candidate.in_period:
        parts["period"] = 1 + PERIOD_BOOST
    if candidate.recency is not None:
        parts["recency"] = round(candidate.recency, 4)
    if candidate.reply_to is not None:  # its score is carried from the turn it answers
        parts["reply"] = REPLY_SHARE
    return parts
