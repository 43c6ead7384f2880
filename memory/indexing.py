"""Writing vectors for memory items, and filling in the ones still pending.

A memory is committed before it is embedded, so a failing provider never costs
a memory: the item simply has no ``embeddings`` row for the current model
(it is *pending*), and ``backfill_pending`` embeds it later — from the
background task, at start-up, and after a change of model. Services only ask
for the embedding (``index_after_commit``); whoever owns the unit of work
commits and then runs it (``index_committed``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, load_only

from core.db import try_take_turns
from core.errors import EmbeddingUnavailable
from memory import concept_statements, item_types
from memory.embeddings import EmbeddingProvider
from models import Embedding, ImportJob

log = logging.getLogger("memorygate.embeddings")

BACKFILL_BATCH_SIZE = 64
# A long pass (a change of model re-embeds every memory) tells the operator
# how far it is this often.
PROGRESS_LOG_SECONDS = 30.0
AFTER_COMMIT_KEY = "memorygate.index_after_commit"


class _Deferrals:
    """Embeddings deferred in this process so far (the provider failed):
    each background schedule compares it with what it saw at its last pass."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.count += 1


deferrals = _Deferrals()


def forget_vectors(db: Session, *, owner_id: uuid.UUID, kind: str, item_id: int) -> None:
    """Drop every model's vector for an item (it was deleted or its text changed)."""
    db.execute(
        delete(Embedding).where(
            Embedding.owner_id == owner_id, Embedding.source_type == kind, Embedding.source_id == item_id
        )
    )


def reindex_concepts(db: Session, *, owner_id: uuid.UUID, concept_ids: Iterable[int]) -> None:
    """These concepts' relationships changed, and with them what they mean:
    drop their vectors now and embed them again after the commit."""
    for concept_id in set(concept_ids):
        forget_vectors(db, owner_id=owner_id, kind="concept", item_id=concept_id)
        concept = item_types.get(db, "concept", concept_id)
        if concept is not None:
            index_after_commit(db, concept)


def index_after_commit(
    db: Session, item: item_types.MemoryItem, *, vector: list[float] | None = None, failed: bool = False
) -> None:
    """Ask this unit of work to embed ``item`` once its transaction has
    committed: the memory is kept even when the provider then fails.
    ``vector``: the item's text already embedded by the unit's embedder, kept
    instead; ``failed``: the embedder just failed on it, so it is left pending
    for the backfill rather than tried again at once."""
    db.flush()
    db.info.setdefault(AFTER_COMMIT_KEY, []).append((item_types.kind_of(item), item.id, vector, failed))


def index_committed(db: Session, *, embedder: EmbeddingProvider) -> str | None:
    """The second step of a unit of work, after its commit: embed what the
    first step asked for and commit the vectors. None when nothing was asked."""
    wanted = db.info.pop(AFTER_COMMIT_KEY, [])
    if not wanted:
        return None
    known = {(kind, item_id): vector for kind, item_id, vector, _ in wanted if vector is not None}
    items = [item_types.get(db, kind, item_id) for kind, item_id, _, failed in wanted if not failed]
    status = index_items(db, embedder=embedder, items=[item for item in items if item is not None], known=known)
    db.commit()
    if any(failed for *_, failed in wanted):
        deferrals.add()
        return "pending"
    return status


def index_items(
    db: Session,
    *,
    embedder: EmbeddingProvider,
    items: list[item_types.MemoryItem],
    background: bool = False,
    known: dict[tuple[str, int], list[float]] | None = None,
) -> str:
    """Embed committed items in the caller's transaction (but those whose
    vector is ``known``, keyed by kind and id); on provider failure leave
    them pending.

    Returns "indexed", "pending" (provider failed; backfill will retry) or
    "disabled" (no provider).
    """
    if not embedder.enabled or embedder.model is None:
        return "disabled"
    known = known or {}
    ready = [item for item in items if (item_types.kind_of(item), item.id) in known]
    if ready:
        vectors = [known[(item_types.kind_of(item), item.id)] for item in ready]
        _upsert_vectors(db, model=embedder.model, items=ready, vectors=vectors)
    items = [item for item in items if (item_types.kind_of(item), item.id) not in known]
    said = concept_statements.statements(db, [item.id for item in items if item_types.kind_of(item) == "concept"])
    texts = {
        id(item): item_types.embedding_text(item, said.get(item.id) if item_types.kind_of(item) == "concept" else None)
        for item in items
    }
    items = [item for item in items if texts[id(item)] is not None]  # a bare name has no vector
    if not items:
        return "indexed"
    try:
        vectors = embedder.embed([texts[id(item)] or "" for item in items], background=background)
    except EmbeddingUnavailable as exc:
        log.warning("embedding deferred for %d item(s): %s", len(items), exc.message)
        deferrals.add()
        return "pending"
    _upsert_vectors(db, model=embedder.model, items=items, vectors=vectors)
    return "indexed"


def _upsert_vectors(db: Session, *, model: str, items: list[item_types.MemoryItem], vectors: list[list[float]]) -> None:
    rows = [
        {
            "owner_id": item.owner_id,
            "source_type": item_types.kind_of(item),
            "source_id": item.id,
            "model": model,
            "vector": vector,
        }
        for item, vector in zip(items, vectors, strict=True)
    ]
    statement = insert(Embedding).values(rows)
    db.execute(
        statement.on_conflict_do_update(
            constraint="uq_embeddings_item_model", set_={"vector": statement.excluded.vector}
        )
    )


def _embedded_columns(kind: str, model_class: type[item_types.MemoryItem]) -> list[Any]:
    names = ("id", "owner_id", *item_types.EMBEDDED_COLUMNS[kind])
    return [getattr(model_class, name) for name in names]


def _missing_vector(kind: str, model_class: type[item_types.MemoryItem], model: str) -> Any:
    """SQL: the rows of ``kind`` that should have a vector of ``model`` and have none."""
    return item_types.has_meaning(kind) & ~exists().where(
        Embedding.source_type == kind,
        Embedding.source_id == model_class.id,
        Embedding.owner_id == model_class.owner_id,
        Embedding.model == model,
    )


def pending_count(db: Session, *, model: str | None, owner_id: uuid.UUID | None = None) -> int:
    if model is None:
        return 0
    total = 0
    for kind, model_class in item_types.ITEM_MODELS.items():
        query = select(func.count()).select_from(model_class).where(_missing_vector(kind, model_class, model))
        if owner_id is not None:
            query = query.where(model_class.owner_id == owner_id)
        total += db.execute(query).scalar_one()
    return total


def vectors_by_model(db: Session) -> dict[str, int]:
    """How many vectors each model has stored, most first."""
    rows = db.execute(
        select(Embedding.model, func.count()).group_by(Embedding.model).order_by(func.count().desc(), Embedding.model)
    )
    return {model: count for model, count in rows}


def memory_count(db: Session) -> int:
    return sum(
        db.execute(select(func.count()).select_from(model_class)).scalar_one()
        for model_class in item_types.ITEM_MODELS.values()
    )


def drop_vectors_except(db: Session, *, model: str) -> int:
    """Delete every vector not made by ``model``; how many went."""
    dropped = db.execute(delete(Embedding).where(Embedding.model != model))
    return int(dropped.rowcount)  # type: ignore[attr-defined]


def backfill_pending(
    session_factory: Callable[[], Session],
    *,
    embedder: EmbeddingProvider,
    batch_size: int = BACKFILL_BATCH_SIZE,
    stopping: Callable[[], bool] = lambda: False,
    owner_id: uuid.UUID | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Embed every pending item for the current model (of one owner, given
    ``owner_id``); returns how many, telling ``progress`` after each batch.

    Stops at the first provider failure, or between batches once
    ``stopping()`` says so (the server is shutting down: every finished
    batch is committed, the rest stay pending for next time).
    """
    if not embedder.enabled or embedder.model is None:
        return 0
    done = 0
    report = _ProgressLog(session_factory, model=embedder.model, owner_id=owner_id)
    for kind, model_class in item_types.ITEM_MODELS.items():
        after = 0  # each batch starts where the last ended, not from the first row again
        while not stopping():
            with session_factory() as db:
                batch: list[item_types.MemoryItem] = list(
                    db.scalars(
                        select(model_class)
                        .options(load_only(*_embedded_columns(kind, model_class)))
                        .where(model_class.id > after, _missing_vector(kind, model_class, embedder.model))
                        .where(*([] if owner_id is None else [model_class.owner_id == owner_id]))
                        .order_by(model_class.id)
                        .limit(batch_size)
                    )
                )
                if not batch:
                    break
                if index_items(db, embedder=embedder, items=batch, background=True) != "indexed":
                    return done
                db.commit()
                done += len(batch)
                after = batch[-1].id
                if progress is not None:
                    progress(done)
                report.batch_done(done, full=len(batch) == batch_size)
    if done:
        log.info("backfilled %d embedding(s) for model %s", done, embedder.model)
    return done


class _ProgressLog:
    """Logs a long backfill's progress: done, left, rate and time to go.

    What is left is counted once, when the first full batch shows there is
    more than a batch to do (the count is an anti-join over every item)."""

    def __init__(self, session_factory: Callable[[], Session], *, model: str, owner_id: uuid.UUID | None) -> None:
        self._sessions = session_factory
        self._model = model
        self._owner_id = owner_id
        self._started = time.monotonic()
        self._last_log = self._started
        self._total: int | None = None

    def batch_done(self, done: int, *, full: bool) -> None:
        if self._total is None and full:
            with self._sessions() as db:
                self._total = done + pending_count(db, model=self._model, owner_id=self._owner_id)
            log.info("embedding %d memories for model %s in the background", self._total, self._model)
        now = time.monotonic()
        if self._total is None or now - self._last_log < PROGRESS_LOG_SECONDS:
            return
        self._last_log = now
        rate = done / max(now - self._started, 1e-9)
        left = max(self._total - done, 0)
        log.info(
            "embedding for model %s: %d of %d done (%.0f/s, about %d min to go)",
            self._model,
            done,
            self._total,
            rate,
            round(left / max(rate, 1e-9) / 60),
        )


class BackfillSchedule:
    """When the background task looks for pending items.

    Finding them reads every item against its vector (an anti-join: about a
    second of database CPU at a million memories), so it is not done on
    every tick: at start (a new model leaves everything pending), after an
    embedding in this process was deferred, and at least every
    ``full_pass_seconds`` for items another process or a crash left behind.
    """

    def __init__(self, full_pass_seconds: float = 600.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.full_pass_seconds = full_pass_seconds
        self.clock = clock
        self.last_pass: float | None = None
        self.deferrals_seen = 0
        self.imports_seen: datetime | None = None
        self.passes = 0
        self.deferred_to_another = 0  # ticks that found another process's pass under way
        self.stopping = threading.Event()

    def stop(self) -> None:
        """Let a pass under way end after its current batch (the server is stopping)."""
        self.stopping.set()

    def due(self, newest_import: datetime | None = None) -> bool:
        if self.last_pass is None or deferrals.count != self.deferrals_seen or newest_import != self.imports_seen:
            return True
        return self.clock() - self.last_pass >= self.full_pass_seconds

    def run(self, session_factory: Callable[[], Session], *, embedder: EmbeddingProvider) -> int:
        """One tick of the background task: a pass if one is due; items embedded.

        A finished import (from any process: the CLI, another server) makes
        one due, since imported memories arrive without vectors."""
        with session_factory() as db:
            newest_import = db.scalar(select(func.max(ImportJob.finished_at)))
        if not self.due(newest_import):
            return 0
        with session_factory() as guard:
            # One process at a time per model: the server's processes all
            # start a pass at once, and each would embed the same items (after
            # a change of model, every memory). The lock goes with the guard's
            # transaction, so a process that dies mid-pass frees it. A process
            # that finds it taken stays due and tries again next tick.
            if not try_take_turns(guard, "embedding backfill", embedder.model):
                self.deferred_to_another += 1
                return 0
            self.deferrals_seen = deferrals.count  # a deferral during this pass asks for the next one
            self.imports_seen = newest_import
            self.last_pass = self.clock()
            self.passes += 1
            return backfill_pending(session_factory, embedder=embedder, stopping=self.stopping.is_set)
