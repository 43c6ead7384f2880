"""The recall benchmark's metric code, on hand-made cases with known answers."""

from __future__ import annotations

import math

import pytest

from bench.recall_metrics import hit_at, ndcg_at, recall_at, reciprocal_rank, summarize


def test_hits_and_reciprocal_rank():
    ranking = [False, False, True, False, True]
    assert hit_at(ranking, 2) == 0.0 and hit_at(ranking, 3) == 1.0 and hit_at(ranking, 10) == 1.0
    assert reciprocal_rank(ranking) == pytest.approx(1 / 3)
    assert reciprocal_rank([False] * 10) == 0.0 and hit_at([], 5) == 0.0


def test_ndcg_against_the_ideal_ranking():
    assert ndcg_at([True, True, False], available=2, k=10) == pytest.approx(1.0)
    # Relevant at ranks 2 and 4 of two available: (1/log2 3 + 1/log2 5) / (1 + 1/log2 3).
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at([False, True, False, True], available=2, k=10) == pytest.approx(expected)
    assert ndcg_at([False, True], available=2, k=1) == 0.0  # cut at k
    assert ndcg_at([False, False], available=0, k=10) == 0.0  # nothing to find


def test_summaries_are_means_per_metric():
    rows = [{"r@5": 1.0, "mrr": 0.5}, {"r@5": 0.0, "mrr": 0.25}]
    assert summarize(rows) == {"r@5": 0.5, "mrr": 0.375, "questions": 2}
    assert summarize([]) == {}


def test_recall_at_k_counts_the_share_of_evidence_found_not_just_a_hit():
    found = [{"D1:3"}, {"D2:1", "D9:9"}, set(), {"D3:4"}]
    wanted = {"D1:3", "D2:1", "D3:4"}
    assert recall_at(found, wanted, 2) == 2 / 3
    assert recall_at(found, wanted, 5) == 1.0
    assert recall_at([], wanted, 5) == 0.0 and recall_at(found, set(), 5) == 0.0
