"""The database a command works on, for as long as the command runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from core import db, embedded_postgres
from core.settings import Settings


@contextmanager
def database(settings: Settings, *, pool_size: int = 1) -> Iterator[db.Database]:
    """The configured database (the embedded one, shared with any running
    server, when DATABASE_URL is unset), migrated, for one command."""
    embedded = None if settings.database_url else embedded_postgres.EmbeddedPostgres(settings.data_dir)
    url = settings.database_url if embedded is None else embedded.start()
    assert url is not None
    connected = db.Database()
    try:
        db.init_db(connected.connect(url, pool_size=pool_size))
        yield connected
    finally:
        connected.dispose()
        if embedded is not None:
            embedded.stop()
