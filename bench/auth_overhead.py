"""Throughput of authenticated MCP tools/call vs the same server without auth.

    python bench/auth_overhead.py [--seconds 10] [--concurrency 8] [--rounds 2]

Starts two real `python server.py` processes on one PostgreSQL — one with
REQUIRE_MCP_AUTH=true (API key, bcrypt at cost 12), one with false — and
drives each in turn (A B A B ...) with concurrent JSON-RPC tools/call
requests for memory_get. Target: authenticated >= 0.9 x unauthenticated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time

import httpx
from common import DATABASE, ROOT, database_url, machine

from core import db
from identity import accounts, api_keys
from memory import observations

HEADERS = {"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-06-18"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(url: str, require_auth: bool) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "INFO",  # as deployed; also prints the line we wait for
        "EMBEDDING_PROVIDER": "none",
        "REQUIRE_MCP_AUTH": str(require_auth).lower(),
        # The comparison server runs without auth on purpose, on loopback only.
        "ALLOW_UNAUTHENTICATED_MCP": "true",
        # Measure the rate limiter's cost, not its refusals.
        "MCP_RATE_LIMIT": "1000000/minute",
        "OAUTH_REDIRECT_BASE": f"http://127.0.0.1:{port}",
    }
    process = subprocess.Popen(
        [sys.executable, "-u", "server.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "Uvicorn running on" in line or "Application startup complete" in line:
            break
    else:
        raise SystemExit("server failed to start")
    subprocess.Popen(["cat"], stdin=process.stdout, stdout=subprocess.DEVNULL)  # keep draining its log
    return process, f"http://127.0.0.1:{port}/mcp"


async def drive(url: str, headers: dict[str, str], ref: str, seconds: float, concurrency: int) -> float:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "memory_get", "arguments": {"ref": ref}},
    }
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker(deadline: float) -> int:
            done = 0
            while time.perf_counter() < deadline:
                response = await client.post(url, json=body, headers=headers)
                if response.status_code != 200 or '"isError":true' in response.text:
                    raise SystemExit(f"request failed: {response.status_code} {response.text[:200]}")
                done += 1
            return done

        await asyncio.gather(*[worker(time.perf_counter() + 1.0) for _ in range(concurrency)])  # warm-up
        started = time.perf_counter()
        counts = await asyncio.gather(*[worker(started + seconds) for _ in range(concurrency)])
        return sum(counts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    url, embedded = database_url(args.database_url)
    servers = []
    try:
        DATABASE.connect(url)
        db.init_db(DATABASE.engine)
        with DATABASE.session_scope() as session:
            owner = accounts.local_owner(session)
            _, key = api_keys.create_key(session, user_id=owner.id, name="bench-auth", bcrypt_rounds=12)
            ref = observations.store_observation(session, owner_id=owner.id, observation="auth overhead bench memory")[
                "ref"
            ]
        DATABASE.dispose()
        authed = start_server(url, True)
        open_ = start_server(url, False)
        servers = [authed[0], open_[0]]
        results: dict[str, list[float]] = {"auth": [], "open": []}
        for _ in range(args.rounds):
            results["auth"].append(
                asyncio.run(
                    drive(authed[1], {**HEADERS, "Authorization": f"Bearer {key}"}, ref, args.seconds, args.concurrency)
                )
            )
            results["open"].append(asyncio.run(drive(open_[1], HEADERS, ref, args.seconds, args.concurrency)))
    finally:
        for process in servers:
            process.terminate()
            process.wait(timeout=30)
        if embedded is not None:
            embedded.stop()

    auth = sum(results["auth"]) / len(results["auth"])
    unauth = sum(results["open"]) / len(results["open"])
    print()
    print(
        f"MCP tools/call memory_get, {args.concurrency} concurrent clients, {args.rounds} x {args.seconds:.0f} s each"
    )
    print(f"machine: {machine()}")
    print(f"  REQUIRE_MCP_AUTH=true  (API key): {auth:8.1f} calls/s   rounds {[round(r) for r in results['auth']]}")
    print(f"  REQUIRE_MCP_AUTH=false           : {unauth:8.1f} calls/s   rounds {[round(r) for r in results['open']]}")
    print(f"  ratio authenticated/unauthenticated: {auth / unauth:.3f}   (target >= 0.9)")


if __name__ == "__main__":
    main()
