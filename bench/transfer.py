"""What export and import cost at 100,000 memories.

    python bench/transfer.py

On bench/search_latency.py's owner with 100,000 observations (seeded once,
kept in bench/.data), plus a few hundred concepts, relationships and
documents added on the first run:

* export: the whole account to a JSON Lines file (no vectors), as
  ``python server.py export`` writes it;
* import: that file read, checked and added to a fresh account in one
  transaction, as ``python server.py import`` does (vectors excluded: the
  background backfill embeds imported memories later);
* import again: the same file into the same account, which adds nothing;
* deleting that account, with everything in it (timed too), so runs do
  not accumulate.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

from common import DATABASE, database_url, machine
from search_latency import seed_owner
from sqlalchemy import func, select

from core import db
from identity import accounts, deletion
from memory import knowledge
from memory.embeddings import LocalEmbeddings
from models import Concept
from portability import exporter, importer

MEMORIES = 100_000
CONCEPTS = 300


def add_knowledge(owner: uuid.UUID) -> None:
    """Concepts in a chain of relationships, and documents, once."""
    with DATABASE.session_scope() as session:
        if session.execute(select(func.count()).where(Concept.owner_id == owner)).scalar_one():
            return
        for n in range(CONCEPTS):
            knowledge.store_concept(session, owner_id=owner, name=f"Topic {n}", concept_type="topic")
            knowledge.store_document(
                session, owner_id=owner, title=f"Notes {n}", doc_type="note", content_summary=f"About topic {n}"
            )
        for n in range(1, CONCEPTS):
            knowledge.add_relationship(
                session, owner_id=owner, from_concept=f"Topic {n}", to_concept=f"Topic {n - 1}", rel_type="part_of"
            )


def timed_import(path: Path, owner: uuid.UUID) -> tuple[float, importer.Outcome]:
    started = time.perf_counter()
    with path.open("rb") as source:
        parsed = importer.read(source)
    with DATABASE.session_scope() as session:
        outcome = importer.apply(session, owner_id=owner, parsed=parsed)
    return time.perf_counter() - started, outcome


def main() -> None:
    url, embedded = database_url(None)
    try:
        DATABASE.connect(url)
        db.init_db(DATABASE.engine)
        owner = seed_owner(MEMORIES, LocalEmbeddings())
        add_knowledge(owner)
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "export.jsonl"
            started = time.perf_counter()
            with DATABASE.session_scope() as session, path.open("w", encoding="utf-8") as out:
                out.writelines(exporter.export_lines(session, owner_id=owner))
            export_seconds = time.perf_counter() - started
            lines = sum(1 for _ in path.open()) - 1
            megabytes = path.stat().st_size / 1e6

            with DATABASE.session_scope() as session:
                fresh = accounts.user_for_email(session, f"bench-import-{uuid.uuid4().hex[:8]}@memorygate.internal").id
            try:
                import_seconds, outcome = timed_import(path, fresh)
                again_seconds, again = timed_import(path, fresh)
            finally:
                started = time.perf_counter()
                with DATABASE.session_scope() as session:
                    deletion.delete_account(session, fresh, by="operator")
                delete_seconds = time.perf_counter() - started
    finally:
        DATABASE.dispose()
        if embedded is not None:
            embedded.stop()
    print(f"\nmachine: {machine()}")
    print(f"{lines:,} records, {megabytes:.0f} MB: {importer.counted(outcome.added)}")
    print(f"  export:            {export_seconds:6.1f} s  ({lines / export_seconds:,.0f} records/s)")
    print(f"  import:            {import_seconds:6.1f} s  ({lines / import_seconds:,.0f} records/s)")
    print(f"  import again:      {again_seconds:6.1f} s  (adds {importer.counted(again.added) or 'nothing'})")
    print(f"  delete the account:{delete_seconds:6.1f} s  (python server.py delete-account)")


if __name__ == "__main__":
    main()
