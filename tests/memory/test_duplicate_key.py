"""The duplicate rule, measured on labelled pairs (tests/memory/duplicate_pairs.py).

Embedding similarity cannot be the rule: with all-MiniLM-L6-v2, pairs that
differ in one decisive word ("tea over coffee" / "coffee over tea", "is" /
"is not allergic") score up to 0.99, above most true restatements (0.79 to
0.99), so any threshold that merges restatements also merges contradictions,
and a merge keeps only the first wording. The rule is therefore a normal form
of the text (observation_key: word stems in order, stop words, case,
punctuation and "user" aside, negations counted): it never merged a
different-meaning pair, and it catches the restatements that differ only in
those respects (precision 1.00, recall 0.33 on these pairs). It needs no embedding, so keyword mode dedups the same way.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import text

from memory.embeddings import LocalEmbeddings
from tests.memory.duplicate_pairs import DIFFERENT, SAME
from tests.support import session_scope


def _same_key(pairs: list[tuple[str, str]]) -> list[bool]:
    with session_scope() as db:
        return [
            db.execute(text("SELECT observation_key(:a) = observation_key(:b)"), {"a": a, "b": b}).scalar_one()
            for a, b in pairs
        ]


def test_the_key_never_merges_different_meanings_and_catches_plain_restatements(capsys):
    merged_same = sum(_same_key(SAME))
    merged_different = sum(_same_key(DIFFERENT))
    precision = merged_same / max(1, merged_same + merged_different)
    recall = merged_same / len(SAME)
    with capsys.disabled():
        print(
            f"\nduplicate rule on {len(SAME) + len(DIFFERENT)} labelled pairs: "
            f"precision {precision:.2f}, recall {recall:.2f}"
        )
    assert merged_different == 0  # a false merge would lose a fact
    assert recall >= 0.3  # case, punctuation, articles, "the user", word forms (measured: 0.33)


def test_embedding_similarity_cannot_separate_the_pairs():
    embedder = LocalEmbeddings()

    def similarity(a: str, b: str) -> float:
        first, second = (np.asarray(v) for v in embedder.embed([a, b]))
        return float(first @ second / np.linalg.norm(first) / np.linalg.norm(second))

    weakest_same = min(similarity(a, b) for a, b in SAME)
    strongest_different = max(similarity(a, b) for a, b in DIFFERENT)
    assert strongest_different > 0.95 > weakest_same  # no threshold splits them


def test_examples_of_the_rule():
    pairs = [
        ("The user prefers dark mode.", "Prefers dark mode"),
        ("Alex is allergic to peanuts.", "Alex is not allergic to peanuts."),
        ("Prefers tea over coffee.", "Prefers coffee over tea."),
        ("It is what it is.", "it is what it is"),
        ("It is what it is.", "It was what it was."),
    ]
    assert _same_key(pairs) == [True, False, False, True, False]
