"""WORKERS=2: two server processes on one port, one set of rate limits."""

from __future__ import annotations

import asyncio

import httpx
import psutil

from tests.support import ServerProcess, key_from_cli_output, run_cli, subprocess_env


async def _tools_list_statuses(url: str, key: str, count: int) -> list[int]:
    async with httpx.AsyncClient(timeout=30) as client:

        async def one() -> int:
            response = await client.post(
                url + "/mcp",
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {key}"},
            )
            return response.status_code

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def test_two_worker_processes_serve_one_port_and_share_rate_limits(tmp_path):
    # A day's window, so the test cannot straddle two windows of the sliding counter.
    env = subprocess_env(
        MEMORYGATE_DATA_DIR=str(tmp_path),
        EMBEDDING_PROVIDER="none",
        WORKERS="2",
        MCP_RATE_LIMIT="12/day",
        RATE_LIMIT_STORAGE_URI="auto",  # the default: in the database, since two processes serve
    )
    server = ServerProcess(env).start()
    try:
        workers = psutil.Process(server.process.pid).children()
        assert len(workers) == 2 and all(w.cmdline() == workers[0].cmdline() for w in workers)
        key = key_from_cli_output(run_cli("create-key", env=env).stdout)
        statuses = await _tools_list_statuses(server.url, key, 30)
        # Counted in the database by both processes: one limit, not one each.
        assert statuses.count(200) == 12 and statuses.count(429) == 18
    finally:
        assert server.terminate()
    assert server.process.returncode == 0  # the supervisor exits cleanly after its workers
    assert server.log.count("MemoryGate 0.2.0 is running.") == 1  # one banner
    assert server.log.count("Application shutdown complete") == 2  # each worker shut down gracefully
