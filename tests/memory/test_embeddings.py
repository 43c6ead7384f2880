"""Embedding providers, and the promise that no memory waits on one."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import anyio.to_thread
import numpy as np
import pytest
from sqlalchemy import delete, insert, select
from threadpoolctl import threadpool_info

from core.db import take_turns
from core.errors import EmbeddingUnavailable
from memory import indexing
from memory.embeddings import EmbeddingSlots, LocalEmbeddings, OpenAIEmbeddings
from memory.minilm import MiniLM
from models import Embedding, Observation
from server import create_app
from tests.fakes import FAKE_OPENAI_KEY, FakeOpenAI
from tests.support import TEST_DATABASE, call, mcp_client, new_user, serve, serve_asgi, session_scope, user_with_key

REFERENCE = Path(__file__).parent / "fixtures" / "minilm_reference.json"


def test_local_model_matches_sentence_transformers_reference_vectors():
    reference = json.loads(REFERENCE.read_text())
    ours = MiniLM.load().encode(reference["texts"])
    expected = np.array(reference["vectors"], dtype=np.float32)
    cosines = (ours * expected).sum(axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(expected, axis=1))
    assert ours.shape == (len(reference["texts"]), 384)
    assert cosines.min() >= 0.999, cosines


@pytest.fixture
def fake_openai():
    fake = FakeOpenAI()
    with serve_asgi(fake.app()) as served:
        fake.base_url = served.url + "/v1"
        yield fake


@pytest.fixture
def openai_client(fake_openai):
    made = []

    def make(**options) -> OpenAIEmbeddings:
        settings = {
            "api_key": FAKE_OPENAI_KEY,
            "base_url": fake_openai.base_url,
            "model": "text-embedding-3-small",
            "timeout_seconds": 5,
            "max_retries": 3,
            "backoff_base_seconds": 0.01,
        }
        made.append(OpenAIEmbeddings(**{**settings, **options}))
        return made[-1]

    yield make
    for client in made:
        client.close()


def test_openai_client_batches_and_authenticates(fake_openai, openai_client):
    vectors = openai_client().embed([f"text {i}" for i in range(300)])
    assert len(vectors) == 300 and len(vectors[0]) == 1536
    sizes = [len(r["body"]["input"]) for r in fake_openai.requests]
    assert sizes == [256, 44]
    assert {r["authorization"] for r in fake_openai.requests} == {f"Bearer {FAKE_OPENAI_KEY}"}
    assert {r["body"]["model"] for r in fake_openai.requests} == {"text-embedding-3-small"}


def test_openai_client_retries_429_and_5xx_then_succeeds(fake_openai, openai_client):
    fake_openai.fail_next(1, 429, {"Retry-After": "0"})
    fake_openai.fail_next(2, 502)
    started = time.monotonic()
    assert len(openai_client().embed(["hello"])) == 1
    assert len(fake_openai.requests) == 4
    assert time.monotonic() - started < 5


def test_openai_client_gives_up_after_retries_and_does_not_retry_client_errors(fake_openai, openai_client):
    fake_openai.fail_next(10, 500)
    with pytest.raises(EmbeddingUnavailable, match="after 3 attempts"):
        openai_client(max_retries=2).embed(["hello"])
    assert len(fake_openai.requests) == 3

    fake_openai.requests.clear()
    with pytest.raises(EmbeddingUnavailable, match="HTTP 401"):
        openai_client(api_key="sk-wrong").embed(["hello"])
    assert len(fake_openai.requests) == 1


def openai_settings(fake, **extra) -> dict:
    return {
        "embedding_provider": "openai",
        "openai_api_key": FAKE_OPENAI_KEY,
        "openai_base_url": fake.base_url,
        **extra,
    }


@pytest.mark.slow  # seconds of seeding or waiting: the full suite runs it
async def test_embedding_failure_keeps_the_memory_and_backfill_fills_it_in(fake_openai):
    fake_openai.down = True
    with serve(create_app, **openai_settings(fake_openai, openai_max_retries=0)) as served:
        _, key = user_with_key()
        async with mcp_client(served.url, key) as client:
            asked = len(fake_openai.requests)
            stored = await call(client, "memory_store", observation="Speaks Portuguese and Swedish fluently")
            assert stored["embedding"] == "pending"
            assert len(fake_openai.requests) == asked + 1  # failed once while storing, then left to the backfill
            assert (await call(client, "memory_get", ref=stored["ref"]))["text"].startswith("Speaks")
            assert (await call(client, "memory_stats"))["embedding"]["pending"] == 1
            degraded = await call(client, "memory_search", query="Swedish language")
            assert degraded["mode"] == "keyword" and "unavailable" in degraded["notice"]
            assert degraded["results"][0]["ref"] == stored["ref"]

            fake_openai.down = False
            embedder = served.app.state.embedder
            filled = await anyio.to_thread.run_sync(
                lambda: indexing.backfill_pending(TEST_DATABASE.sessions, embedder=embedder)
            )
            assert filled >= 1
            assert (await call(client, "memory_stats"))["embedding"]["pending"] == 0
            healthy = await call(client, "memory_search", query="fluently Swedish")
            assert healthy["mode"] == "hybrid"
            assert healthy["results"][0]["ref"] == stored["ref"]
            assert healthy["results"][0]["similarity"] > 0


async def test_background_task_backfills_pending_embeddings(fake_openai):
    fake_openai.down = True
    settings = openai_settings(fake_openai, openai_max_retries=0, embedding_backfill_interval_seconds=0.2)
    with serve(create_app, **settings) as served:
        _, key = user_with_key()
        async with mcp_client(served.url, key) as client:
            stored = await call(client, "memory_store", observation="Collects vintage fountain pens")
            assert stored["embedding"] == "pending"
            fake_openai.down = False
            await _until_nothing_pending(client)


async def test_changing_the_model_re_embeds_existing_memories_on_start(server, fake_openai):
    owner, key = user_with_key()
    async with mcp_client(server.url, key) as client:
        stored = await call(client, "memory_store", observation="Grows tomatoes on the balcony")
    fake_openai.down = True  # the new model is slow to arrive: nothing is re-embedded yet
    settings = openai_settings(fake_openai, openai_max_retries=0, embedding_backfill_interval_seconds=0.1)
    with serve(create_app, **settings) as served:
        async with mcp_client(served.url, key) as client:
            meanwhile = await call(client, "memory_search", query="tomatoes balcony")
            assert meanwhile["results"][0]["ref"] == stored["ref"] and meanwhile["mode"] == "keyword"
            assert (await call(client, "memory_stats"))["embedding"]["pending"] >= 1
            fake_openai.down = False
            await _until_nothing_pending(client)
            result = await call(client, "memory_search", query="tomatoes balcony")
            assert result["results"][0]["ref"] == stored["ref"] and result["mode"] == "hybrid"
    with session_scope() as session:
        models = set(session.scalars(select(Embedding.model).where(Embedding.owner_id == owner)))
    assert models == {"bge-small-en-v1.5", "text-embedding-3-small"}


async def _until_nothing_pending(client) -> None:
    """Wait for a condition (bounded), never for a fixed time."""
    for _ in range(200):
        if (await call(client, "memory_stats"))["embedding"]["pending"] == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("embeddings still pending after 10 s")


def test_the_local_model_runs_one_blas_thread_per_call(server):
    """Concurrent embeddings must not each spread over every core."""
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.slow  # seconds of seeding or waiting: the full suite runs it
async def test_the_background_task_looks_for_pending_items_only_when_some_may_exist(fake_openai):
    from memory.embeddings import LocalEmbeddings

    clock = Clock()
    schedule = indexing.BackfillSchedule(600, clock=clock)
    embedder = LocalEmbeddings()

    def tick() -> int:
        # A server in this test process may be running its own pass for the
        # same model; the schedule then stays due: wait for that pass to end
        # (by taking its lock), and tick again.
        for _ in range(100):
            before = schedule.deferred_to_another
            done = schedule.run(TEST_DATABASE.sessions, embedder=embedder)
            if schedule.deferred_to_another == before:
                return done
            with TEST_DATABASE.sessions() as waiter, waiter.begin():
                take_turns(waiter, "embedding backfill", embedder.model)
        raise AssertionError("another pass took the backfill lock first 100 times")

    await anyio.to_thread.run_sync(tick)  # at start: a full pass
    assert schedule.passes == 1
    clock.now += 599
    await anyio.to_thread.run_sync(tick)  # nothing deferred, not yet time: no pass (no anti-join)
    assert schedule.passes == 1
    fake_openai.down = True
    with serve(create_app, **openai_settings(fake_openai, openai_max_retries=0)) as served:
        _, key = user_with_key()
        async with mcp_client(served.url, key) as client:
            assert (await call(client, "memory_store", observation="Reads tide tables"))["embedding"] == "pending"
    await anyio.to_thread.run_sync(tick)  # a deferral in this process: a pass
    assert schedule.passes == 2
    await anyio.to_thread.run_sync(tick)
    assert schedule.passes == 2
    clock.now += 600
    await anyio.to_thread.run_sync(tick)  # the periodic safety net
    assert schedule.passes == 3


def test_a_request_waiting_for_the_model_goes_before_background_work():
    slots = EmbeddingSlots(1)
    served: list[str] = []

    def take(background: bool) -> None:
        with slots.hold(background=background):
            served.append("background" if background else "request")

    waiters = []
    with slots.hold(background=True):  # the backfill holds the only slot
        # More background work queues first, then a request.
        for background, queued in ((True, {"request": 0, "background": 1}), (False, {"request": 1, "background": 1})):
            waiters.append(threading.Thread(target=take, args=(background,)))
            waiters[-1].start()
            assert slots.wait_until(lambda queued=queued: slots.waiting == queued, timeout=10)
    for waiter in waiters:
        waiter.join(timeout=10)
    assert served == ["request", "background"]


def test_requests_waiting_for_the_model_are_served_in_the_order_they_came():
    slots = EmbeddingSlots(1)
    served: list[int] = []

    def take(number: int) -> None:
        with slots.hold():
            served.append(number)

    waiters = []
    with slots.hold():
        for number in range(5):
            waiters.append(threading.Thread(target=take, args=(number,)))
            waiters[-1].start()
            assert slots.wait_until(lambda number=number: slots.waiting["request"] == number + 1, timeout=10)
    for waiter in waiters:
        waiter.join(timeout=10)
    assert served == [0, 1, 2, 3, 4]


def test_background_embedding_gives_the_same_vectors_in_pieces():
    local = LocalEmbeddings(concurrency=1)
    texts = [f"memory number {n} about the garden" for n in range(11)]
    assert np.allclose(local.embed(texts, background=True), local.embed(texts), atol=1e-5)


def test_a_backfill_under_way_stops_between_batches_when_the_server_stops():
    """A stopping server does not wait for every pending memory to be embedded:
    the batch under way is finished and committed, the rest wait for the next start."""
    owner, _ = new_user("stopping")
    with session_scope() as db:
        db.execute(insert(Observation), [{"owner_id": owner, "observation": f"Pending fact {n}"} for n in range(5)])
    asked = iter([False, True])  # carry on once, then the server stops
    embedder = LocalEmbeddings()
    try:
        done = indexing.backfill_pending(
            TEST_DATABASE.sessions, embedder=embedder, batch_size=2, stopping=lambda: next(asked, True)
        )
    finally:
        embedder.close()
        with session_scope() as db:  # leave no pending work to the servers of later tests
            db.execute(delete(Observation).where(Observation.owner_id == owner))
    assert done == 2
