"""MemoryGate's entry point: assembles the FastAPI app and runs it.

``python server.py`` starts the service (embedded PostgreSQL when
DATABASE_URL is unset); ``python server.py create-key --email you@example.com``
prints an API key. ``create_app(settings)`` builds the ASGI app; nothing else
imports this module.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import make_url
from starlette.routing import Route

import oauth
import oauth_routes
from auth_middleware import AuthState
from core import db, embedded_postgres, rate_limit_store
from core.addresses import TrustedProxies
from core.settings import VERSION, Settings, UnsafeConfiguration
from identity import oauth_records as records
from mcp_auth_gate import MCPAuthGateASGI
from mcp_oauth import routes
from memory import archive, indexing, undo
from memory.access import TRACKER_KEY, AccessTracker
from memory.embeddings import EmbeddingProvider, build_provider
from memory.mcp_tools import build_mcp_server
from portability import jobs
from web import api, browse, dashboard, dependencies, keys_page, settings_page, spaces_page, transfer
from web.client_address import ForwardedClient
from web.guards import (
    FixedPath,
    HostOriginGuard,
    RequestContext,
    RequestSizeLimit,
    ScopedCORS,
    SecurityHeaders,
    cors_origins,
)

MCP_PATH = "/mcp"
PRUNING_INTERVAL_SECONDS = 3600
# Forgotten memories' undo copies leave within a minute of their window's end.
UNDO_PRUNING_SECONDS = 60
log = logging.getLogger("memorygate")


def _prepare_schema(settings: Settings, database: db.Database) -> None:
    """Local mode migrates on start. In production migrations run once per
    deploy (Fly's release_command), so a server only checks it is current."""
    if settings.is_local:
        db.init_db(database.engine)
        return
    current, head = db.schema_revision(database.engine)
    if current != head:
        raise UnsafeConfiguration(
            f"Database schema is at revision {current or 'none'}, this code needs {head}. "
            "Run `python server.py migrate` (Fly runs it as the release command)."
        )


async def _repeat(every_seconds: float, job: Callable[[], Any], name: str) -> None:
    """Run a blocking job in the threadpool now and then every N seconds."""
    while True:
        try:
            await anyio.to_thread.run_sync(job)
        except Exception:
            log.exception("background job %s failed; will retry", name)
        await asyncio.sleep(every_seconds)


def this_command() -> str:
    """How to run this server's commands with the interpreter running it
    (its venv's, which the system's ``python`` is not), as short as it can
    be said from here."""
    interpreter = Path(sys.executable)
    if interpreter.is_relative_to(Path.cwd()):
        interpreter = interpreter.relative_to(Path.cwd())
    script = Path(__file__).resolve()
    shown = script.relative_to(Path.cwd()) if script.is_relative_to(Path.cwd()) else script
    return f"{interpreter} {shown}"


def startup_banner(settings: Settings, embedder: EmbeddingProvider, providers: list[str]) -> list[str]:
    """What a person starting the server needs to see, ending in the one next step."""
    dashboard_url = settings.public_base_url + "/dashboard"
    if settings.database_url:
        url = make_url(db.normalize_url(settings.database_url))
        database = f"PostgreSQL at {url.host}:{url.port or 5432}/{url.database}"
    else:
        database = f"embedded PostgreSQL in {(settings.data_dir / 'pgdata').resolve()}"
    embedding = f"{embedder.name} ({embedder.model})" if embedder.enabled else "none (keyword search only)"
    sign_in = ", ".join(name.title() if name != "github" else "GitHub" for name in providers)
    if not sign_in:
        sign_in = "the local owner (this computer only)" if settings.is_local else "none configured"
    auth = "required (an API key, or signing in through OAuth)"
    if not settings.require_mcp_auth:
        auth = "OFF: every /mcp request acts as the local owner"
        next_step = f"point your MCP client at {settings.mcp_url} (no key needed)."
    elif providers or settings.is_local:
        next_step = f"open {dashboard_url} to sign in and connect a client, or run `{this_command()} create-key`."
    else:
        next_step = f"run `{this_command()} create-key --email you@example.com` for a key."
    return [
        f"MemoryGate {VERSION} is running.",
        f"  MCP endpoint:  {settings.mcp_url}",
        f"  Dashboard:     {dashboard_url}",
        f"  Data:          {settings.data_dir.resolve() if settings.is_local else '(DATABASE_URL)'}",
        f"  Database:      {database}",
        f"  Embeddings:    {embedding}",
        f"  Auth:          {auth}",
        f"  Sign-in:       {sign_in}",
        f"  Processes:     {settings.process_count} × {settings.thread_count} threads",
        f"Next: {next_step}",
    ]


def create_app(settings: Settings | None = None, *, banner: Callable[[list[str]], None] | None = None) -> FastAPI:
    """The ASGI app; ``banner`` receives the start-up banner's lines once the
    database is ready (the CLI prints them)."""
    settings = settings or Settings.from_env()
    problems = settings.production_problems()
    if problems:
        raise UnsafeConfiguration("Refusing to start in production mode:\n  - " + "\n  - ".join(problems))
    embedder = build_provider(settings)
    database = db.Database()
    sessions = database.sessions
    # Reads are counted in memory and written in batches (memory/access.py).
    access_tracker = AccessTracker()
    sessions.configure(info={TRACKER_KEY: access_tracker})
    mcp_http = build_mcp_server(session_factory=sessions, embedder=embedder).http_app(
        path=MCP_PATH, stateless_http=True, json_response=True
    )
    embedded = None if settings.database_url else embedded_postgres.EmbeddedPostgres(settings.data_dir)
    auth_state = AuthState.from_settings(settings, engine=lambda: database.engine)
    provider_http = httpx.AsyncClient(follow_redirects=False)

    backfill = indexing.BackfillSchedule()
    imports = jobs.Runner(database, embedder=embedder)

    def flush_counters() -> None:
        """Key usage and memory reads, counted in memory, written in batches."""
        with sessions() as session:
            auth_state.usage.flush(session)
            access_tracker.flush(session)

    def prune_expired() -> None:
        """Unused OAuth registrations, rate counters kept in the database,
        and (archived, never deleted) memories past their account's retention."""
        with database.session_scope() as session:
            records.prune_clients(session)
            archive.apply_retention(session)
            jobs.prune(session)
        if settings.rate_limit_storage == rate_limit_store.DATABASE_STORAGE:
            rate_limit_store.prune(database.engine)

    def prune_forgotten() -> None:
        with database.session_scope() as session:
            undo.prune(session)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.database_url if embedded is None else await anyio.to_thread.run_sync(embedded.start)
        assert url is not None
        # Every blocking call (database, model, bcrypt) runs on one of these
        # threads, so a connection per thread means none is ever opened
        # under load; the overflow serves the odd caller outside the pool.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.thread_count
        await anyio.to_thread.run_sync(functools.partial(database.connect, url, pool_size=settings.thread_count))
        await anyio.to_thread.run_sync(_prepare_schema, settings, database)
        if not settings.require_mcp_auth:  # production additionally needs ALLOW_UNAUTHENTICATED_MCP
            log.warning(
                "REQUIRE_MCP_AUTH=false: every /mcp request acts as the local owner with no authentication. "
                "Never expose this server to a network."
            )
        tasks = [
            asyncio.create_task(
                _repeat(
                    settings.embedding_backfill_interval_seconds,
                    lambda: backfill.run(sessions, embedder=embedder),
                    "embedding backfill",
                )
            ),
            asyncio.create_task(_repeat(settings.usage_flush_interval_seconds, flush_counters, "counter flush")),
            asyncio.create_task(_repeat(PRUNING_INTERVAL_SECONDS, prune_expired, "housekeeping")),
            asyncio.create_task(_repeat(UNDO_PRUNING_SECONDS, prune_forgotten, "forgotten memories")),
        ]
        try:
            async with mcp_http.router.lifespan_context(mcp_http):
                log.info("MemoryGate %s ready; MCP endpoint %s", VERSION, settings.mcp_url)
                if banner is not None:
                    banner(startup_banner(settings, embedder, list(app.state.oauth_providers)))
                # What start-up made lives as long as the process: the collector need never walk it again
                # (a full collection over it paused every few requests by 100 ms or more).
                gc.freeze()
                yield
        finally:
            backfill.stop()  # a pass under way ends after its batch, rather than holding the shutdown
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await anyio.to_thread.run_sync(flush_counters)
            await provider_http.aclose()
            imports.close()
            embedder.close()
            database.dispose()
            if embedded is not None:
                await anyio.to_thread.run_sync(embedded.stop)

    app = FastAPI(title="MemoryGate", version=VERSION, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.database = database
    app.state.access_tracker = access_tracker
    app.state.embedder = embedder
    app.state.backfill = backfill
    app.state.imports = imports
    app.state.auth_state = auth_state
    app.state.oauth_providers = oauth.configured_providers(settings, provider_http)
    # Added innermost first: the request id wraps everything, so even a 413
    # or a CORS refusal carries it and security headers.
    app.add_middleware(ScopedCORS, settings=settings)
    app.add_middleware(
        RequestSizeLimit,
        max_bytes=settings.max_request_bytes,
        larger={transfer.UPLOAD_PATH: settings.max_import_bytes},
    )
    app.add_middleware(SecurityHeaders, hsts=settings.served_over_https)
    own_hosts = [urlsplit(settings.public_base_url).netloc, *settings.mcp_allowed_hosts]
    if settings.is_local:
        # Local mode answers as the local owner: no route may answer a
        # rebound name (Host: attacker.example resolving to 127.0.0.1).
        app.add_middleware(HostOriginGuard, allowed_hosts=own_hosts)
    app.add_middleware(RequestContext)
    if settings.trusted_proxies:
        # Outermost: limits, logs and the audit trail all see the real client.
        app.add_middleware(
            ForwardedClient,
            trusted=TrustedProxies.parse(settings.trusted_proxies),
            client_header=settings.client_ip_header,
        )
    gate = MCPAuthGateASGI(
        mcp_http,
        sessions,
        require_auth=settings.require_mcp_auth,
        state=auth_state,
        resource=settings.mcp_url,
        resource_metadata_url=routes.resource_metadata_url(settings),
    )
    origins = cors_origins(settings)
    guarded = HostOriginGuard(gate, allowed_hosts=own_hosts, allowed_origins=origins)
    gated_mcp = FixedPath(guarded, MCP_PATH)
    for path in (MCP_PATH, MCP_PATH + "/"):
        app.router.routes.append(Route(path, gated_mcp, methods=["GET", "POST", "DELETE", "OPTIONS"]))
    oauth_endpoints = routes.OAuthEndpoints(
        settings=settings,
        session_factory=sessions,
        auth_state=auth_state,
    )
    app.router.routes.extend(oauth_endpoints.routes())
    app.include_router(oauth_routes.router)
    app.include_router(api.router)
    app.include_router(dashboard.router)
    app.include_router(keys_page.router)
    app.include_router(settings_page.router)
    app.include_router(browse.router)
    app.include_router(spaces_page.router)
    app.include_router(transfer.router)
    app.add_exception_handler(dependencies.FormRefused, _form_refused)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).resolve().parent / "web" / "static")), name="static")
    _add_service_routes(app, settings, database, embedder)
    return app


async def _form_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, dependencies.FormRefused)
    return exc.response


def _add_service_routes(app: FastAPI, settings: Settings, database: db.Database, embedder: EmbeddingProvider) -> None:
    embedding_status = {"provider": embedder.name, "model": embedder.model, "enabled": embedder.enabled}

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        try:
            status = await anyio.to_thread.run_sync(database.status)
        except Exception as exc:
            log.warning("health check: database unreachable (%s)", type(exc).__name__)
            return JSONResponse(
                {"status": "unavailable", "database": "unreachable", "embedding": embedding_status}, status_code=503
            )
        return JSONResponse({"status": "ok", **status, "embedding": embedding_status})

    @app.get("/")
    async def index() -> dict[str, Any]:
        base = settings.public_base_url
        return {
            "service": "MemoryGate",
            "version": VERSION,
            "description": "Persistent memory for AI agents over the Model Context Protocol.",
            "endpoints": {
                "mcp": settings.mcp_url,
                "health": f"{base}/health",
                "dashboard": f"{base}/dashboard",
                **oauth_routes.endpoint_index(base, providers=list(app.state.oauth_providers)),
                "oauth_protected_resource": f"{base}/.well-known/oauth-protected-resource/mcp",
                "oauth_authorization_server": f"{base}/.well-known/oauth-authorization-server",
            },
            "authentication": "Authorization: Bearer mg_... or X-API-Key: mg_... on /mcp",
        }


def main(argv: list[str]) -> int:
    from commands import cli

    return cli.main(argv, create_app=create_app)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
