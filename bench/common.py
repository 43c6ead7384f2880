"""Shared bench plumbing: a database, a served app or server process, figures and the machine."""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import db, embedded_postgres  # noqa: E402
from memory.local_models import LOCAL_MODELS, SEMANTIC_WEIGHT  # noqa: E402

BENCH_DATA = ROOT / "bench" / ".data"
# The benches' own connection to the database they measure (apps they serve make their own).
DATABASE = db.Database()


def database_url(explicit: str | None) -> tuple[str, embedded_postgres.EmbeddedPostgres | None]:
    """The URL given, or an embedded PostgreSQL kept in bench/.data for re-runs."""
    if explicit:
        return explicit, None
    embedded = embedded_postgres.EmbeddedPostgres(BENCH_DATA)
    return embedded.start(), embedded


class ServedApp:
    """uvicorn in a thread on a socket bound up front (no readiness polling)."""

    def __init__(self, app) -> None:
        # IPPROTO_TCP: asyncio sets TCP_NODELAY only on such sockets.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


class ServerProcess:
    """`python server.py` on a free port, in its own process as people run it."""

    def __init__(self, env: dict[str, str]) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "server.py")],
            env={**os.environ, **env, "PORT": str(self.port)},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)  # a bench waiting for a process to come up, not a test
        raise SystemExit("server did not become ready")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(explicit_url: str | None, *, workers: int | None = None) -> ServerProcess:
    """The server with local embeddings on the database given, or on
    bench/.data's embedded PostgreSQL (shared with the bench); the rate
    limit raised so it refuses nothing."""
    env = {
        **({"DATABASE_URL": explicit_url} if explicit_url else {"MEMORYGATE_DATA_DIR": str(BENCH_DATA)}),
        "EMBEDDING_PROVIDER": "local",
        "MCP_RATE_LIMIT": "1000000/minute",
        "LOG_LEVEL": "WARNING",
    }
    if workers:
        env["WORKERS"] = str(workers)
    server = ServerProcess(env)
    server.wait_ready()
    return server


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 0.50):7.2f} ms   p95 {percentile(values, 0.95):7.2f} ms   "
        f"mean {statistics.fmean(values):7.2f} ms   (n={len(values)})"
    )


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(
            next(
                line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
            ).split()[1]
        )
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{memory}, Python {platform.python_version()}, {platform.system()}"


class FixedEmbedding:
    """A model's identity with the query's vector computed up front, so a
    bench times the database alone."""

    name = "fixed"
    enabled = True
    dimensions = 384

    def __init__(self, model: str | None, vector: list[float]) -> None:
        self.model = model
        self.vector = vector
        self.min_similarity = LOCAL_MODELS[model].min_similarity if model in LOCAL_MODELS else 0.25
        self.semantic_weight = LOCAL_MODELS[model].semantic_weight if model in LOCAL_MODELS else SEMANTIC_WEIGHT
        self.conflict_bar = None  # a fixed vector is everyone's nearest: nothing to tell apart

    def embed(self, texts: list[str], *, background: bool = False) -> list[list[float]]:
        return [self.vector for _ in texts]

    def embed_query(self, query: str) -> list[float]:
        return self.vector

    def close(self) -> None:
        pass
