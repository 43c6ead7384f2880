"""Driving MemoryGate's MCP OAuth flow the way a client and a person do.

``OAuthBrowser`` plays the person: it follows the authorization URL through
the fake provider's sign-in, reads the consent page and submits a choice.
``sdk_oauth(...)`` wires it into the official MCP SDK's OAuthClientProvider.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

from tests.support import found

CLIENT_REDIRECT = "http://127.0.0.1:33418/callback"


class MemoryTokenStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def form_fields(page: str) -> dict[str, str]:
    return {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    }


def consent_rights(page: str) -> list[str]:
    """The rights a consent page offers, ticked as it comes."""
    return re.findall(r'<input type="checkbox" name="scope" value="([^"]+)" checked>', page)


@dataclass
class OAuthBrowser:
    """A person with a browser: signs in with ``provider`` and answers consent."""

    server_url: str
    browser: httpx.Client
    provider: str = "github"
    decision: str = "approve"
    pages: list[str] = field(default_factory=list)
    result: AuthorizationCodeResult | None = None
    final_redirect: str | None = None
    redirect_uri: str = CLIENT_REDIRECT
    choose_local_owner: bool = False
    # The rights left ticked on the consent page; None: as offered (all ticked).
    grant: set[str] | None = None

    def authorize(self, authorize_url: str) -> str:
        """Follow from the authorization URL to the client's redirect URI."""
        response = self.browser.get(authorize_url)
        for _ in range(12):
            if response.status_code in (302, 303):
                location = urljoin(str(response.url), response.headers["location"])
                if location.split("?")[0] == self.redirect_uri:
                    return location
                response = self.browser.get(location)
            elif response.status_code == 200 and "Sign in to connect" in response.text:
                self.pages.append(response.text)
                if self.choose_local_owner:
                    fields = form_fields(response.text)
                    response = self.browser.post(self.server_url + "/oauth/local-login", data=fields)
                    continue
                link = found(rf'href="(/auth/login/{self.provider}[^"]*)"', response.text)
                response = self.browser.get(self.server_url + html.unescape(link))
            elif response.status_code == 200 and 'action="/oauth/consent"' in response.text:
                self.pages.append(response.text)
                offered = consent_rights(response.text)
                ticked = [scope for scope in offered if self.grant is None or scope in self.grant]
                answer = {**form_fields(response.text), "decision": self.decision, "scope": ticked}
                response = self.browser.post(self.server_url + "/oauth/consent", data=answer)
            else:
                raise AssertionError(f"unexpected step {response.status_code}: {response.text[:300]}")
        raise AssertionError("too many redirects")

    async def redirect_handler(self, authorize_url: str) -> None:
        self.final_redirect = self.authorize(authorize_url)
        query = parse_qs(urlsplit(self.final_redirect).query)
        self.result = AuthorizationCodeResult(
            code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
        )

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.result is not None, f"no code; the client was sent to {self.final_redirect}"
        return self.result


def sdk_oauth(server_url: str, person: OAuthBrowser, storage: MemoryTokenStorage | None = None) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=server_url + "/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="Test MCP Client",
            redirect_uris=[AnyUrl(CLIENT_REDIRECT)],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage or MemoryTokenStorage(),
        redirect_handler=person.redirect_handler,
        callback_handler=person.callback_handler,
    )


# --- raw protocol helpers for the negative cases -------------------------------------


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def register_client(server_url: str, **metadata) -> httpx.Response:
    body = {
        "client_name": "Raw Client",
        "redirect_uris": [CLIENT_REDIRECT],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        **metadata,
    }
    return httpx.post(server_url + "/oauth/register", json=body)


def authorize_url(server_url: str, client_id: str, challenge: str | None, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CLIENT_REDIRECT,
        "state": "st-1",
        "resource": server_url + "/mcp",
    }
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return str(httpx.URL(server_url + "/oauth/authorize", params={k: v for k, v in params.items() if v is not None}))


def redirect_params(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def code_exchange_form(client_id: str, code: str, verifier: str, **extra: str) -> dict[str, str]:
    """The token request body that redeems an authorization code."""
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CLIENT_REDIRECT,
        "client_id": client_id,
        "code_verifier": verifier,
        **extra,
    }


def exchange_code(server_url: str, client_id: str, code: str, verifier: str, **extra: str) -> httpx.Response:
    data = code_exchange_form(client_id, code, verifier, **extra)
    return httpx.post(server_url + "/oauth/token", data=data)


def refresh(server_url: str, client_id: str, refresh_token: str) -> httpx.Response:
    return httpx.post(
        server_url + "/oauth/token",
        data={"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token},
    )
