"""How much of what a question needs a topic brief brings, on LoCoMo turns.

    python bench/brief_recall.py                  # ../shared/data/locomo-dev.json, 1,000-token briefs
    python bench/brief_recall.py --tokens 1500 --json out.json

Each LoCoMo conversation is kept the way a hook keeps one (every turn
appended with memory_append_turns, as bench/recall_quality.py's turns
protocol does), in its own account. Then, for every question, memory_brief
is asked with the question as its topic and ``max_tokens`` (default 1,000),
and the question counts as answered when one of its evidence turns is in
the brief (hit@budget; recall@budget is the share of its evidence turns
there).

The peer, mcp-memory-service-lite 12.4.0 with its hybrid search, gets the
same turns and questions; its results are written as the brief writes lines
("- [ref · date] text", a ref as long as ours) and taken in rank order
while they fit the same budget, counted with the same tokenizer: the most
it could put in the same space.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from pathlib import Path
from typing import Any

from common import machine
from recall_quality import DATA, account_key, analyze, fresh_server, store_turns, turns_of

from memory import token_count
from memory.local_models import DEFAULT_MODEL, LOCAL_MODELS

DATA_DIR = Path(__file__).resolve().parent / ".data-brief"
REF = re.compile(r"\[(turn:\d+) · ")
PEER_RESULTS = 80  # more than any budget here holds


async def measure_conversation(url: str, key: str, conversation: dict[str, Any], tokens: int) -> list[dict]:
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    rows = []
    async with Client(StreamableHttpTransport(url + "/mcp", headers={"Authorization": f"Bearer {key}"})) as client:
        evidence_of, _ = await store_turns(client, conversation)
        analyze()
        for question in conversation["qa"]:
            wanted = set(question.get("evidence") or [])
            brief = await client.call_tool("memory_brief", {"topic": question["question"], "max_tokens": tokens})
            answer = brief.structured_content
            assert answer["tokens"] <= tokens
            shown = {turn for ref in REF.findall(answer["text"]) for turn in evidence_of.get(ref, set())}
            rows.append(_score(shown, wanted, question["category"], lines=answer["text"].count("\n- ") + 1))
    return rows


def _score(shown: set[Any], wanted: set[str], category: int, *, lines: int) -> dict[str, Any]:
    found = shown & wanted
    return {
        "category": category,
        "hit": 1.0 if found else 0.0,
        "recall": len(found) / len(wanted) if wanted else 0.0,
        "lines": lines,
    }


def measure_peer(conversations: list[dict[str, Any]], tokens: int) -> list[dict]:
    from peer import measure

    stored = [turns_of(conversation) for conversation in conversations]
    jobs = [
        {"memories": [body for body, _, _ in memories], "questions": [q["question"] for q in c["qa"]]}
        for memories, c in zip(stored, conversations, strict=True)
    ]
    answers = measure(jobs, "hybrid", results=PEER_RESULTS)["answers"]
    rows = []
    for memories, conversation, found in zip(stored, conversations, answers, strict=True):
        evidence_of = {body: evidence[0] for body, evidence, _ in memories}
        when_of = {body: (when or "")[:10] for body, _, when in memories}
        for question, texts in zip(conversation["qa"], found, strict=True):
            shown, used = set(), 0
            costs = token_count.tokens(
                [f"- [turn:{10_000 + i} · {when_of.get(t, '')}] {t}\n" for i, t in enumerate(texts)]
            )
            for text, cost in zip(texts, costs, strict=True):
                if used + cost > tokens:
                    break
                used += cost
                shown.add(evidence_of.get(text))
            wanted = set(question.get("evidence") or [])
            rows.append(_score(shown, wanted, question["category"], lines=len(shown)))
    return rows


def _summary(rows: list[dict]) -> dict[str, float]:
    count = max(1, len(rows))
    return {
        "hit": round(sum(r["hit"] for r in rows) / count, 4),
        "recall": round(sum(r["recall"] for r in rows) / count, 4),
        "lines": round(sum(r["lines"] for r in rows) / count, 1),
        "questions": len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--tokens", type=int, default=1_000)
    parser.add_argument("--model", choices=list(LOCAL_MODELS), default=DEFAULT_MODEL, help="the local model")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    conversations = json.loads(args.data.read_text())
    results: dict[str, Any] = {"machine": machine(), "data": str(args.data), "model": args.model, "tokens": args.tokens}
    rows = []
    print(f"model: {args.model}")
    with fresh_server(DATA_DIR, args.model) as url:
        for conversation in conversations:
            key = account_key(f"brief-{conversation['sample_id']}")
            rows += asyncio.run(measure_conversation(url, key, conversation, args.tokens))
    results["memorygate"] = _summary(rows)
    print(f"\n{args.tokens}-token brief on each question's topic, LoCoMo turns, {len(rows)} questions")
    print(f"  {'':34} {'hit':>7} {'recall':>7} {'lines':>6}")
    figures = results["memorygate"]
    print(f"  {'MemoryGate memory_brief':34} {figures['hit']:7.1%} {figures['recall']:7.1%} {figures['lines']:6}")
    if not args.no_peer:
        results["peer_hybrid"] = _summary(measure_peer(conversations, args.tokens))
        figures = results["peer_hybrid"]
        name = "mcp-memory-service-lite hybrid"
        print(f"  {name:34} {figures['hit']:7.1%} {figures['recall']:7.1%} {figures['lines']:6}")
    print(f"\nmachine: {results['machine']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
