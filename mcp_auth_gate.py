"""The pure-ASGI gate in front of the MCP app.

``MCPAuthGateASGI(wrapped_app, session_factory, state=...)`` authenticates every HTTP
request before a single byte of the MCP app is sent, puts the ``Principal``
into the ASGI scope, and otherwise stays out of the way: it never buffers or
touches the response (SSE streams pass straight through), and lifespan
scopes and CORS preflight ``OPTIONS`` go to the wrapped app untouched.

A call beyond an OAuth token's rights (a tool, resource or prompt it may not
use) is answered here with HTTP 403 and ``WWW-Authenticate: Bearer
error="insufficient_scope", scope="…"``, as the MCP authorization spec asks,
so the client can have the person grant more (step-up) and try again; for
that the request's JSON-RPC body, small and already size-limited, is read
first and handed on unchanged. API keys are not re-authorized by clients, so
their calls reach the tool, which answers with a one-line tool error.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable

import anyio.to_thread
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import auth_middleware
from core.principal import ALL_SCOPES, MEMORY_SCOPES, SCOPE_KEY, Principal, step_up_scopes
from identity import accounts
from memory.tool_rights import right_for_message

log = logging.getLogger("memorygate.auth")

UNAUTHORIZED_BODY = {
    "error": "Unauthorized",
    "message": "Valid API key required. Use Authorization: Bearer mg_... or X-API-Key: mg_...",
}
UNAVAILABLE_BODY = {
    "error": "Service Unavailable",
    "message": "The database is unreachable; nothing was done. Try again shortly.",
}
RATE_LIMITED_BODY = {
    "error": "Too Many Requests",
    "message": "This credential is making too many requests. Slow down and retry later.",
}
INSUFFICIENT_SCOPE_BODY = {
    "error": "insufficient_scope",
    "message": "This credential lacks {right}; ask the person to grant it (nothing was done).",
}
THROTTLED_BODY = {
    "error": "Too Many Requests",
    "message": "Too many failed authentication attempts. Try again later.",
}


class MCPAuthGateASGI:
    def __init__(
        self,
        wrapped_app: ASGIApp,
        session_factory: Callable[[], Session],
        *,
        require_auth: bool = True,
        state: auth_middleware.AuthState,
        resource: str = "",
        resource_metadata_url: str | None = None,
    ) -> None:
        self.app = wrapped_app
        self.session_factory = session_factory
        self.require_auth = require_auth
        self.state = state
        self.resource = resource
        self._local_principal: Principal | None = None
        # RFC 9728 §5.1: point clients at the resource metadata from every 401
        # and 403, and offer what a memory client uses (the person may grant less).
        self._resource_metadata = [f'resource_metadata="{resource_metadata_url}"'] if resource_metadata_url else []
        self._challenge_params = (
            [*self._resource_metadata, f'scope="{" ".join(MEMORY_SCOPES)}"'] if resource_metadata_url else []
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._authenticate(scope, send)
        except OperationalError:
            log.warning("authentication skipped: database unreachable")
            await _send_json(send, 503, UNAVAILABLE_BODY, [(b"retry-after", b"5")])
            return
        if principal is None or not await self._within_rate(principal, send):
            return
        if principal.credential_type == "oauth_token" and scope["method"] == "POST":
            receive, needed = await _rights_needed(receive)
            lacking = next((right for right in needed if not principal.can(right)), None)
            if lacking is not None:
                await self._refuse_scope(send, principal, lacking)
                return
        await self.app({**scope, SCOPE_KEY: principal}, receive, send)

    async def _authenticate(self, scope: Scope, send: Send) -> Principal | None:
        """The caller, or None once a refusal has been sent."""
        if not self.require_auth:
            return await anyio.to_thread.run_sync(self._local_owner)
        principal = auth_middleware.cached_principal(scope["headers"], state=self.state)
        if principal is not None and await anyio.to_thread.run_sync(self._confirm, principal):
            return principal
        check = await anyio.to_thread.run_sync(self._verify, scope)
        if check.principal is None:
            await self._refuse(send, check)
        return check.principal

    def _confirm(self, principal: Principal) -> bool:
        with self.session_factory() as db:
            return auth_middleware.confirm_cached(db, principal, state=self.state)

    async def _within_rate(self, principal: Principal, send: Send) -> bool:
        wait = await self.state.mcp_rate.hit_async(str(principal.credential_id or principal.user_id))
        if wait is None:
            return True
        await _send_json(send, 429, RATE_LIMITED_BODY, [(b"retry-after", str(max(1, math.ceil(wait))).encode())])
        return False

    def _verify(self, scope: Scope) -> auth_middleware.KeyCheck:
        client = scope.get("client")
        with self.session_factory() as db:
            check = auth_middleware.verify_request_credentials(
                db, scope["headers"], audience=self.resource, client_ip=client[0] if client else None, state=self.state
            )
            db.commit()  # audit events of failure bursts
            return check

    def _local_owner(self) -> Principal:
        """The local owner, read again whenever the account behind the
        remembered one is gone (the owner deleted it: a new one is made)."""
        with self.session_factory() as db:
            known = self._local_principal
            if known is not None and accounts.get_user(db, known.user_id) is not None:
                return known
            user = accounts.local_owner(db)
            db.commit()
            known = Principal(user_id=user.id, email=user.email, scopes=frozenset(ALL_SCOPES), credential_type="local")
            self._local_principal = known
            return known

    async def _refuse_scope(self, send: Send, principal: Principal, right: str) -> None:
        params = [
            'error="insufficient_scope"',
            f'scope="{step_up_scopes(principal.scopes, right)}"',
            *self._resource_metadata,
            f'error_description="this token lacks {right}"',
        ]
        body = {**INSUFFICIENT_SCOPE_BODY, "message": INSUFFICIENT_SCOPE_BODY["message"].format(right=right)}
        await _send_json(send, 403, body, [(b"www-authenticate", ("Bearer " + ", ".join(params)).encode())])

    async def _refuse(self, send: Send, check: auth_middleware.KeyCheck) -> None:
        if check.error == auth_middleware.THROTTLED:
            retry_after = str(max(1, math.ceil(check.retry_after or 1))).encode()
            await _send_json(send, 429, THROTTLED_BODY, [(b"retry-after", retry_after)])
            return
        params = list(self._challenge_params)
        if check.error != auth_middleware.MISSING:
            params.append('error="invalid_token"')
        challenge = ("Bearer " + ", ".join(params)) if params else "Bearer"
        await _send_json(send, 401, UNAUTHORIZED_BODY, [(b"www-authenticate", challenge.encode())])


async def _rights_needed(receive: Receive) -> tuple[Receive, list[str]]:
    """The rights the request's JSON-RPC message (or each of a batch) needs,
    and a ``receive`` that hands the body on unchanged."""
    chunks, messages = [], []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    try:
        parsed = json.loads(b"".join(chunks) or b"null")
    except ValueError:
        parsed = None  # the MCP app answers what is not JSON
    items = parsed if isinstance(parsed, list) else [parsed]
    needed = [right for item in items if (right := right_for_message(item)) is not None]
    pending = iter(messages)

    async def replay() -> Message:
        return next(pending, None) or await receive()

    return replay, needed


async def _send_json(send: Send, status: int, body: dict, extra: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
