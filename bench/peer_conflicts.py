"""Runs inside the peer's own virtual environment (bench/.peer-venv), never ours.

Reads a job from stdin — {"current": [text, ...], "new": [text, ...]} —
stores every current memory in a fresh mcp-memory-service SQLite-vec store
through its own Python storage API, then stores each new statement with the
peer's defaults (its semantic de-duplication on) and reads what the peer
made of it: the memories its on-store conflict detection linked as
"contradicts" (its memory_graph), or the memory it rejected the statement
as a duplicate of. Each new statement is deleted again before the next, so
each meets the same memories. Writes to stdout, per statement, {"flagged":
[texts], "duplicate_of": text or null}.
"""

import asyncio
import json
import os
import re
import sys
import tempfile

from mcp_memory_service.models.memory import Memory
from mcp_memory_service.storage.sqlite_vec import SqliteVecMemoryStorage
from mcp_memory_service.utils.hashing import generate_content_hash


async def judge(storage, text, content_of):
    content_hash = generate_content_hash(text)
    stored, message = await storage.store(Memory(content=text, content_hash=content_hash))
    if not stored:
        duplicate = re.search(r"similar to ([a-f0-9]+)", str(message))
        return {"flagged": [], "duplicate_of": content_of.get(duplicate.group(1)) if duplicate else str(message)}
    rows = storage.conn.execute(
        "SELECT target_hash FROM memory_graph WHERE source_hash = ? AND relationship_type = 'contradicts'",
        (content_hash,),
    ).fetchall()
    await storage.delete(content_hash)
    return {"flagged": [content_of[row[0]] for row in rows if row[0] in content_of], "duplicate_of": None}


async def main():
    job = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as folder:
        storage = SqliteVecMemoryStorage(os.path.join(folder, "memory.db"))
        await storage.initialize()
        content_of = {}
        for text in job["current"]:
            content_hash = generate_content_hash(text)
            await storage.store(Memory(content=text, content_hash=content_hash), skip_semantic_dedup=True)
            content_of[content_hash] = text
        judged = [await judge(storage, text, content_of) for text in job["new"]]
        await storage.close()
    json.dump({"statements": judged}, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
