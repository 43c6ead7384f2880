"""How much each word of a query says about which memory is meant.

PostgreSQL's full-text rank counts every matched word alike, so a memory
sharing only a person's name with the question (a name found in half of a
conversation's memories) ranked with one sharing its rare, telling word.
Here each query word weighs its inverse document frequency among the
owner's own memories (BM25's IDF), and a memory's keyword score is the share
of the query's total weight it matches: 1.0 for all of it, little for the
name alone. Per owner, because what is common is personal: one person's
every memory mentions "Melanie", another's none.

Counting stays cheap at any size. Each count reads at most ``DF_CAP``
matches from the full-text index (a word that common weighs little however
much commoner it is). Only for an owner holding most of the table
(``big_owner``) is a word with more matches than that in the whole table not
counted at all: ANALYZE's statistics give its share, then largely the
owner's own. Every other owner's counts are their own (search passes them
no ``frequent`` words), so no account's results depend on another's.
"""

from __future__ import annotations

import uuid
from typing import Any

from models import owner_lexeme

# A word in this many of the owner's memories weighs at most about ln(N / DF_CAP).
DF_CAP = 1_000

# The distinct lexemes of the :query parameter as the full-text index has
# them (English stemming, stop words dropped), as a text array.
QUERY_LEXEMES = "tsvector_to_array(to_tsvector('english', :query))"


def cte(
    table: str, words: list[str], *, owner_id: uuid.UUID, frequent: dict[str, float], rows: int, big_owner: bool
) -> tuple[str, dict[str, Any]]:
    """``weights_{table}(word, matches, weight)`` and its parameters: each of
    ``words`` (at least one), a tsquery matching it, and its weight among the
    owner's rows of ``table``. ``frequent`` holds the table's common words
    and their shares (ANALYZE), ``rows`` its size."""
    owner_share = frequent.get(owner_lexeme(owner_id))
    # An owner common enough to be in the statistics is sized by them; any other is small, and counted.
    params: dict[str, Any] = {f"memories_{table}": round(owner_share * rows) if owner_share else None}
    values = []
    for i, word in enumerate(words):
        params[f"word_{i}"] = word
        share = frequent.get(word, 0.0)
        if share * rows >= DF_CAP:
            # Too common to count (a long posting list): taken to be as
            # common among the owner's memories as among all.
            params[f"share_{table}_{i}"] = share
            matching = f"CAST(:share_{table}_{i} AS float8) * n"
        else:
            matching = _counted(table, f":word_{i}", big_owner=big_owner)
        values.append(f"(CAST(:word_{i} AS text), {matching})")
    # BM25's inverse document frequency; a count above the owner's size
    # (statistics a little stale) is taken as the size, so no weight is negative.
    sql = (
        f"weights_{table} AS (SELECT word, CAST(quote_literal(word) AS tsquery) AS matches, "
        "ln(1 + (n - least(df, n) + 0.5) / (least(df, n) + 0.5)) AS weight "
        f"FROM (SELECT greatest(1, {_memories(table)}) AS n OFFSET 0) AS size, "
        f"LATERAL (VALUES {', '.join(values)}) AS counts(word, df))"
    )
    return sql, params


def _counted(table: str, word: str, *, big_owner: bool) -> str:
    """The owner's rows matching ``word``, at most DF_CAP of them, read
    from the full-text index alone (the owner checked row by row after).
    The word is a literal to the planner, which then knows how rare it is;
    a small owner's matches are narrowed by their lexeme, a big owner's are
    most matches (see search_candidates.OWNER_LEXEME_MAX_SHARE)."""
    owner_match = "" if big_owner else " && to_tsquery('simple', :owner_lexeme)"
    return (
        f"(SELECT count(*) FROM (SELECT owner_id FROM {table} WHERE search_tsv @@ "
        f"(CAST(quote_literal({word}) AS tsquery){owner_match}) LIMIT {DF_CAP}) AS found WHERE owner_id = :owner)"
    )


def _memories(table: str) -> str:
    return f"coalesce(CAST(:memories_{table} AS float8), (SELECT count(*) FROM {table} WHERE owner_id = :owner))"


def rank_sql(table: str) -> str:
    """A row's keyword score: the share of the query's weight that its
    ``search_tsv`` holds (0 to 1)."""
    return (
        f"(SELECT coalesce(sum(weight), 0) FROM weights_{table} WHERE search_tsv @@ matches) "
        f"/ (SELECT greatest(sum(weight), 1e-9) FROM weights_{table})"
    )
