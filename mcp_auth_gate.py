"""The pure-ASGI gate in front of the MCP app.

``MCPAuthGateASGI(wrapped_app, session_factory)`` authenticates every HTTP
request before a single byte of the MCP app is sent, puts the ``Principal``
into the ASGI scope, and otherwise stays out of the way: it never buffers or
touches the response (SSE streams pass straight through), and lifespan
scopes and CORS preflight ``OPTIONS`` go to the wrapped app untouched.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable

import anyio.to_thread
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

import accounts
import auth_middleware
from principal import ALL_SCOPES, SCOPE_KEY, Principal

UNAUTHORIZED_BODY = {
    "error": "Unauthorized",
    "message": "Valid API key required. Use Authorization: Bearer mg_... or X-API-Key: mg_...",
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
        state: auth_middleware.AuthState = auth_middleware.AUTH_STATE,
    ) -> None:
        self.app = wrapped_app
        self.session_factory = session_factory
        self.require_auth = require_auth
        self.state = state
        self._local_principal: Principal | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        if self.require_auth:
            check = await anyio.to_thread.run_sync(self._verify, scope)
            if check.principal is None:
                await self._refuse(send, check)
                return
            principal = check.principal
        else:
            principal = await self._local_owner()
        await self.app({**scope, SCOPE_KEY: principal}, receive, send)

    def _verify(self, scope: Scope) -> auth_middleware.KeyCheck:
        client = scope.get("client")
        with self.session_factory() as db:
            return auth_middleware.verify_request_api_key(
                db, scope["headers"], client_ip=client[0] if client else None, state=self.state
            )

    async def _local_owner(self) -> Principal:
        if self._local_principal is None:
            user_id, email = await anyio.to_thread.run_sync(self._load_local_owner)
            self._local_principal = Principal(
                user_id=user_id, email=email, scopes=frozenset(ALL_SCOPES), credential_type="local"
            )
        return self._local_principal

    def _load_local_owner(self) -> tuple[uuid.UUID, str]:
        with self.session_factory() as db:
            user = accounts.local_owner(db)
            db.commit()
            return user.id, user.email

    @staticmethod
    async def _refuse(send: Send, check: auth_middleware.KeyCheck) -> None:
        if check.error == auth_middleware.THROTTLED:
            status, body = 429, THROTTLED_BODY
            extra = [(b"retry-after", str(max(1, math.ceil(check.retry_after or 1))).encode())]
        else:
            status, body = 401, UNAUTHORIZED_BODY
            extra = [(b"www-authenticate", b"Bearer")]
        payload = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"cache-control", b"no-store"),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
