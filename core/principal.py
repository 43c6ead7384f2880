"""Who a request acts for, as set in the ASGI scope by the MCP auth gate.

The gate stores a ``Principal`` under ``SCOPE_KEY``; tools read it from there
and never take a user id from the caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

SCOPE_KEY = "memorygate.principal"
EVERY_OTHER_SPACE = "*"  # in space_scopes: the spaces a credential's rights do not name
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
    # Fewer rights in some spaces: a space's id as text (or "*", every space
    # not named) -> the scopes held there; None: ``scopes`` everywhere.
    space_scopes: Mapping[str, frozenset[str]] | None = None

    def can(self, scope: str) -> bool:
        return scope in self.scopes

    def scopes_in(self, space_id: uuid.UUID) -> frozenset[str]:
        """What this credential may do in one space."""
        if self.space_scopes is None:
            return self.scopes
        held = self.space_scopes.get(str(space_id), self.space_scopes.get(EVERY_OTHER_SPACE, self.scopes))
        return self.scopes & held


def space_scopes_of(stored: Mapping[str, list[str]] | None) -> Mapping[str, frozenset[str]] | None:
    """A credential's stored rights per space, as a Principal holds them."""
    return None if stored is None else {space: frozenset(scopes) for space, scopes in stored.items()}


def from_scope(scope: MutableMapping[str, Any]) -> Principal | None:
    principal = scope.get(SCOPE_KEY)
    return principal if isinstance(principal, Principal) else None
