"""MemoryGate's exception hierarchy: one code per kind of failure.

The service layer raises these; memory/mcp_tools.py turns them into MCP tool errors
and the HTTP routes into JSON responses, each in one place.
"""

from __future__ import annotations


class MemoryGateError(Exception):
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(MemoryGateError):
    """A caller-supplied value is wrong; ``field`` names the argument."""

    code = "invalid_input"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"Invalid {field}: {problem}")
        self.field = field
        self.problem = problem


class NotFound(MemoryGateError):
    code = "not_found"


class Conflict(MemoryGateError):
    code = "conflict"


class InsufficientScope(MemoryGateError):
    code = "insufficient_scope"


class Forbidden(MemoryGateError):
    """The caller's role in a space does not allow this (a scope would not help)."""

    code = "forbidden"


class EmbeddingUnavailable(MemoryGateError):
    """The embedding provider failed; memories are kept, vectors stay pending."""

    code = "embedding_unavailable"
