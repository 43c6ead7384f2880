"""How well storing names the fact a new observation replaces
(``possible_conflicts``): precision and recall on a labelled set.

    python bench/conflicts.py
    python bench/conflicts.py --model all-MiniLM-L6-v2

bench/data/conflicts.json holds subjects' current memories and new
statements, each labelled with the current memory it replaces or with none
(its "about" says where they come from). Every group's current memories are
stored in one account, as an agent would have stored them over time, so a
statement may be flagged against any subject's memory, not only its own.
Each new statement is then stored through ``store_observation`` and rolled
back, so each meets the same memories. A flag is right when it names the
memory the statement replaces; precision is right flags over all flags,
recall right flags over the statements that replace one. Figures come for
the whole set and for each half (odd and even groups), as a check that
nothing was tuned to one half. With ``--peer``, mcp-memory-service-lite's
own on-store detection meets the same statements in the same run
(bench/peer_conflicts.py), and how many it refused as duplicates (lost).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path
from typing import Any

import peer
from common import DATABASE, ROOT, database_url, machine, percentile

from core import db
from identity import accounts, deletion
from memory import indexing, observations
from memory.embeddings import LocalEmbeddings
from memory.local_models import DEFAULT_MODEL, LOCAL_MODELS

LABELLED = ROOT / "bench" / "data" / "conflicts.json"


def store_current(owner: uuid.UUID, embedder: LocalEmbeddings, groups: list[dict[str, Any]]) -> list[list[str]]:
    """Every group's current memories, stored and embedded; their refs by group."""
    refs = []
    for group in groups:
        with DATABASE.sessions() as session:
            stored = [
                observations.store_observation(session, owner_id=owner, observation=text, embedder=embedder)["ref"]
                for text in group["current"]
            ]
            session.commit()
            indexing.index_committed(session, embedder=embedder)  # a unit of work's second step: keep the vectors
        refs.append(stored)
    return refs


def flagged(owner: uuid.UUID, embedder: Any, text: str) -> tuple[list[str], float]:
    """The refs storing ``text`` lists as possible conflicts (the store then
    rolled back), and how long storing took in milliseconds."""
    with DATABASE.sessions() as session:
        started = time.perf_counter()
        stored = observations.store_observation(session, owner_id=owner, observation=text, embedder=embedder)
        elapsed = (time.perf_counter() - started) * 1000
        session.rollback()
    return [conflict["ref"] for conflict in stored.get("possible_conflicts", [])], elapsed


class WithoutCheck:
    """The same model with no conflict bar: a store as it was before the check, for its cost."""

    conflict_bar = None

    def __init__(self, embedder: LocalEmbeddings) -> None:
        self.enabled, self.model = embedder.enabled, embedder.model
        self.embed = embedder.embed


def evaluate(owner: uuid.UUID, embedder: LocalEmbeddings, groups: list[dict[str, Any]]) -> dict[str, Any]:
    refs = store_current(owner, embedder, groups)
    unchecked_ms = [
        flagged(owner, WithoutCheck(embedder), statement["text"])[1] for group in groups for statement in group["new"]
    ]
    halves = {0: {"flags": 0, "right": 0, "updates": 0}, 1: {"flags": 0, "right": 0, "updates": 0}}
    store_ms: list[float] = []
    wrong: list[str] = []
    for number, group in enumerate(groups):
        counts = halves[number % 2]
        for statement in group["new"]:
            replaces = statement["replaces"]
            expected = None if replaces is None else refs[number][replaces]
            found, elapsed = flagged(owner, embedder, statement["text"])
            store_ms.append(elapsed)
            counts["updates"] += expected is not None
            counts["flags"] += len(found)
            counts["right"] += expected in found
            if found != ([expected] if expected else []):
                wrong.append(f"{statement['text']!r}: flagged {found or 'nothing'}, replaces {expected or 'nothing'}")
    return {"halves": halves, "store_ms": store_ms, "unchecked_ms": unchecked_ms, "wrong": wrong}


def peer_counts(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """The peer's own on-store detection, as its defaults run it (bench/peer_conflicts.py)."""
    current = [text for group in groups for text in group["current"]]
    statements = [(number, statement) for number, group in enumerate(groups) for statement in group["new"]]
    judged = peer.run("peer_conflicts.py", {"current": current, "new": [s["text"] for _, s in statements]})
    halves = {0: {"flags": 0, "right": 0, "updates": 0}, 1: {"flags": 0, "right": 0, "updates": 0}}
    rejected = {"updates": 0, "additions": 0}
    for (number, statement), outcome in zip(statements, judged["statements"], strict=True):
        counts = halves[number % 2]
        replaces = statement["replaces"]
        expected = None if replaces is None else groups[number]["current"][replaces]
        counts["updates"] += expected is not None
        counts["flags"] += len(outcome["flagged"])
        counts["right"] += expected in outcome["flagged"]
        if outcome["duplicate_of"] is not None:
            rejected["updates" if expected else "additions"] += 1
    return {"halves": halves, "rejected": rejected}


def figures(counts: dict[str, int]) -> str:
    precision = f"{counts['right'] / counts['flags']:.2f}" if counts["flags"] else "— (nothing flagged)"
    recall = counts["right"] / counts["updates"]
    return (
        f"precision {precision}, recall {recall:.2f} "
        f"({counts['right']} right of {counts['flags']} flags, {counts['updates']} updates)"
    )


def report(halves: dict[int, dict[str, int]]) -> None:
    whole = {name: halves[0][name] + halves[1][name] for name in halves[0]}
    print(f"  all:          {figures(whole)}")
    print(f"  odd groups:   {figures(halves[1])}")
    print(f"  even groups:  {figures(halves[0])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(LOCAL_MODELS), default=DEFAULT_MODEL)
    parser.add_argument("--database-url", help="default: an embedded PostgreSQL in bench/.data")
    parser.add_argument("--show-wrong", action="store_true", help="list every statement flagged wrongly or missed")
    parser.add_argument("--peer", action="store_true", help="also run mcp-memory-service-lite's own detection")
    args = parser.parse_args()
    groups = json.loads(Path(LABELLED).read_text())["groups"]
    url, embedded = database_url(args.database_url)
    embedder = LocalEmbeddings(LOCAL_MODELS[args.model])
    try:
        DATABASE.connect(url)
        db.init_db(DATABASE.engine)
        with DATABASE.session_scope() as session:
            owner = accounts.user_for_email(session, f"bench-conflicts-{uuid.uuid4().hex[:8]}@memorygate.internal").id
        try:
            result = evaluate(owner, embedder, groups)
        finally:
            with DATABASE.session_scope() as session:
                deletion.delete_account(session, owner, by="operator")
    finally:
        embedder.close()
        DATABASE.dispose()
        if embedded is not None:
            embedded.stop()
    compared = peer_counts(groups) if args.peer else None
    statements = sum(len(group["new"]) for group in groups)
    pairs = sum(len(group["new"]) * len(group["current"]) for group in groups)
    print(f"\nmachine: {machine()}")
    print(f"{len(groups)} subjects, {statements} new statements, {pairs} labelled pairs")
    print(f"MemoryGate, {args.model}:")
    report(result["halves"])
    if compared is not None:
        print(f"{peer.PACKAGE} (its defaults, its own {peer.MODEL}):")
        report(compared["halves"])
        rejected = compared["rejected"]
        print(f"  refused as duplicates: {rejected['updates']} updates, {rejected['additions']} additions (not stored)")
    for label, times in (("with the check", result["store_ms"]), ("without it", result["unchecked_ms"])):
        p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
        print(f"  a store {label} (in process, embedding included): p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    if args.show_wrong:
        print("\n".join(["", *result["wrong"]]))


if __name__ == "__main__":
    main()
