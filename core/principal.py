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
# A credential's rights, as OAuth scopes. Forgetting is apart from writing
# so a client may store but never delete; managing the account's keys is
# apart from both, so a key that reads and writes cannot mint others.
READ_SCOPE = "memory:read"
WRITE_SCOPE = "memory:write"
FORGET_SCOPE = "memory:forget"
MANAGE_SCOPE = "account:manage"
# What an MCP client may be granted (and is offered by default): using memory.
MEMORY_SCOPES = (READ_SCOPE, WRITE_SCOPE, FORGET_SCOPE)
# What an API key may hold; a browser session and the local owner hold all.
ALL_SCOPES = (*MEMORY_SCOPES, MANAGE_SCOPE)
RIGHTS = {
    READ_SCOPE: "read: search and read memories",
    WRITE_SCOPE: "write: store, change and archive memories",
    FORGET_SCOPE: "forget: delete memories and conversations for good",
    MANAGE_SCOPE: "manage: create, list and revoke this account's API keys",
}


def step_up_scopes(held: frozenset[str], needed: str) -> str:
    """What to ask the person for when a call needs ``needed``: everything
    held and it (a new grant replaces the old, so nothing held is lost)."""
    wanted = held | {needed}
    return " ".join(scope for scope in ALL_SCOPES if scope in wanted)


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    email: str
    scopes: frozenset[str]
    # "api_key", "oauth_token", or "local" (REQUIRE_MCP_AUTH=false, or over stdio).
    credential_type: str
    credential_id: uuid.UUID | None = None
    # The spaces the credential may reach (None: every space of the account);
    # memory/spaces.py turns them into the rows a call may touch.
    space_ids: frozenset[uuid.UUID] | None = None

    def can(self, scope: str) -> bool:
        return scope in self.scopes


def from_scope(scope: MutableMapping[str, Any]) -> Principal | None:
    principal = scope.get(SCOPE_KEY)
    return principal if isinstance(principal, Principal) else None
