"""Counting reads and storing memories leave the search indexes nothing to read through later."""

from __future__ import annotations

from sqlalchemy import insert, select, text

from memory.access import AccessTracker
from models import Observation
from tests.support import session_scope, user_with_key

MEMORY_TABLES = ("observations", "patterns", "concepts", "documents")


def _page(db, observation_id: int) -> int:
    return db.execute(
        text("SELECT (ctid::text::point)[0] FROM observations WHERE id = :id"), {"id": observation_id}
    ).scalar_one()


def test_a_counted_read_updates_the_memory_in_place_even_on_a_page_filled_by_inserts():
    """An update that stays on its page (HOT) adds no entry to any index;
    with pages packed full it would move, and add one to every index."""
    owner, _ = user_with_key("hot updates")
    with session_scope() as db:
        ids = db.scalars(
            insert(Observation).returning(Observation.id),
            [
                {"owner_id": owner, "observation": f"Packed note {n}: " + "words to fill the page " * 8}
                for n in range(200)
            ],
        ).all()
    first = ids[0]
    with session_scope() as db:
        page = _page(db, first)
    reads = AccessTracker()
    reads.record(owner, [("observation", first)])
    with session_scope() as db:
        assert reads.flush(db) == 1
    with session_scope() as db:
        assert _page(db, first) == page
        assert db.scalar(select(Observation.access_count).where(Observation.id == first)) == 1


def test_full_text_indexes_keep_no_pending_list():
    owner, _ = user_with_key("pending list")
    with session_scope() as db:
        db.execute(insert(Observation), [{"owner_id": owner, "observation": "A fresh memory about kayaks"}])
    with session_scope() as db:
        for table in MEMORY_TABLES:
            # The pages a pending list held, merged into the index now: none when there is none.
            assert db.execute(text(f"SELECT gin_clean_pending_list('ix_{table}_search_tsv')")).scalar_one() == 0
            options = db.execute(
                text("SELECT reloptions FROM pg_class WHERE relname = :table"), {"table": table}
            ).scalar_one()
            assert "fillfactor=90" in options
