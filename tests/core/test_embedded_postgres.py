"""The embedded PostgreSQL runs with settings sized for the machine."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core import embedded_postgres
from tests.support import session_scope

GIB = 1024**3


def test_the_running_embedded_server_uses_them():
    wanted = embedded_postgres.server_settings(embedded_postgres.available_memory(), os.cpu_count() or 1)
    with session_scope() as session:
        shown = {name: session.execute(text(f"SHOW {name}")).scalar() for name in ("jit", "shared_buffers")}
    assert shown["jit"] == "off"
    # PostgreSQL shows buffers in its own unit: compare in megabytes.
    value = shown["shared_buffers"]
    megabytes = int(value[:-2]) * (1024 if value.endswith("GB") else 1)
    assert megabytes == int(wanted["shared_buffers"][:-2])


@pytest.mark.slow
def test_a_long_data_path_keeps_the_socket_to_the_user_running_the_server(tmp_path):
    """Past the socket path limit the socket goes to a shared temporary
    folder; it still admits only the server's own user (trust is the
    authentication there), so another local uid cannot connect."""
    data_dir = tmp_path / ("d" * 60) / ("e" * 60)
    embedded = embedded_postgres.EmbeddedPostgres(data_dir)
    url = make_url(embedded.start())
    try:
        socket_dir = Path(str(url.query["host"]))
        assert not socket_dir.is_relative_to(data_dir.resolve())  # the long-path case
        (socket_file,) = [path for path in socket_dir.glob(".s.PGSQL.*") if path.is_socket()]
        assert stat.S_IMODE(socket_file.stat().st_mode) == 0o700
        if os.geteuid() == 0:
            assert _connects_as("nobody", str(socket_dir)) is False
    finally:
        embedded.stop()


def _connects_as(user: str, socket_dir: str) -> bool:
    """Whether another local user can open the socket: a forked child takes
    that user's uid and tries (only a connect, then it exits)."""
    entry = pwd.getpwnam(user)
    child = os.fork()
    if child == 0:
        code = 4
        try:
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            psycopg2.connect(host=socket_dir, user="postgres", dbname="postgres", connect_timeout=5).close()
            code = 0
        except psycopg2.OperationalError:
            code = 3
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.WEXITSTATUS(status) in (0, 3)
    return os.WEXITSTATUS(status) == 0
