"""The ``/auth`` routes, assembled: browser sign-in and signing out
(``web.sign_in``), API keys and the desktop client's credentials
(``web.keys``), and the account over HTTP (``web.account``). Every route
reads the caller through ``web.dependencies``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from web import account, keys, sign_in

COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in, or no valid API key"},
    403: {"description": "Cross-site request, or a key asking for more than it has"},
    404: {"description": "Not found, or not configured on this server"},
    413: {"description": "Request body too large"},
    429: {"description": "Too many attempts; see Retry-After"},
}
router = APIRouter(prefix="/auth", tags=["auth"], responses=COMMON_RESPONSES)
for part in (sign_in.router, keys.router, account.router):
    router.include_router(part)


def endpoint_index(base: str, *, providers: list[str]) -> dict[str, str]:
    """The /auth endpoints for the service index; sign-in only where configured."""
    return {
        **{f"login_{name}": f"{base}/auth/login/{name}" for name in providers},
        "logout": f"{base}/auth/logout",
        "me": f"{base}/auth/me",
        "api_keys": f"{base}/auth/api-keys",
        "client_credentials": f"{base}/auth/client",
        "connections": f"{base}/auth/connections",
    }
