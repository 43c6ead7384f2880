"""The bundled embedding models: bge-small-en-v1.5 (the default) as it must
be run, a choice between the two, and moving a database from one to the other."""

from __future__ import annotations

import asyncio
import logging
import typing

import numpy as np
import pytest
from sqlalchemy import delete

from core.db import try_take_turns
from core.settings import Settings
from memory import bge_small, indexing, observations
from memory.embeddings import LocalEmbeddings, NoEmbeddings
from memory.local_models import DEFAULT_MODEL, LOCAL_MODELS
from models import Embedding
from tests.support import (
    TEST_DATABASE,
    ServerProcess,
    call,
    mcp_client,
    new_user,
    run_cli,
    session_scope,
    subprocess_env,
    tool_client,
)

FACTS = [
    "Ann moved to Porto last spring and lives near the river.",
    "I drink only tea now; coffee keeps me awake.",
    "The quarterly report is due on the first Friday of March.",
    "Our dog Biscuit is a rescue greyhound who hates thunderstorms.",
]
QUESTIONS = [
    "Where does Ann live?",
    "What does the person drink?",
    "When is the report due?",
    "What kind of dog is Biscuit?",
]


@pytest.fixture(scope="module")
def bge() -> LocalEmbeddings:
    return LocalEmbeddings(LOCAL_MODELS[bge_small.MODEL_NAME], concurrency=1)


def test_bge_small_is_the_default_and_the_setting_names_exactly_the_bundled_models():
    assert DEFAULT_MODEL == "bge-small-en-v1.5" == Settings.model_fields["local_embedding_model"].default
    allowed = typing.get_args(Settings.model_fields["local_embedding_model"].annotation)
    assert set(allowed) == set(LOCAL_MODELS)
    assert all(model.is_available() for model in LOCAL_MODELS.values())


def test_bge_small_finds_each_fact_from_its_question(bge):
    memories = np.array(bge.embed(FACTS))
    questions = np.array([bge.embed_query(question) for question in QUESTIONS])
    assert memories.shape == (4, 384)
    assert np.allclose(np.linalg.norm(memories, axis=1), 1.0, atol=1e-5)
    similarities = questions @ memories.T
    assert list(similarities.argmax(axis=1)) == [0, 1, 2, 3]
    # Each question is nearer its fact than the floor, the others further.
    floor = bge.min_similarity
    assert all(similarities[i, i] >= floor for i in range(4))


def test_only_queries_carry_the_retrieval_instruction(bge):
    question = QUESTIONS[0]
    as_query = np.array(bge.embed_query(question))
    as_memory = np.array(bge.embed([question])[0])
    with_instruction = np.array(bge.embed([bge_small.QUERY_INSTRUCTION + question])[0])
    assert np.allclose(as_query, with_instruction, atol=1e-6)
    assert float(as_query @ as_memory) < 0.99


def test_a_texts_vector_does_not_depend_on_the_texts_embedded_with_it(bge):
    """The int8 model scales activations over its whole input: a batch would
    let a neighbour (and its padding) change a memory's vector."""
    alone = np.array(bge.embed([FACTS[0]]))
    with_others = np.array(bge.embed([FACTS[0], " ".join(FACTS * 5)]))[:1]
    assert np.array_equal(alone, with_others)


def test_each_model_runs_one_thread_per_call(bge):
    options = bge_small.BgeSmall.load()._session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1


async def test_search_leaves_out_what_is_only_loosely_related_at_the_models_own_floor(local_embedder):
    owner, _ = new_user("model-floor")
    async with tool_client(owner, embedder=local_embedder) as client:
        await call(client, "memory_store", observation=FACTS[2])
        loose = "What is the capital of Mongolia?"
        similarity = local_embedder.embed_query(loose) @ np.array(local_embedder.embed([FACTS[2]])[0])
        # Above all-MiniLM-L6-v2's floor, below bge-small's: only a per-model floor leaves it out.
        assert LOCAL_MODELS["all-MiniLM-L6-v2"].min_similarity < similarity < local_embedder.min_similarity
        assert (await call(client, "memory_search", query=loose))["results"] == []
        kept = await call(client, "memory_search", query=loose, min_similarity=0.0)
        assert len(kept["results"]) == 1


def test_a_long_backfill_tells_the_operator_how_far_it_is(local_embedder, caplog, monkeypatch):
    owner, _ = new_user("backfill-progress")
    with session_scope() as db:
        for fact in FACTS:
            observations.store_observation(db, owner_id=owner, observation=fact)
    with session_scope() as db:
        db.execute(delete(Embedding).where(Embedding.owner_id == owner))
    monkeypatch.setattr(indexing, "PROGRESS_LOG_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger="memorygate.embeddings"):
        done = indexing.backfill_pending(TEST_DATABASE.sessions, embedder=local_embedder, owner_id=owner, batch_size=2)
    assert done == 4
    said = [record.getMessage() for record in caplog.records]
    assert "embedding 4 memories for model bge-small-en-v1.5 in the background" in said
    assert any(line.startswith("embedding for model bge-small-en-v1.5: 4 of 4 done (") for line in said), said


@pytest.mark.slow  # three server starts on a fresh embedded database
async def test_a_change_of_local_model_re_embeds_everything_and_the_operator_can_see_it(tmp_path):
    minilm_env = subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path), LOCAL_EMBEDDING_MODEL="all-MiniLM-L6-v2")
    key = run_cli("create-key", env=minilm_env).stdout.strip()
    before = ServerProcess(minilm_env).start()
    try:
        async with mcp_client(before.url, key) as client:
            refs = [(await call(client, "memory_store", observation=fact))["ref"] for fact in FACTS]
    finally:
        assert before.terminate()

    bge_env = subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path))
    waiting = run_cli("embeddings", env=bge_env)
    assert waiting.returncode == 0, waiting.stderr
    assert "Model:    bge-small-en-v1.5 (local)" in waiting.stdout
    assert "Memories: 4, 0 with a vector of this model, 4 pending" in waiting.stdout
    assert "all-MiniLM-L6-v2" in waiting.stdout and "embeds pending memories in the background" in waiting.stdout

    after = ServerProcess(bge_env).start()
    try:
        async with mcp_client(after.url, key) as client:
            for _ in range(400):  # bounded: the background pass runs at start
                if (await call(client, "memory_stats"))["embedding"]["pending"] == 0:
                    break
                await asyncio.sleep(0.05)
            found = await call(client, "memory_search", query=QUESTIONS[0])
            assert found["mode"] == "hybrid" and found["results"][0]["ref"] == refs[0]
    finally:
        assert after.terminate()
    assert "backfilled 4 embedding(s) for model bge-small-en-v1.5" in after.log

    moved = run_cli("embeddings", env=bge_env).stdout
    assert "Memories: 4, 4 with a vector of this model, 0 pending" in moved
    assert [line.split() for line in moved.splitlines() if line.startswith("  ")] == [
        ["all-MiniLM-L6-v2", "4"],
        ["bge-small-en-v1.5", "4", "(the", "configured", "model)"],
    ]
    dropped = run_cli("embeddings", "--drop-other-models", env=bge_env).stdout
    assert "Dropped 4 vectors of other models." in dropped
    assert "all-MiniLM-L6-v2" not in run_cli("embeddings", env=bge_env).stdout


def test_one_server_process_at_a_time_runs_a_backfill_pass(local_embedder):
    """Every process starts a pass at once; without the lock each would embed
    the same memories (after a change of model, all of them)."""
    owner, _ = new_user("backfill-lock")
    with session_scope() as db:
        observations.store_observation(db, owner_id=owner, observation=FACTS[3])
        db.execute(delete(Embedding).where(Embedding.owner_id == owner))
    this_process = indexing.BackfillSchedule()
    with TEST_DATABASE.sessions() as holder, holder.begin():
        # Another process's pass for this model is under way.
        assert try_take_turns(holder, "embedding backfill", local_embedder.model)
        assert this_process.run(TEST_DATABASE.sessions, embedder=local_embedder) == 0
        assert this_process.passes == 0 and this_process.deferred_to_another == 1
        # A pass for another model (a process not yet redeployed) is no reason to wait.
        elsewhere = indexing.BackfillSchedule()
        elsewhere.run(TEST_DATABASE.sessions, embedder=NoEmbeddings())
        assert elsewhere.passes == 1
    with TEST_DATABASE.sessions() as db:
        assert indexing.pending_count(db, model=local_embedder.model, owner_id=owner) == 1
    # Still due: once the other pass is over, the next tick runs one.
    assert this_process.run(TEST_DATABASE.sessions, embedder=local_embedder) >= 1
    assert this_process.passes == 1
    with TEST_DATABASE.sessions() as db:
        assert indexing.pending_count(db, model=local_embedder.model, owner_id=owner) == 0
