"""Pure-ASGI guards around the whole app: request ids, body limits, headers.

* ``RequestContext`` gives every request an id (a sane incoming
  ``X-Request-ID`` is kept), exposes it in the response and to the logs
  through ``current_request_id``.
* ``RequestSizeLimit`` answers 431 for an oversized header block, 413
  before reading a body whose declared length is too large, and stops
  reading a chunked body once it passes the limit.
* ``SecurityHeaders`` adds nosniff, a referrer policy, framing denial and —
  on https deployments — HSTS to every response.
* ``ScopedCORS`` answers browsers by path: OAuth discovery and token
  endpoints to any origin without cookies, everything else to our own.
* ``HostOriginGuard`` refuses foreign ``Host`` and ``Origin`` (DNS rebinding).
* ``FixedPath`` serves one ASGI app at both /mcp and /mcp/ without a redirect.

None of them buffers a response, so streamed MCP responses pass untouched.
Below the ASGI layer, ``guarded_http_protocol`` gives uvicorn deadlines for
request headers and bodies and a cap on open connections.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import uuid

from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from core.addresses import is_loopback_authority, is_loopback_origin
from core.request_context import current_client_address, current_request_id
from core.settings import Settings

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_HEADER_BYTES = 16 * 1024


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = current_request_id.set(request_id)
        client = scope.get("client")
        address_token = current_client_address.set(client[0] if client else None)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)
            current_client_address.reset(address_token)


class RequestSizeLimit:
    """431 for oversized header blocks, 413 for oversized bodies."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        larger: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_header_bytes = max_header_bytes
        self.larger = larger or {}  # exact paths allowed a larger body (a file upload)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header_bytes = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if header_bytes > self.max_header_bytes:
            await _send_error(
                send,
                431,
                "Request Header Fields Too Large",
                f"Request headers are limited to {self.max_header_bytes} bytes.",
            )
            return
        limit = self.larger.get(scope["path"], self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._too_large(send, limit)
            return
        received = 0
        started = refused = False

        async def limited_receive() -> Message:
            # A chunked body that grows past the limit: answer 413 ourselves,
            # and tell the app the client went away.
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await self._too_large(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; the app's answer is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise

    async def _too_large(self, send: Send, limit: int) -> None:
        await _send_error(send, 413, "Payload Too Large", f"Request bodies are limited to {limit} bytes.")


async def _send_error(send: Send, status: int, error: str, message: str) -> None:
    body = json.dumps({"error": error, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.defaults = [
            ("X-Content-Type-Options", "nosniff"),
            # Authorization codes and consent ids travel in URLs: never leak them.
            ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"),
        ]
        if hsts:
            self.defaults.append(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.defaults:
                    headers.setdefault(name, value)
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = "frame-ancestors 'none'"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class FixedPath:
    """Serve one ASGI app at both /mcp and /mcp/ without a redirect.

    Clients do not reliably replay a POST across a 307, so both spellings
    reach the MCP endpoint directly.
    """

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "path": self.path, "raw_path": self.path.encode()}
        await self.app(scope, receive, send)


class ScopedCORS:
    """CORS in two flavours, chosen by path.

    OAuth discovery, registration, token and revocation are called from
    browser-based MCP clients on any origin, without cookies; everything else
    allows only our own origins, with credentials.
    """

    PUBLIC_PREFIXES = ("/.well-known/", "/oauth/register", "/oauth/token", "/oauth/revoke")

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.public = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Mcp-Protocol-Version"],
        )
        self.private = CORSMiddleware(
            app,
            allow_origins=cors_origins(settings),
            allow_credentials=True,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-API-Key",
                "Mcp-Session-Id",
                "Mcp-Protocol-Version",
                "Last-Event-ID",
            ],
            expose_headers=["WWW-Authenticate", "Mcp-Session-Id"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        public = scope["type"] == "http" and scope["path"].startswith(self.PUBLIC_PREFIXES)
        await (self.public if public else self.private)(scope, receive, send)


def cors_origins(settings: Settings) -> list[str]:
    origins = [settings.frontend_url.rstrip("/"), settings.public_base_url.rstrip("/")]
    origins += [origin.rstrip("/") for origin in settings.cors_extra_origins]
    return list(dict.fromkeys(origins))


class HostOriginGuard:
    """DNS-rebinding protection: a page on another site that rebinds its
    name to this machine's address sends its own name as ``Host`` (and its
    own ``Origin``); both must be one of ours (the public base URL,
    configured extras, or loopback names on any port), or the request is
    refused with 403 before anything else reads it.

    On /mcp both are checked, as the MCP transport spec requires. In local
    mode every route is guarded by Host alone (``allowed_origins=None``):
    there the browser's own pages post with ``Origin: null``, and the forms'
    CSRF tokens do the rest.
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: list[str], allowed_origins: list[str] | None = None) -> None:
        self.app = app
        self.hosts = {host.lower() for host in allowed_hosts}
        self.origins = None if allowed_origins is None else {o.lower().rstrip("/") for o in allowed_origins}

    def _host_allowed(self, host: str) -> bool:
        host = host.lower()
        return host in self.hosts or is_loopback_authority(host)

    def _origin_allowed(self, origin: str) -> bool:
        if self.origins is None or not origin:
            return True
        return origin.lower().rstrip("/") in self.origins or is_loopback_origin(origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        origin = headers.get(b"origin", b"").decode("latin-1")
        if not self._host_allowed(host) or not self._origin_allowed(origin):
            await _send_error(send, 403, "Forbidden", "Host or Origin not allowed.")
            return
        await self.app(scope, receive, send)


def guarded_http_protocol(*, header_timeout: float, body_timeout: float, max_connections: int) -> type[H11Protocol]:
    """Uvicorn's h11 protocol with three protections for a server that faces
    the internet directly (uvicorn has none of them):

    * a deadline for a request's headers — a client that sends them slowly
      (slowloris) is disconnected after ``header_timeout`` seconds instead of
      holding a connection and a file descriptor for ever;
    * a deadline between the parts of a body — a client that stops sending
      an announced body for ``body_timeout`` seconds is disconnected, so what
      it sent so far is released (time the app takes to read what arrived
      does not count: reading is paused then, not stalled by the client);
    * a cap on open connections — past ``max_connections`` new ones are
      closed at once, so descriptors remain for the clients being served.
    """

    class GuardedH11Protocol(H11Protocol):
        _header_deadline: asyncio.TimerHandle | None = None
        _body_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.close()
                return
            self._arm_header_deadline()

        def data_received(self, data: bytes) -> None:
            if self._awaiting_headers():
                self._arm_header_deadline()  # the next request on a kept-alive connection
            super().data_received(data)
            if not self._awaiting_headers():
                self._disarm_header_deadline()
            self._disarm_body_deadline()
            if self._awaiting_body():
                self._body_deadline = self.loop.call_later(body_timeout, self._body_too_slow)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            self._disarm_body_deadline()
            super().connection_lost(exc)

        def _awaiting_headers(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _awaiting_body(self) -> bool:
            return self.cycle is not None and self.cycle.more_body and not self.cycle.response_complete

        def _arm_header_deadline(self) -> None:
            if self._header_deadline is None:
                self._header_deadline = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _disarm_header_deadline(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def _disarm_body_deadline(self) -> None:
            if self._body_deadline is not None:
                self._body_deadline.cancel()
                self._body_deadline = None

        def _headers_too_slow(self) -> None:
            self._header_deadline = None
            if self._awaiting_headers() and not self.transport.is_closing():
                self.transport.close()

        def _body_too_slow(self) -> None:
            self._body_deadline = None
            if not self._awaiting_body() or self.transport.is_closing():
                return
            if self.flow.read_paused:  # the app has not read what came yet: not the client's delay
                self._body_deadline = self.loop.call_later(body_timeout, self._body_too_slow)
                return
            self.transport.close()

    return GuardedH11Protocol


def raise_open_file_limit(wanted: int) -> int:
    """Lift this process's soft limit on open files towards ``wanted`` (as
    far as the hard limit allows); returns the limit now in force. Many
    systems start processes at 1,024, too few for a server facing the internet."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft
