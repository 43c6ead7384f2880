"""How much each word of a query says about which memory is meant.

PostgreSQL's full-text rank counts every matched word alike, so a memory
sharing only a person's name with the question (a name found in half of a
conversation's memories) ranked with one sharing its rare, telling word.
Here each query word weighs its inverse document frequency among the
owner's own memories (BM25's IDF), and a memory's keyword score is the share
of the query's total weight it matches: 1.0 for all of it, little for the
name alone. Per owner, because what is common is personal: one person's
every memory mentions "Melanie", another's none.

Counting stays cheap at any size. Each count stops at ``DF_CAP`` matches (a
word that common weighs little however much commoner it is). An owner
holding most of a table is counted from ANALYZE's statistics for the words
common there, which are that owner's, instead of reading their long
posting lists; any owner in those statistics is sized by them.
"""

from __future__ import annotations

import math
import uuid

from models import owner_lexeme

# A word in this many of the owner's memories weighs at most ln(N / DF_CAP).
DF_CAP = 1_000


def idf(matching: float, memories: float) -> float:
    """BM25's inverse document frequency, never negative (the same formula
    as ``cte``'s SQL, which is what search uses)."""
    matching = min(matching, memories)
    return math.log(1.0 + (memories - matching + 0.5) / (matching + 0.5))


def cte(table: str, *, big_owner: bool) -> str:
    """``weights_{table}(word, matches, weight)``: each distinct lexeme of
    ``:query`` (English stemming, stop words dropped, as the full-text index
    has them), a tsquery matching it, and its weight among the owner's rows
    of ``table``. Counts start from ``params``'s sizes where it has them."""
    # A big owner's own rows are most rows: filter row by row rather than
    # read their whole posting list (see hybrid_search.OWNER_LEXEME_MAX_SHARE).
    owner_match = "" if big_owner else " && to_tsquery('simple', :owner_lexeme)"
    counted = (
        f"(SELECT count(*) FROM (SELECT 1 FROM {table} WHERE owner_id = :owner AND search_tsv @@ "
        f"(CAST(quote_literal(word) AS tsquery){owner_match}) LIMIT {DF_CAP}) AS found)"
    )
    memories = f"coalesce(CAST(:memories_{table} AS float8), (SELECT count(*) FROM {table} WHERE owner_id = :owner))"
    # OFFSET 0 keeps each subquery whole, so the planner evaluates the
    # owner's size and each word's count once rather than once per mention.
    return (
        f"weights_{table} AS (SELECT word, CAST(quote_literal(word) AS tsquery) AS matches, "
        "ln(1 + (n - df + 0.5) / (df + 0.5)) AS weight FROM "
        f"(SELECT word, least(coalesce(sized.matching, {counted}), n) AS df, n "
        f"FROM (SELECT greatest(1, {memories}) AS n OFFSET 0) AS size, "
        "unnest(tsvector_to_array(to_tsvector('english', :query))) AS word "
        f"LEFT JOIN unnest(CAST(:sized_words_{table} AS text[]), CAST(:sized_matching_{table} AS float8[])) "
        "AS sized(word_sized, matching) ON sized.word_sized = word OFFSET 0) AS counts)"
    )


def params(table: str, *, owner_id: uuid.UUID, frequent: dict[str, float], rows: int, big_owner: bool) -> dict:
    """``cte``'s parameters. ``frequent`` is the table's common words with
    their shares (ANALYZE), ``rows`` its size; ``big_owner`` says the owner
    holds most of the table, so those shares are theirs."""
    owner_share = frequent.get(owner_lexeme(owner_id))
    # Only a big owner's common words are sized by the statistics, and only
    # those whose count would reach the cap anyway.
    sized = {w: share * rows for w, share in frequent.items() if share * rows >= DF_CAP} if big_owner else {}
    return {
        # An owner common enough to be in the statistics is sized by them; any other is small, and counted.
        f"memories_{table}": round(owner_share * rows) if owner_share else None,
        f"sized_words_{table}": list(sized),
        f"sized_matching_{table}": list(sized.values()),
    }


def rank_sql(table: str) -> str:
    """A row's keyword score: the share of the query's weight that its
    ``search_tsv`` holds (0 to 1)."""
    return (
        f"(SELECT coalesce(sum(weight), 0) FROM weights_{table} WHERE search_tsv @@ matches) "
        f"/ (SELECT greatest(sum(weight), 1e-9) FROM weights_{table})"
    )
