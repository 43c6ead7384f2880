"""Signing a browser in: the session cookie, and the local owner's sign-in
button (local mode, no provider configured, a browser on this machine).

The local-owner form is bound to the browser that was shown it (a
double-submit token): a page elsewhere can make a browser POST, but cannot
read this cookie to compute the form's token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from core import crypto
from core.addresses import is_loopback, is_loopback_origin
from core.settings import Settings
from identity import accounts

FOREIGN_ORIGIN = "Cross-site request refused."
LOCAL_LOGIN_COOKIE = "mg_local_login"
LOCAL_LOGIN_COOKIE_SECONDS = 3600
LOCAL_LOGIN_REFUSED = "Local sign-in is only available on this computer, in local mode."
LOCAL_LOGIN_EXPIRED = "This sign-in form has expired. Reload the page and try again."


def local_owner_allowed(request: Request) -> bool:
    """Local mode, no sign-in provider configured, and a browser on this machine."""
    settings = request.app.state.settings
    return (
        settings.is_local
        and not request.app.state.oauth_providers
        and request.client is not None
        and is_loopback(request.client.host)
    )


@dataclass(frozen=True)
class LocalLoginForm:
    """A local-owner sign-in form's CSRF token and the browser cookie it is bound to."""

    binding: str
    token: str

    def bind(self, response: Response, settings: Settings) -> Response:
        response.set_cookie(
            LOCAL_LOGIN_COOKIE,
            self.binding,
            max_age=LOCAL_LOGIN_COOKIE_SECONDS,
            path="/",
            httponly=True,
            secure=settings.cookie_secure,
            samesite="strict",
        )
        return response


def local_login_form(request: Request, *, purpose: str) -> LocalLoginForm:
    """An existing binding cookie is kept, so several sign-in pages open at
    once (two MCP clients connecting) each stay valid."""
    binding = request.cookies.get(LOCAL_LOGIN_COOKIE) or ""
    if not (32 <= len(binding) <= 64):
        binding = secrets.token_urlsafe(32)
    return LocalLoginForm(binding, crypto.form_token(binding, _form_purpose(purpose)))


def _form_purpose(purpose: str) -> str:
    return f"local-login:{purpose}"


def local_login_refusal(request: Request, *, purpose: str, presented: object) -> str | None:
    """Why this local-owner sign-in POST must be refused, or None.

    The form token is the CSRF defence; the Origin check only refuses pages
    on other sites outright. ``Origin: null`` is what Chromium sends under our
    no-referrer policy, so it is accepted (the token still has to match).
    """
    if not local_owner_allowed(request):
        return LOCAL_LOGIN_REFUSED
    origin = request.headers.get("origin")
    own = origin_of(request.app.state.settings.public_base_url)
    if origin and origin != "null" and origin.rstrip("/") != own and not is_loopback_origin(origin):
        return FOREIGN_ORIGIN
    binding = request.cookies.get(LOCAL_LOGIN_COOKIE)
    if not binding or not isinstance(presented, str):
        return LOCAL_LOGIN_EXPIRED
    if not crypto.form_token_ok(binding, _form_purpose(purpose), presented):
        return LOCAL_LOGIN_EXPIRED
    return None


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        accounts.SESSION_COOKIE,
        token,
        max_age=settings.session_max_age_seconds,
        path="/",
        httponly=True,
        secure=settings.cookie_secure,
        samesite=settings.session_cookie_samesite,
    )


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
