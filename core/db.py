"""Database engine, the session factory and schema creation (the embedded
server is core.embedded_postgres).

Every module that needs the database imports from here (never from server.py).
The schema is managed by Alembic (migrations/); ``init_db(engine)`` upgrades to
head. A ``Database`` — an engine and its session factory — belongs to whoever
made it (the app in ``create_app``, a command, the tests), never to this
module; it is connected once the URL is known, and each request or tool call
opens its own session from ``database.sessions``.

"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("memorygate.db")


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
