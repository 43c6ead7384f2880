"""The database pool matches the server's worker threads: no churn under load."""

from __future__ import annotations

import asyncio

from sqlalchemy import event

from server import create_app
from tests.support import call, mcp_client, serve, user_with_key

THREADS = 4


async def _concurrent_searches(url: str, key: str, clients: int) -> list[int]:
    async def one(n: int) -> int:
        async with mcp_client(url, key) as client:
            found = await call(client, "memory_search", query=f"pool check {n}")
            return found["count"]

    return await asyncio.gather(*(one(n) for n in range(clients)))


async def test_concurrent_requests_reuse_one_connection_per_worker_thread():
    with serve(create_app, worker_threads=THREADS) as served:
        _, key = user_with_key()
        await _concurrent_searches(served.url, key, 1)  # the app has started and connected
        engine = served.app.state.database.engine
        opened = []
        event.listen(engine, "connect", lambda *_: opened.append(1))
        for _wave in range(3):
            await _concurrent_searches(served.url, key, 24)
        # 72 searches, 24 at a time: served by at most one connection per thread, each opened once.
        assert len(opened) + 1 <= THREADS
        assert engine.pool.size() == THREADS
