"""Runs inside the peer's own virtual environment (bench/.peer-venv), never ours.

Reads a job from stdin — {"mode": "vector" | "hybrid", "conversations":
[{"memories": [text, ...], "questions": [text, ...]}, ...]} — and stores each
conversation's memories in a fresh mcp-memory-service SQLite-vec store through
its own Python storage API, then asks every question (10 results, or the
job's "results"). Writes to
stdout, per conversation, per question, the texts of the results in order.
Embeddings come from the OpenAI-compatible endpoint in
MCP_EXTERNAL_EMBEDDING_URL (recall_quality.py serves the same bundled
all-MiniLM-L6-v2 MemoryGate uses), so nothing is downloaded.
"""

import asyncio
import json
import os
import sys
import tempfile
import time

from mcp_memory_service.models.memory import Memory
from mcp_memory_service.storage.sqlite_vec import SqliteVecMemoryStorage
from mcp_memory_service.utils.hashing import generate_content_hash

RESULTS = 10


async def conversation(folder, memories, questions, mode, results):
    storage = SqliteVecMemoryStorage(os.path.join(folder, "memory.db"))
    await storage.initialize()
    began = time.perf_counter()
    for text in memories:
        await storage.store(Memory(content=text, content_hash=generate_content_hash(text)), skip_semantic_dedup=True)
    stored = time.perf_counter() - began
    answers, began = [], time.perf_counter()
    for question in questions:
        if mode == "hybrid":
            found = await storage.retrieve_hybrid(question, n_results=results)
        else:
            found = await storage.retrieve(question, n_results=results)
        answers.append([result.memory.content for result in found])
    searched = time.perf_counter() - began
    await storage.close()
    return answers, stored, searched


async def main():
    job = json.load(sys.stdin)
    out = {"answers": [], "store_seconds": 0.0, "search_seconds": 0.0}
    for item in job["conversations"]:
        with tempfile.TemporaryDirectory() as folder:
            answers, stored, searched = await conversation(
                folder, item["memories"], item["questions"], job["mode"], job.get("results", RESULTS)
            )
        out["answers"].append(answers)
        out["store_seconds"] += stored
        out["search_seconds"] += searched
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
