"""Who a request acts for, as set in the ASGI scope by the MCP auth gate.

The gate stores a ``Principal`` under ``SCOPE_KEY``; tools read it from there
and never take a user id from the caller.
"""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

SCOPE_KEY = "memorygate.principal"
READ_SCOPE = "memory:read"
WRITE_SCOPE = "memory:write"
ALL_SCOPES = (READ_SCOPE, WRITE_SCOPE)


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    email: str
    scopes: frozenset[str]
    # "api_key", "oauth_token", or "local" (REQUIRE_MCP_AUTH=false, or over stdio).
    credential_type: str
    credential_id: uuid.UUID | None = None

    def can(self, scope: str) -> bool:
        return scope in self.scopes


def from_scope(scope: MutableMapping[str, Any]) -> Principal | None:
    principal = scope.get(SCOPE_KEY)
    return principal if isinstance(principal, Principal) else None
