"""HTTP endpoints of the MCP authorization server and resource metadata.

* ``/.well-known/oauth-protected-resource[/mcp]`` (RFC 9728) and
  ``/.well-known/oauth-authorization-server`` (RFC 8414);
* ``/oauth/register``, ``/oauth/authorize``, ``/oauth/token``,
  ``/oauth/revoke`` — the MCP SDK's handlers over PostgresOAuthProvider;
* ``/oauth/consent`` — sign-in (Google/GitHub, or the local owner for a
  loopback client in local mode) and the consent form, CSRF-bound to the
  browser session; ``/oauth/local-login``.

``OAuthEndpoints(...).routes()`` returns the Starlette routes server.py mounts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import quote

import anyio.to_thread
from mcp.server.auth.handlers.authorize import AuthorizationHandler
from mcp.server.auth.handlers.register import RegistrationHandler
from mcp.server.auth.handlers.token import TokenHandler
from mcp.server.auth.middleware.client_auth import AuthenticationError
from mcp.server.auth.provider import construct_redirect_uri
from mcp.server.auth.settings import ClientRegistrationOptions
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from auth_middleware import AuthState
from core.principal import MEMORY_SCOPES
from core.settings import Settings
from identity import accounts, provider_login
from identity import oauth_records as records
from identity.browser_sign_in import local_login_form, local_login_refusal, local_owner_allowed, set_session_cookie
from mcp_oauth.provider import HashedSecretAuthenticator, PostgresOAuthProvider, is_loopback_http
from memory import space_access, spaces
from web import pages
from web.pages import NO_STORE

MAX_STATE_CHARS = 1_000
NOTHING_CHOSEN = "Tick at least one thing it may do, or choose Deny."
NO_SPACE_CHOSEN = "Let it reach at least one space, or choose Deny."


def _too_many(description: str, wait: float) -> Response:
    response = _oauth_error("too_many_requests", description, status_code=429)
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def _oauth_error(error: str, description: str, status_code: int = 400) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=status_code, headers=NO_STORE)


def resource_metadata_url(settings: Settings) -> str:
    return f"{settings.public_base_url}/.well-known/oauth-protected-resource/mcp"


def protected_resource_metadata(settings: Settings) -> dict[str, Any]:
    return {
        "resource": settings.mcp_url,
        "authorization_servers": [settings.public_base_url],
        "scopes_supported": list(MEMORY_SCOPES),
        "bearer_methods_supported": ["header"],
        "resource_name": "MemoryGate",
    }


def authorization_server_metadata(settings: Settings) -> dict[str, Any]:
    base = settings.public_base_url
    auth_methods = ["none", "client_secret_post", "client_secret_basic"]
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "registration_endpoint": f"{base}/oauth/register",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "scopes_supported": list(MEMORY_SCOPES),
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": True,
    }


class OAuthEndpoints:
    def __init__(
        self,
        *,
        settings: Settings,
        session_factory: Callable[[], Session],
        auth_state: AuthState,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.auth_state = auth_state
        self.provider = PostgresOAuthProvider(session_factory, settings)
        self.authenticator = HashedSecretAuthenticator(self.provider)
        # The SDK types its handlers against its own Protocol and base classes;
        # ours implement the same methods over subclasses of its models.
        sdk_provider = cast(Any, self.provider)
        self.authorize_handler = AuthorizationHandler(sdk_provider)
        self.token_handler = TokenHandler(sdk_provider, cast(Any, self.authenticator))
        self.register_handler = RegistrationHandler(
            sdk_provider,
            options=ClientRegistrationOptions(
                enabled=True, valid_scopes=list(MEMORY_SCOPES), default_scopes=list(MEMORY_SCOPES)
            ),
        )

    def routes(self) -> list[Route]:
        return [
            Route("/.well-known/oauth-protected-resource", self.resource_metadata, methods=["GET"]),
            Route("/.well-known/oauth-protected-resource/mcp", self.resource_metadata, methods=["GET"]),
            Route("/.well-known/oauth-authorization-server", self.server_metadata, methods=["GET"]),
            Route("/oauth/register", self.register, methods=["POST"]),
            Route("/oauth/authorize", self.authorize, methods=["GET", "POST"]),
            Route("/oauth/token", self.token, methods=["POST"]),
            Route("/oauth/revoke", self.revoke, methods=["POST"]),
            Route("/oauth/consent", self.consent_page, methods=["GET"]),
            Route("/oauth/consent", self.consent_decision, methods=["POST"]),
            Route("/oauth/local-login", self.local_login, methods=["POST"]),
        ]

    async def resource_metadata(self, request: Request) -> Response:
        return JSONResponse(protected_resource_metadata(self.settings))

    async def server_metadata(self, request: Request) -> Response:
        return JSONResponse(authorization_server_metadata(self.settings))

    async def register(self, request: Request) -> Response:
        address = request.client.host if request.client else "-"
        wait = await self.auth_state.oauth_registration_rate.hit_async(f"addr:{address}")
        if wait is not None:
            return _too_many("too many client registrations from this address", wait)
        response = await self.register_handler.handle(request)
        response.headers.update(NO_STORE)
        return response

    async def authorize(self, request: Request) -> Response:
        """The SDK's handler, behind a per-address limit and a cap on the
        client's ``state``, which is stored until the request expires."""
        address = request.client.host if request.client else "-"
        wait = await self.auth_state.oauth_authorize_rate.hit_async(f"addr:{address}")
        if wait is not None:
            return _too_many("too many authorization requests from this address", wait)
        params = request.query_params if request.method == "GET" else await request.form()
        state = params.get("state")
        if isinstance(state, str) and len(state) > MAX_STATE_CHARS:
            return _oauth_error("invalid_request", f"state is longer than {MAX_STATE_CHARS} characters")
        return await self.authorize_handler.handle(request)

    async def token(self, request: Request) -> Response:
        form = await request.form()
        resource = form.get("resource")
        address = request.client.host if request.client else "-"
        # Counted per address only: a count per client_id, which anyone can
        # send, would let strangers lock a client out of its own tokens.
        wait = await self.auth_state.oauth_token_rate.hit_async(f"addr:{address}")
        if wait is not None:
            return _too_many("too many token requests; slow down", wait)
        if isinstance(resource, str) and resource.rstrip("/") != self.settings.mcp_url:
            return _oauth_error("invalid_target", f"tokens are only issued for {self.settings.mcp_url}")
        return await self.token_handler.handle(request)

    async def revoke(self, request: Request) -> Response:
        """RFC 7009. (The SDK's handler insists on a client_secret field, which
        public clients do not have.) Unknown tokens are answered 200 too."""
        try:
            client = await self.authenticator.authenticate_request(request)
        except AuthenticationError as exc:
            return _oauth_error("invalid_client", exc.message, status_code=401)
        token = (await request.form()).get("token")
        if not isinstance(token, str) or not token:
            return _oauth_error("invalid_request", "token is required")
        await self.provider.revoke_for_client(client.client_id, token)
        return Response(status_code=200, headers=NO_STORE)

    # --- sign-in and consent ---------------------------------------------------

    async def _run(self, work: Callable[[Session], Any]) -> Any:
        def run() -> Any:
            with self.session_factory() as db:
                result = work(db)
                db.commit()
                return result

        return await anyio.to_thread.run_sync(run)

    async def consent_page(self, request: Request) -> Response:
        return await self._consent(request, request.query_params.get("request"))

    async def _consent(self, request: Request, request_id: str | None, problem: str | None = None) -> Response:
        """Sign-in if needed, then the consent form (again with ``problem`` when it was answered wrongly)."""
        session_token = request.cookies.get(accounts.SESSION_COOKIE)

        if not request_id:
            return self._expired()

        def prepare(db: Session) -> dict[str, Any] | None:
            pending = records.load_pending(db, request_id)
            if pending is None:
                return None
            client = records.load_client(db, pending.client_id, self.settings)
            user = accounts.user_for_session_token(db, session_token)
            view = {
                "client": (client.name if client else None) or pending.client_id,
                # A document client's id is a URL its host serves: the one name here that was checked.
                "verified_host": client.metadata.get("document_host") if client else None,
                "redirect_uri": pending.redirect_uri,
                "scopes": pending.scopes,
                "user": user.email if user else None,
                # With more than one space, the person chooses which the client reaches.
                "spaces": [] if user is None else spaces.of_account(db, user.id),
            }
            if user is not None and session_token:
                view["csrf"] = records.bind_consent(pending, session_token)
            return view

        view = await self._run(prepare)
        if view is None:
            return self._expired()
        if view["user"] is None:
            return self._sign_in(request, request_id, view)
        return pages.consent_page(
            client=view["client"],
            user=view["user"],
            scopes=view["scopes"],
            redirect_host=records.destination_host(view["redirect_uri"]),
            verified_host=view["verified_host"],
            request_id=request_id,
            csrf=view["csrf"],
            problem=problem,
            spaces=view["spaces"] if len(view["spaces"]) > 1 else [],
        )

    def _sign_in(self, request: Request, request_id: str, view: dict[str, Any]) -> Response:
        next_path = quote(f"/oauth/consent?request={request_id}", safe="")
        links = {name: f"/auth/login/{name}?next={next_path}" for name in request.app.state.oauth_providers}
        local = self._local_owner_allowed(request, view["redirect_uri"])
        if len(links) == 1 and not local:
            return RedirectResponse(next(iter(links.values())), status_code=302, headers=NO_STORE)
        if not links and not local:
            return pages.message_page(
                "Sign-in unavailable",
                "No sign-in method is configured on this server. Ask its operator to configure Google or GitHub.",
                status_code=503,
            )
        if not local:
            return pages.sign_in_page(client=view["client"], login_links=links, local_request_id=None, local_csrf=None)
        form = local_login_form(request, purpose=request_id)
        page = pages.sign_in_page(
            client=view["client"], login_links=links, local_request_id=request_id, local_csrf=form.token
        )
        return form.bind(page, self.settings)

    @staticmethod
    def _local_owner_allowed(request: Request, redirect_uri: str) -> bool:
        """As for the account page, and only for a client on this machine too."""
        return local_owner_allowed(request) and is_loopback_http(redirect_uri)

    def _expired(self) -> Response:
        return pages.message_page(
            "Authorization expired",
            "This authorization request has expired or was already answered. Start again from your app.",
            status_code=400,
        )

    async def consent_decision(self, request: Request) -> Response:
        form = await request.form()
        request_id, csrf, decision = form.get("request"), form.get("csrf_token"), form.get("decision")
        chosen = {scope for scope in form.getlist("scope") if isinstance(scope, str)}
        reach = [space for space in form.getlist("reach") if isinstance(space, str)]
        spaces_offered = form.get("reach_offered") == "1"
        session_token = request.cookies.get(accounts.SESSION_COOKIE)
        if not (isinstance(request_id, str) and isinstance(csrf, str) and request_id and csrf and session_token):
            return pages.message_page("Not allowed", "This consent form is incomplete.", status_code=403)
        nowhere = spaces_offered and all(choice.endswith(":none") for choice in reach)
        nothing = NOTHING_CHOSEN if not chosen else NO_SPACE_CHOSEN if nowhere else None
        if decision == "approve" and nothing:  # asked again; the request stays open
            if not records.consent_form_ok(request_id=request_id, session_token=session_token, csrf=csrf):
                return pages.message_page("Not allowed", records.NOT_YOUR_FORM, status_code=403)
            return await self._consent(request, request_id, problem=nothing)

        def decide(db: Session) -> str:
            user = accounts.user_for_session_token(db, session_token)
            if user is None:
                raise records.ConsentRefused("Your session has ended. Sign in and start again from your app.")
            pending = records.take_pending(db, request_id=request_id, session_token=session_token, csrf=csrf)
            params: dict[str, str | None] = {"state": pending.state, "iss": self.settings.public_base_url}
            if decision == "approve":
                # Only rights the client asked for: a form cannot widen them.
                granted = [scope for scope in pending.scopes if scope in chosen]
                # Only this account's own spaces: a form cannot name another's.
                reached, held = space_access.reach_and_rights(db, user.id, reach) if spaces_offered else (None, None)
                params["code"] = records.approve(
                    db, pending=pending, user_id=user.id, scopes=granted, space_ids=reached, space_scopes=held
                )
            else:
                params["error"] = "access_denied"
            return construct_redirect_uri(pending.redirect_uri, **params)

        try:
            location = await self._run(decide)
        except records.ConsentRefused as exc:
            return pages.message_page("Not allowed", str(exc), status_code=403)
        return RedirectResponse(location, status_code=303, headers=NO_STORE)

    async def local_login(self, request: Request) -> Response:
        form = await request.form()
        request_id = form.get("request")
        if not isinstance(request_id, str) or not request_id:
            return pages.message_page("Not allowed", "This sign-in form is incomplete.", status_code=403)
        refusal = local_login_refusal(request, purpose=request_id, presented=form.get("csrf_token"))
        if refusal is not None:
            return pages.message_page("Not allowed", refusal, status_code=403)

        def sign_in(db: Session) -> str | None:
            pending = records.load_pending(db, request_id)
            if pending is None or not self._local_owner_allowed(request, pending.redirect_uri):
                return None
            return provider_login.local_owner_session(
                db,
                max_age_seconds=self.settings.session_max_age_seconds,
                ip=request.client.host if request.client else None,
                user_agent=request.headers.get("user-agent"),
            )

        token = await self._run(sign_in)
        if token is None:
            return pages.message_page("Not allowed", "Local sign-in is not available here.", status_code=403)
        response = RedirectResponse(f"/oauth/consent?request={request_id}", status_code=303, headers=NO_STORE)
        set_session_cookie(response, self.settings, token)
        return response
