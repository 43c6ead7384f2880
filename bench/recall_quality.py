"""Recall quality on LoCoMo, through MemoryGate's real MCP tools.

    python bench/recall_quality.py                      # ../shared/data/locomo-dev.json, both protocols
    python bench/recall_quality.py --data locomo10.json --protocol turns --json out.json
    python bench/recall_quality.py --peer               # and mcp-memory-service-lite in the same run

Each LoCoMo conversation gets its own account in a fresh embedded PostgreSQL
(bench/.data-recall, wiped at start) and is stored the way an agent would
use the tools, over MCP HTTP with an API key:

* ``observations``: each session's observations (LoCoMo's per-speaker facts)
  as memory_store calls, their dialogue ids as evidence — the protocol of
  mcp-memory-service's published LoCoMo figures, for comparison;
* ``turns``: every dialogue turn kept as a conversation turn, the way a hook
  or app keeps a conversation: memory_append_turns per LoCoMo session (its
  speaker, its text with a shared photo's caption appended, the session's
  date as occurred_at, the dialogue id as the turn's id).

Then every question is asked with memory_search (limit 10, the tool's
defaults otherwise). A retrieved memory is relevant when it carries one of
the question's evidence ids. Printed: hit@5 and hit@10 (any relevant in the
top k), recall@5 (the share of the question's evidence ids in the top 5),
MRR and nDCG@10, overall and per LoCoMo category (1 multi-hop, 2 temporal,
3 open-domain, 4 single-hop, 5 adversarial), with store and search latency.
Statistics are refreshed (ANALYZE) between storing and searching, so a run
does not depend on autovacuum's timing.

With ``--peer``, the same memories and questions also go through
mcp-memory-service-lite 12.4.0's own storage API (bench/peer.py: its own
virtual environment, the same all-MiniLM-L6-v2 embeddings, one fresh store
per conversation), by vector search and by its hybrid search, scored the
same way; the ratios printed are MemoryGate's figure over the peer's best.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from common import DATABASE, ROOT, ServedApp, machine, percentile
from recall_metrics import hit_at, ndcg_at, recall_at, reciprocal_rank, summarize
from sqlalchemy import text

from core import db, embedded_postgres
from core.settings import Settings
from identity import accounts, api_keys
from memory import planner_stats
from memory.local_models import DEFAULT_MODEL, LOCAL_MODELS

DATA = ROOT.parent / "shared" / "data" / "locomo-dev.json"
DATA_DIR = ROOT / "bench" / ".data-recall"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
LIMIT = 10
METRICS = ("hit@5", "hit@10", "recall@5", "mrr", "ndcg@10")


def observations_of(conversation: dict[str, Any]) -> list[tuple[str, list[str], str | None]]:
    """(text, evidence ids, when) for each LoCoMo session observation."""
    found = []
    for session_key, by_speaker in sorted(conversation["observation"].items(), key=lambda kv: _session_number(kv[0])):
        when = _session_date(conversation["conversation"], _session_number(session_key))
        for facts in by_speaker.values():
            for fact in facts:
                evidence = fact[1] if isinstance(fact[1], list) else [fact[1]]
                found.append((fact[0], [str(e) for e in evidence], when))
    return found


def sessions_of(conversation: dict[str, Any]) -> list[tuple[str, str | None, list[dict[str, Any]]]]:
    """(session key, when, turns as memory_append_turns takes them) for each dialogue session."""
    dialogue = conversation["conversation"]
    found = []
    for number in sorted(_session_number(k) for k in dialogue if k.startswith("session_") and k[8:].isdigit()):
        when = _session_date(dialogue, number)
        turns = []
        for turn in dialogue[f"session_{number}"]:
            said = turn["text"]
            if turn.get("blip_caption"):
                said += f" [shares a photo: {turn['blip_caption']}]"
            turns.append({"speaker": turn["speaker"], "text": said, "occurred_at": when, "id": turn["dia_id"]})
        found.append((f"session_{number}", when, turns))
    return found


def turns_of(conversation: dict[str, Any]) -> list[tuple[str, list[str], str | None]]:
    """Each turn as the peer stores it: "Speaker: text"."""
    return [
        (f"{turn['speaker']}: {turn['text']}", [turn["id"]], when)
        for _, when, turns in sessions_of(conversation)
        for turn in turns
    ]


def _session_number(key: str) -> int:
    return int(key.split("_")[1])


def _session_date(dialogue: dict[str, Any], number: int) -> str | None:
    """LoCoMo's "1:56 pm on 8 May, 2023" as an ISO date-time."""
    raw = dialogue.get(f"session_{number}_date_time")
    if not raw:
        return None
    return datetime.strptime(raw.strip(), "%I:%M %p on %d %B, %Y").isoformat()


async def store_observations(client: Any, conversation: dict[str, Any]) -> tuple[dict[str, set[str]], list[float]]:
    evidence_of: dict[str, set[str]] = {}
    store_ms = []
    for body, evidence, when in observations_of(conversation):
        began = time.perf_counter()
        stored = await client.call_tool("memory_store", {"observation": body, "occurred_at": when})
        store_ms.append((time.perf_counter() - began) * 1000)
        answer = stored.structured_content  # a restatement names the memory it strengthened
        ref = answer["ref"] if answer["stored"] else answer["duplicate_of"]
        evidence_of.setdefault(ref, set()).update(evidence)
    return evidence_of, store_ms


async def store_turns(client: Any, conversation: dict[str, Any]) -> tuple[dict[str, set[str]], list[float]]:
    """A session's turns appended in one call; the time per turn is the call's share."""
    evidence_of: dict[str, set[str]] = {}
    store_ms = []
    for session, _, turns in sessions_of(conversation):
        began = time.perf_counter()
        appended = await client.call_tool("memory_append_turns", {"conversation_id": session, "turns": turns})
        per_turn = (time.perf_counter() - began) * 1000 / len(turns)
        refs = appended.structured_content["appended"]
        assert len(refs) == len(turns), "every LoCoMo turn is kept"
        for ref, turn in zip(refs, turns, strict=True):
            evidence_of[ref] = {turn["id"]}
            store_ms.append(per_turn)
    return evidence_of, store_ms


async def run_conversation(url: str, key: str, protocol: str, conversation: dict[str, Any]):
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    search_ms, rows = [], []
    async with Client(StreamableHttpTransport(url + "/mcp", headers={"Authorization": f"Bearer {key}"})) as client:
        store = store_observations if protocol == "observations" else store_turns
        evidence_of, store_ms = await store(client, conversation)
        analyze()
        questions = conversation["qa"]
        for question in questions:
            wanted = set(question.get("evidence") or [])
            began = time.perf_counter()
            found = await client.call_tool("memory_search", {"query": question["question"], "limit": LIMIT})
            search_ms.append((time.perf_counter() - began) * 1000)
            carried = [evidence_of.get(hit["ref"], set()) for hit in found.structured_content["results"]]
            rows.append(score(carried, wanted, evidence_of.values(), question["category"]))
    return rows, store_ms, search_ms


def analyze() -> None:
    """Fresh statistics, and the server (in this process) made to read them
    now: it remembers them for a minute, which would otherwise straddle this
    conversation and the last and make runs differ by their timing."""
    with DATABASE.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    planner_stats.remembered.forget()


def account_key(label: str) -> str:
    with DATABASE.session_scope() as session:
        user = accounts.upsert_user(
            session, provider="local", subject=label, email=f"{label}@memorygate.internal", record_login=False
        )
        _, key = api_keys.create_key(session, user_id=user.id, name="recall bench", bcrypt_rounds=10)
    return key


def report(protocol: str, rows: list[dict], store_ms: list[float], search_ms: list[float]) -> dict[str, Any]:
    overall = summarize([{m: row[m] for m in METRICS} for row in rows])
    by_category = {
        CATEGORIES.get(c, str(c)): summarize([{m: row[m] for m in METRICS} for row in rows if row["category"] == c])
        for c in sorted({row["category"] for row in rows})
    }
    latency = {
        "store_p50_ms": round(percentile(store_ms, 0.5), 1),
        "store_p95_ms": round(percentile(store_ms, 0.95), 1),
        "search_p50_ms": round(percentile(search_ms, 0.5), 1),
        "search_p95_ms": round(percentile(search_ms, 0.95), 1),
        "memories": len(store_ms),
    }
    print(f"\n{protocol} protocol: {overall['questions']} questions, {len(store_ms)} memories")
    print(f"  {'':12} {'hit@5':>7} {'hit@10':>7} {'rec@5':>7} {'MRR':>7} {'nDCG@10':>8} {'n':>5}")
    for name, figures in [("all", overall), *by_category.items()]:
        print(f"  {name:12} {_figures(figures)} {figures['questions']:5d}")
    print(
        f"  store p50/p95 {latency['store_p50_ms']}/{latency['store_p95_ms']} ms, "
        f"search p50/p95 {latency['search_p50_ms']}/{latency['search_p95_ms']} ms (MCP tools/call, embedding included)"
    )
    return {"overall": overall, "by_category": by_category, "latency": latency}


def _figures(figures: dict[str, Any]) -> str:
    return (
        f"{figures['hit@5']:7.1%} {figures['hit@10']:7.1%} {figures['recall@5']:7.1%} "
        f"{figures['mrr']:7.3f} {figures['ndcg@10']:8.3f}"
    )


def score(carried: list[set[str]], wanted: set[str], stored: Any, category: int) -> dict[str, Any]:
    """One question's figures: ``carried`` is each hit's evidence ids, in
    rank order; ``stored`` every memory's (for nDCG's ideal ranking)."""
    relevant = [bool(ids & wanted) for ids in carried]
    available = sum(1 for ids in stored if ids & wanted)
    return {
        "category": category,
        "hit@5": hit_at(relevant, 5),
        "hit@10": hit_at(relevant, 10),
        "recall@5": recall_at(carried, wanted, 5),
        "mrr": reciprocal_rank(relevant),
        "ndcg@10": ndcg_at(relevant, available, 10),
    }


def measure_peer(protocol: str, conversations: list[dict[str, Any]]) -> dict[str, Any]:
    """The peer on the same memories and questions, by vector and by hybrid search."""
    from peer import measure

    stored = [(observations_of if protocol == "observations" else turns_of)(c) for c in conversations]
    jobs = [
        {"memories": [body for body, _, _ in memories], "questions": [q["question"] for q in c["qa"]]}
        for memories, c in zip(stored, conversations, strict=True)
    ]
    figures = {}
    for mode in ("vector", "hybrid"):
        answers = measure(jobs, mode)
        rows = []
        for memories, conversation, found in zip(stored, conversations, answers["answers"], strict=True):
            evidence_of: dict[str, set[str]] = {}  # the peer keeps one memory per text, as a restatement does here
            for body, evidence, _ in memories:
                evidence_of.setdefault(body, set()).update(evidence)
            for question, texts in zip(conversation["qa"], found, strict=True):
                wanted = set(question.get("evidence") or [])
                carried = [evidence_of.get(text, set()) for text in texts]
                rows.append(score(carried, wanted, evidence_of.values(), question["category"]))
        figures[mode] = summarize([{m: row[m] for m in METRICS} for row in rows])
        figures[mode]["search_ms_mean"] = round(answers["search_seconds"] * 1000 / max(1, len(rows)), 1)
    return figures


def compare(measured: dict[str, Any]) -> None:
    ours, peers = measured["overall"], measured["peer"]
    print(f"  {'mcp-memory-service-lite 12.4.0':32}")
    for mode, figures in peers.items():
        print(f"  {mode:12} {_figures(figures)}   search {figures['search_ms_mean']} ms mean (in process)")
    best = {m: max(f[m] for f in peers.values()) for m in METRICS}
    ratios = {m: round(ours[m] / best[m], 3) if best[m] else None for m in best}
    gaps = {m: round((ours[m] - best[m]) * 100, 1) for m in ("hit@5", "hit@10", "recall@5")}
    measured["versus_peer_best"] = {"ratio": ratios, "points": gaps}
    print(
        f"  MemoryGate / peer's best: hit@5 {ratios['hit@5']}x ({gaps['hit@5']:+} points), "
        f"recall@5 {ratios['recall@5']}x ({gaps['recall@5']:+} points), hit@10 {ratios['hit@10']}x, "
        f"MRR {ratios['mrr']}x, nDCG@10 {ratios['ndcg@10']}x"
    )


@contextmanager
def fresh_server(data_dir: Path, model: str = DEFAULT_MODEL) -> Iterator[str]:
    """MemoryGate on a fresh embedded database in ``data_dir`` (wiped first),
    with a bundled model (the default unless ``model`` names one); yields its URL."""
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    embedded = embedded_postgres.EmbeddedPostgres(data_dir)
    try:
        url = embedded.start()
        DATABASE.connect(url)
        db.init_db(DATABASE.engine)
        from server import create_app

        served = ServedApp(
            create_app(
                Settings.model_validate(
                    {
                        "database_url": url,
                        "embedding_provider": "local",
                        "local_embedding_model": model,
                        "mcp_rate_limit": "100000/minute",
                    }
                )
            )
        )
        try:
            yield served.url
        finally:
            served.stop()
    finally:
        DATABASE.dispose()
        embedded.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="LoCoMo JSON (the full public file works too)")
    parser.add_argument("--protocol", choices=["observations", "turns", "both"], default="both")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--peer", action="store_true", help="measure mcp-memory-service-lite 12.4.0 in the same run")
    parser.add_argument("--model", choices=list(LOCAL_MODELS), default=DEFAULT_MODEL, help="the local model")
    args = parser.parse_args()
    conversations = json.loads(args.data.read_text())
    protocols = ["observations", "turns"] if args.protocol == "both" else [args.protocol]

    results: dict[str, Any] = {"machine": machine(), "data": str(args.data), "model": args.model, "protocols": {}}
    print(f"model: {args.model}")
    with fresh_server(DATA_DIR, args.model) as url:
        for protocol in protocols:
            rows, store_ms, search_ms = [], [], []
            for conversation in conversations:
                key = account_key(f"{protocol}-{conversation['sample_id']}")
                got = asyncio.run(run_conversation(url, key, protocol, conversation))
                rows += got[0]
                store_ms += got[1]
                search_ms += got[2]
            results["protocols"][protocol] = report(protocol, rows, store_ms, search_ms)
            if args.peer:
                results["protocols"][protocol]["peer"] = measure_peer(protocol, conversations)
                compare(results["protocols"][protocol])
    print(f"\nmachine: {results['machine']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
