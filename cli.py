"""Command line: run the server, or create an API key without any OAuth app.

python server.py                              # run (embedded DB by default)
python server.py create-key --email you@example.com [--name laptop]
                            [--read-only] [--expires-days 90]
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import accounts
import api_keys
import db
from logging_setup import configure_logging, uvicorn_log_config
from principal import ALL_SCOPES, READ_SCOPE
from settings import Settings, UnsafeConfiguration


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="server.py", description="MemoryGate: persistent memory for AI agents.")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the server (the default)")
    commands.add_parser("migrate", help="upgrade the database schema to the latest migration")
    create = commands.add_parser("create-key", help="create a user (if needed) and print a new API key")
    create.add_argument("--email", required=True, help="the account's e-mail address")
    create.add_argument("--name", default="cli", help="a label for the key (default: cli)")
    create.add_argument("--read-only", action="store_true", help="grant memory:read only")
    create.add_argument("--expires-days", type=int, default=None, help="expire after this many days")
    return parser


def main(argv: list[str], *, create_app: Callable[[Settings], Any]) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as exc:  # a malformed setting; the message names it
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    configure_logging(settings.log_level)
    try:
        if args.command == "create-key":
            return create_key_command(settings, args)
        if args.command == "migrate":
            return migrate_command(settings)
        return serve(settings, create_app)
    except db.SchemaSetupError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1


class _DropQueryStrings(logging.Filter):
    """Access-log lines keep the path but never the query string, which can
    carry OAuth codes and state."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            args = list(record.args)
            args[2] = args[2].split("?", 1)[0]
            record.args = tuple(args)
        return True


def serve(settings: Settings, create_app: Callable[[Settings], Any]) -> int:
    import uvicorn

    try:
        app = create_app(settings)
    except UnsafeConfiguration as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return 2
    print(f"MemoryGate MCP endpoint: {settings.mcp_url}", flush=True)
    log_config = uvicorn_log_config(settings.log_level)
    log_config["filters"]["drop_query"] = {"()": _DropQueryStrings}
    log_config["loggers"]["uvicorn.access"]["filters"] = ["drop_query"]
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=log_config,
        # Forwarding headers are the app's business (client_address.py): only
        # from trusted proxies, and only the header the proxy itself writes.
        proxy_headers=False,
    )
    return 0


def migrate_command(settings: Settings) -> int:
    embedded = None if settings.database_url else db.EmbeddedPostgres(settings.data_dir)
    url = settings.database_url or embedded.start()
    try:
        db.configure_engine(url, pool_size=1)
        db.init_db()
        current, _ = db.schema_revision()
    finally:
        db.dispose_engine()
        if embedded is not None:
            embedded.stop(only_if_started_here=True)
    print(f"Database schema is at revision {current}.")
    return 0


def create_key_command(settings: Settings, args: argparse.Namespace) -> int:
    if "@" not in args.email or len(args.email) > 320:
        print("error: --email must be an e-mail address")
        return 2
    if args.expires_days is not None and args.expires_days < 1:
        print("error: --expires-days must be at least 1")
        return 2
    embedded = None if settings.database_url else db.EmbeddedPostgres(settings.data_dir)
    url = settings.database_url or embedded.start()
    try:
        db.configure_engine(url, pool_size=1)
        db.init_db()
        expires_at = datetime.now(UTC) + timedelta(days=args.expires_days) if args.expires_days else None
        with db.session_scope() as session:
            user = accounts.user_for_email(session, args.email)
            _, raw = api_keys.create_key(
                session,
                user_id=user.id,
                name=args.name,
                expires_at=expires_at,
                scopes=(READ_SCOPE,) if args.read_only else ALL_SCOPES,
                bcrypt_rounds=settings.bcrypt_rounds,
            )
            email = user.email
    finally:
        db.dispose_engine()
        if embedded is not None:
            embedded.stop(only_if_started_here=True)
    print(f"API key for {email} (shown once; store it now):")
    print(raw)
    print(f"Use it as: Authorization: Bearer {raw[: api_keys.PREFIX_CHARS]}...")
    return 0
