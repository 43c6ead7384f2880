"""What the request being served is, for code far from the request object:
its id and the client's address, set once per request by
``web.guards.RequestContext`` (the address as ``web.client_address``
resolved it) and read by the logs and the audit trail."""

from __future__ import annotations

from contextvars import ContextVar

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
current_client_address: ContextVar[str | None] = ContextVar("current_client_address", default=None)
