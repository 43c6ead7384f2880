"""Retrieval metrics for one question: hit@k, recall@k, reciprocal rank, nDCG@k.

A question is answered by evidence (LoCoMo's dialogue ids); a retrieved
memory is relevant when it carries any of them. ``relevant`` lists, in rank
order, whether each retrieved memory is relevant; ``available`` is how many
relevant memories exist in the store (for the ideal ranking of nDCG).
Pure functions, unit-tested in tests/test_recall_metrics.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def hit_at(relevant: Sequence[bool], k: int) -> float:
    """1 if any of the first k is relevant (LoCoMo's and the peers' "recall@k")."""
    return 1.0 if any(relevant[:k]) else 0.0


def recall_at(found: Sequence[set[str]], wanted: set[str], k: int) -> float:
    """The share of the question's evidence carried by the first k retrieved
    memories (``found``: each one's evidence ids, in rank order): a question
    with three evidence turns needs all three for 1."""
    if not wanted:
        return 0.0
    seen = set().union(*found[:k]) if found[:k] else set()
    return len(seen & wanted) / len(wanted)


def reciprocal_rank(relevant: Sequence[bool]) -> float:
    return next((1.0 / (rank + 1) for rank, is_relevant in enumerate(relevant) if is_relevant), 0.0)


def ndcg_at(relevant: Sequence[bool], available: int, k: int) -> float:
    """Binary-gain nDCG: the ranking's discounted gain over the best possible."""
    gain = sum(1.0 / math.log2(rank + 2) for rank, is_relevant in enumerate(relevant[:k]) if is_relevant)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(available, k)))
    return gain / ideal if ideal else 0.0


def summarize(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Means over questions of each metric (rows: one dict of metrics per question)."""
    if not rows:
        return {}
    return {name: round(sum(row[name] for row in rows) / len(rows), 4) for name in rows[0]} | {"questions": len(rows)}
