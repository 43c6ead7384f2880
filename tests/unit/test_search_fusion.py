"""Hybrid search's ranking, as arithmetic: fusion, order, the relevance
floor and the windows memories are read in."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from memory.local_models import SEMANTIC_WEIGHT
from memory.search_fusion import ALL_TERMS_BOOST, Candidate, fuse, ranked_best_first, strong_matches


def _candidate(item_id: int, *, similarity=None, keyword_rank=None, kind="observation") -> Candidate:
    return Candidate(kind, item_id, similarity=similarity, keyword_rank=keyword_rank)


def test_a_score_is_similarity_and_keyword_share_weighted_as_declared():
    both = _candidate(1, similarity=0.8, keyword_rank=0.5)
    meaning = _candidate(2, similarity=0.8)
    every_word = _candidate(3, keyword_rank=1.0 + ALL_TERMS_BOOST)
    fuse([both, meaning, every_word], semantic_weight=SEMANTIC_WEIGHT)
    assert both.score == pytest.approx(SEMANTIC_WEIGHT * 0.8 + (1 - SEMANTIC_WEIGHT) * 0.5 / (1 + ALL_TERMS_BOOST))
    assert meaning.score == pytest.approx(SEMANTIC_WEIGHT * 0.8)
    assert every_word.score == pytest.approx(1 - SEMANTIC_WEIGHT)  # all of the keyword side
    assert both.score > meaning.score  # found by both ranks above found by one


def test_equal_scores_rank_the_same_way_every_time():
    tied = [_candidate(9, similarity=0.5), _candidate(2, similarity=0.5, kind="pattern"), _candidate(4, similarity=0.5)]
    fuse(tied, semantic_weight=SEMANTIC_WEIGHT)
    assert [(c.kind, c.item_id) for c in ranked_best_first(tied)] == [
        ("observation", 4),
        ("observation", 9),
        ("pattern", 2),
    ]


def test_only_close_meaning_or_every_word_clears_the_floor_and_memories_are_read_a_window_at_a_time():
    ranked = [
        _candidate(1, similarity=0.9),
        _candidate(2, similarity=0.1, keyword_rank=0.4),  # some words only, far in meaning: dropped
        _candidate(3, keyword_rank=1.0 + ALL_TERMS_BOOST),  # every word: kept whatever its meaning
        _candidate(4, similarity=0.3),
        _candidate(5, similarity=0.95),  # out of the search's scope: not loaded
        _candidate(6, similarity=0.8),
    ]
    windows: list[list[int]] = []

    def load(window):
        windows.append([c.item_id for c in window])
        return {(c.kind, c.item_id): SimpleNamespace(id=c.item_id) for c in window if c.item_id != 5}

    kept, dropped = strong_matches(ranked, floor=0.25, limit=2, load=load)
    assert [c.item_id for c, _ in kept] == [1, 3] and dropped == 1
    assert windows == [[1, 2, 3, 4]]  # twice the limit, and no further once the limit is met
    kept, dropped = strong_matches(ranked, floor=0.25, limit=4, load=load)
    assert [c.item_id for c, _ in kept] == [1, 3, 4, 6] and dropped == 1
