"""MemoryGate under load: closed-loop MCP clients over HTTP.

    python bench/load.py                          # search and store at 1, 4, 16, 64 clients
    python bench/load.py --soak 300               # + 5 minutes of search at 16 clients
    python bench/load.py --workers 1              # one server process (default: the server's, one per core)
    python bench/load.py --memories 100000 --duration 30 --json load.json

Starts a real server (`python server.py` with its default processes, or
``--workers``; local embeddings; the embedded PostgreSQL kept in
bench/.data) and drives it with the official
MCP SDK client (through FastMCP's Client): each simulated agent holds one
session and calls a tool again as soon as the last answer arrives. All
agents share one API key, the worst case for key verification. The search
owner is seeded once (bench/search_latency.py's sentences and queries);
stores go to a second account, emptied at the start of every run.

For each phase it prints calls/s, latency p50/p95/p99, the worst call, errors
and where the CPU went (server processes, PostgreSQL, this client process).
Phases run back to back, so a whole run crosses the periodic events: the
60 s key trust and its refresh at 45 s, the 10 s counter flush and the 30 s
embedding backfill. The rate limit is raised so it refuses nothing (its
counters stay where the server keeps them: in the database whenever it
runs several processes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from common import BENCH_DATA, DATABASE, ServerProcess, database_url, machine, percentile, start_server
from search_latency import queries, seed_owner

from core import db
from identity import accounts, api_keys
from memory.embeddings import LocalEmbeddings
from models import Observation

CLIENT_LEVELS = (1, 4, 16, 64)


@dataclass
class Phase:
    tool: str
    clients: int
    processes: int
    seconds: float
    calls: int
    errors: int
    calls_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    worst_ms: float
    over_1s: int
    slow_at_s: list[float]  # when (seconds into the phase) each call over 1 s started
    cpu_server_s: float
    cpu_postgres_s: float
    cpu_client_s: float

    def line(self) -> str:
        return (
            f"{self.tool:7} {self.clients:3} clients x{self.processes}  {self.calls_per_second:6.1f} calls/s  "
            f"p50 {self.p50_ms:6.1f}  p95 {self.p95_ms:6.1f}  p99 {self.p99_ms:6.1f}  worst {self.worst_ms:7.1f} ms  "
            f"errors {self.errors}  >1s {self.over_1s}  "
            f"CPU s: server {self.cpu_server_s:5.1f}  postgres {self.cpu_postgres_s:5.1f}  "
            f"client {self.cpu_client_s:5.1f}"
        )


class CpuMeter:
    """CPU seconds used so far by the servers, PostgreSQL and this process."""

    def __init__(self, server: ServerProcess, pgdata: Path) -> None:
        main = psutil.Process(server.process.pid)
        self.servers = [main, *main.children(recursive=True)]  # the workers, when it forks them
        self.postmaster = _postmaster(pgdata)
        self.me = psutil.Process()

    def read(self) -> tuple[float, float, float]:
        server = sum(_cpu(p) for p in self.servers)
        postgres = 0.0
        if self.postmaster is not None:
            times = self.postmaster.cpu_times()
            # Exited backends are accounted to the postmaster as reaped children.
            postgres = _cpu(self.postmaster) + times.children_user + times.children_system
            for child in self.postmaster.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    postgres += _cpu(child)
        return server, postgres, _cpu(self.me)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _postmaster(pgdata: Path) -> psutil.Process | None:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    return psutil.Process(int(pid_file.read_text().splitlines()[0]))


async def run_phase(
    tool: str, clients: int, seconds: float, url: str, key: str, meter: CpuMeter, processes: int
) -> Phase:
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    questions = queries(500)
    latencies: list[float] = []
    slow: list[float] = []
    errors = 0
    deadline = 0.0

    async def agent(n: int) -> None:
        nonlocal errors
        transport = StreamableHttpTransport(url + "/mcp", headers={"Authorization": f"Bearer {key}"})
        async with Client(transport, timeout=60) as client:
            await started.wait()
            calls = 0
            while time.perf_counter() < deadline:
                calls += 1
                if tool == "search":
                    arguments = {"query": questions[(n * 37 + calls) % len(questions)], "limit": 5}
                else:
                    arguments = {"observation": f"Load agent {n} noted item {calls} at {time.time():.6f}."}
                began = time.perf_counter()
                try:
                    # The raw MCP result: the server is measured, not the client turning
                    # structured content into typed objects (FastMCP's call_tool does).
                    result = await client.call_tool_mcp(f"memory_{tool}", arguments)
                    failed = result.is_error
                except Exception:
                    failed = True
                latencies.append((time.perf_counter() - began) * 1000)
                if latencies[-1] > 1000:
                    slow.append(round(began - deadline + seconds, 1))
                errors += failed

    started = asyncio.Event()
    tasks = [asyncio.create_task(agent(n)) for n in range(clients)]
    await asyncio.sleep(0.5)  # let every agent finish its MCP handshake before the clock starts
    before = meter.read()
    began = time.perf_counter()
    deadline = began + seconds
    started.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    after = meter.read()
    cpu = [b - a for a, b in zip(before, after, strict=True)]
    return Phase(
        tool=tool,
        clients=clients,
        processes=processes,
        seconds=round(elapsed, 1),
        calls=len(latencies),
        errors=errors,
        calls_per_second=round(len(latencies) / elapsed, 1),
        p50_ms=round(percentile(latencies, 0.50), 1),
        p95_ms=round(percentile(latencies, 0.95), 1),
        p99_ms=round(percentile(latencies, 0.99), 1),
        worst_ms=round(max(latencies), 1),
        over_1s=sum(1 for ms in latencies if ms > 1000),
        slow_at_s=sorted(slow)[:20],
        cpu_server_s=round(cpu[0], 1),
        cpu_postgres_s=round(cpu[1], 1),
        cpu_client_s=round(cpu[2], 1),
    )


def prepare(memories: int) -> tuple[str, str]:
    """Seed the search owner, empty the store owner; one key for each."""
    from sqlalchemy import delete

    embedder = LocalEmbeddings()
    search_owner = seed_owner(memories, embedder)
    embedder.close()
    with DATABASE.session_scope() as session:
        store_owner = accounts.upsert_user(
            session, provider="local", subject="load-store", email="load-store@memorygate.internal", record_login=False
        )
        session.execute(delete(Observation).where(Observation.owner_id == store_owner.id))
        _, search_key = api_keys.create_key(session, user_id=search_owner, name="load search")
        _, store_key = api_keys.create_key(session, user_id=store_owner.id, name="load store")
    return search_key, store_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=10_000, help="the search owner's memories (seeded once)")
    parser.add_argument("--duration", type=float, default=20, help="seconds per phase")
    parser.add_argument("--clients", type=int, nargs="*", default=list(CLIENT_LEVELS))
    parser.add_argument("--tools", nargs="*", default=["search", "store"], choices=["search", "store"])
    parser.add_argument("--workers", type=int, default=0, help="server processes (default: the server's own)")
    parser.add_argument("--soak", type=float, default=0, help="then search at 16 clients for this many seconds")
    parser.add_argument("--warmup", type=float, default=10, help="unreported search at 16 clients first")
    parser.add_argument("--json", type=Path, help="write the phases here")
    args = parser.parse_args()

    url, embedded = database_url(None)
    server: ServerProcess | None = None
    phases: list[Phase] = []
    try:
        DATABASE.connect(url)
        db.init_db(DATABASE.engine)
        search_key, store_key = prepare(args.memories)
        server = start_server(None, workers=args.workers or None)
        meter = CpuMeter(server, BENCH_DATA / "pgdata")
        processes = max(1, len(meter.servers) - 1)
        print(f"machine: {machine()}")
        print(f"{processes} server process(es), search owner with {args.memories:,} memories")
        if args.warmup:  # every worker's model and buffers warm, as in steady service
            asyncio.run(run_phase("search", 16, args.warmup, server.url, search_key, meter, processes))
        for tool in args.tools:
            key = search_key if tool == "search" else store_key
            for clients in args.clients:
                phase = asyncio.run(run_phase(tool, clients, args.duration, server.url, key, meter, processes))
                phases.append(phase)
                print(phase.line(), flush=True)
        if args.soak:
            phase = asyncio.run(run_phase("search", 16, args.soak, server.url, search_key, meter, processes))
            phases.append(phase)
            print("soak:", phase.line(), flush=True)
            if phase.slow_at_s:
                print("  calls over 1 s started at (s into the soak):", phase.slow_at_s)
        _print_ratios(phases)
    finally:
        if server is not None:
            server.stop()
        DATABASE.dispose()
        if embedded is not None:
            embedded.stop()
    if args.json:
        args.json.write_text(json.dumps([asdict(p) for p in phases], indent=2))


def _print_ratios(phases: list[Phase]) -> None:
    rate = {(p.tool, p.clients): p.calls_per_second for p in phases if p.seconds < 100}  # the soak aside
    if all(("search", n) in rate for n in (1, 16)):
        print(f"search: 16 clients / 1 client = {rate[('search', 16)] / rate[('search', 1)]:.2f}x (target >= 1.6)")
    if all(("search", n) in rate for n in (16, 64)):
        print(f"search: 64 clients / 16 clients = {rate[('search', 64)] / rate[('search', 16)]:.2f}x (target >= 0.9)")


if __name__ == "__main__":
    main()
