"""Import jobs under contention: a run waiting for its turn, cancelled, or
started again while an earlier run lives on. Each adds its rows once or not
at all, and is audited once."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from core import audit
from core.db import take_turns
from models import ImportJob, Observation
from portability import importer, jobs
from tests.support import TEST_DATABASE, new_user, session_scope

WAIT_SECONDS = 30


def _staged(owner_id: uuid.UUID, count: int = 3) -> uuid.UUID:
    lines = [json.dumps({"format": "memorygate", "version": 1})]
    lines += [
        json.dumps({"kind": "observation", "id": i, "observation": f"Queued fact {i}", "confidence": 0.5})
        for i in range(1, count + 1)
    ]
    content = "\n".join(lines)
    parsed = importer.read(content.split("\n"))
    with session_scope() as db:
        outcome = importer.plan(db, owner_id=owner_id, parsed=parsed)
        staged = jobs.stage(
            db,
            owner_id=owner_id,
            file_name="queued.jsonl",
            source=parsed.source,
            total=parsed.total,
            content=content,
            outcome=outcome,
        )
        return staged.id


class _Run(threading.Thread):
    """jobs.execute on a thread of its own, as the page's runner does it."""

    def __init__(self, job_id: uuid.UUID, attempt: int) -> None:
        super().__init__(daemon=True)
        self.job_id, self.attempt = job_id, attempt
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            jobs.execute(TEST_DATABASE, self.job_id, self.attempt)
        except BaseException as exc:
            self.error = exc


def _updated_at(job_id: uuid.UUID) -> datetime:
    with session_scope() as db:
        return db.scalars(select(ImportJob.updated_at).where(ImportJob.id == job_id)).one()


def _until_heard_from(job_id: uuid.UUID, since: datetime) -> None:
    """Until the waiting run has written that it is alive (a condition, not a sleep)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while _updated_at(job_id) <= since:
        assert time.monotonic() < deadline, "the waiting import never said it was alive"
        time.sleep(0.05)


def _looking_interrupted(db, job_id: uuid.UUID) -> None:
    """As the page sees a job whose process stalled; the row stays locked by
    this transaction, so the waiting run cannot say otherwise until it ends."""
    stale = datetime.now(UTC) - jobs.STALE_AFTER - timedelta(seconds=1)
    db.execute(update(ImportJob).where(ImportJob.id == job_id).values(updated_at=stale))


def _observations(owner_id: uuid.UUID) -> int:
    with session_scope() as db:
        return db.scalar(select(func.count()).where(Observation.owner_id == owner_id)) or 0


def _imports_audited(owner_id: uuid.UUID) -> int:
    with session_scope() as db:
        return sum(e["event"] == audit.MEMORY_IMPORTED for e in audit.events_for(db, user_id=owner_id))


class _HeldTurn:
    """An account's import turn held by an open transaction, as a long
    import into that account would hold it."""

    def __init__(self, owner_id: uuid.UUID) -> None:
        self.session = TEST_DATABASE.sessions()
        take_turns(self.session, importer.TURN, owner_id)

    def release(self) -> None:
        self.session.close()  # rolls back, which lets the turn go


@pytest.fixture
def another_import():
    held: list[_HeldTurn] = []

    def hold(owner_id: uuid.UUID) -> _HeldTurn:
        held.append(_HeldTurn(owner_id))
        return held[-1]

    yield hold
    for turn in held:
        turn.release()


def test_a_job_waiting_for_its_turn_stays_alive_and_a_cancel_stops_it(another_import):
    owner_id, _ = new_user("queued")
    job_id = _staged(owner_id)
    another_import(owner_id)
    with session_scope() as db:
        attempt = jobs.claim(db, owner_id=owner_id, job_id=job_id)
    assert attempt == 1
    claimed_at = _updated_at(job_id)
    run = _Run(job_id, attempt)
    run.start()
    _until_heard_from(job_id, claimed_at)
    with session_scope() as db:
        job = jobs.find(db, owner_id=owner_id, job_id=job_id)
        assert job is not None and jobs.state(job) == "running"  # waiting, not interrupted
        _looking_interrupted(db, job_id)
        assert jobs.cancel(db, owner_id=owner_id, job_id=job_id)
    run.join(WAIT_SECONDS)
    assert isinstance(run.error, jobs.Abandoned)
    assert _observations(owner_id) == 0 and _imports_audited(owner_id) == 0


def test_a_job_started_again_while_its_first_run_waits_imports_once(another_import):
    owner_id, _ = new_user("twice")
    job_id = _staged(owner_id, count=4)
    turn = another_import(owner_id)
    with session_scope() as db:
        first = jobs.claim(db, owner_id=owner_id, job_id=job_id)
    assert first is not None
    claimed_at = _updated_at(job_id)
    first_run = _Run(job_id, first)
    first_run.start()
    _until_heard_from(job_id, claimed_at)
    with session_scope() as db:
        _looking_interrupted(db, job_id)
        second = jobs.claim(db, owner_id=owner_id, job_id=job_id)
    assert second == first + 1
    second_run = _Run(job_id, second)
    second_run.start()
    first_run.join(WAIT_SECONDS)
    assert isinstance(first_run.error, jobs.Abandoned)  # it saw the job was no longer its own
    turn.release()
    second_run.join(WAIT_SECONDS)
    assert second_run.error is None
    assert _observations(owner_id) == 4 and _imports_audited(owner_id) == 1
    with session_scope() as db:
        job = jobs.find(db, owner_id=owner_id, job_id=job_id)
        assert job is not None and job.status == "done" and job.plan["added"] == {"observation": 4}
