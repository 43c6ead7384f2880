"""What PostgreSQL's statistics say about the shared indexes, read cheaply.

Search steers itself by two figures the planner already keeps (VACUUM and
ANALYZE refresh them, autovacuum included): how many vectors an HNSW index
holds, and which words are common in the full text. Reading them costs a
catalogue lookup; each is remembered per process for a while, since they
only steer the plan, never decide what is correct.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

REMEMBER_SECONDS = 60.0
MAX_REMEMBERED = 50_000


class Remembered:
    """Values kept for ``REMEMBER_SECONDS``, per process."""

    def __init__(self) -> None:
        self._values: dict[tuple, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get_or_load(self, key: tuple, load: Callable[[], Any]) -> Any:
        with self._lock:
            found = self._values.get(key)
        if found is not None and found[0] > time.monotonic():
            return found[1]
        value = load()
        with self._lock:
            if len(self._values) >= MAX_REMEMBERED:
                self._values.clear()
            self._values[key] = (time.monotonic() + REMEMBER_SECONDS, value)
        return value

    def forget(self) -> None:
        with self._lock:
            self._values.clear()


remembered = Remembered()


def estimated_rows(db: Session, relation: str) -> int:
    """Rows in a table or entries in an index, by the planner's estimate (0 before the first ANALYZE)."""

    def load() -> int:
        estimate = db.execute(text("SELECT reltuples FROM pg_class WHERE relname = :name"), {"name": relation}).scalar()
        return max(0, int(estimate or 0))

    return remembered.get_or_load(("rows", relation), load)


# Below this many rows a word's share says nothing about cost (and in a
# handful of rows every word is "frequent").
MIN_ROWS_FOR_SHARES = 1_000


def frequent_words(db: Session, table: str, share: float) -> dict[str, float]:
    """Lexemes found in more than ``share`` of ``table``'s rows (its
    ``search_tsv``), with that share, by ANALYZE's most-common-elements
    statistics; none for a small table. Owner lexemes are among them: an
    owner's share of the rows."""

    def load() -> dict[str, float]:
        row = db.execute(
            text(
                "SELECT c.reltuples, CAST(CAST(s.most_common_elems AS text) AS text[]), s.most_common_elem_freqs "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
                "LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname "
                "AND s.attname = 'search_tsv' WHERE c.relname = :table"
            ),
            {"table": table},
        ).first()
        if row is None or row[0] < MIN_ROWS_FOR_SHARES or row[1] is None:
            return {}
        # The frequencies list one per element, then the minimum, maximum and null share.
        return {word: freq for word, freq in zip(row[1], row[2], strict=False) if freq > share}

    return remembered.get_or_load(("frequent words", table, share), load)
