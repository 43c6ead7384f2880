"""Google and GitHub sign-in: authorization URLs, code exchange, identities.

Both use the authorization-code flow with PKCE (S256). Google is OpenID
Connect: its ID token is verified against Google's published keys and checked
for issuer, audience, expiry, nonce and a verified e-mail. GitHub identifies
users by numeric id and takes the primary verified address from /user/emails,
so accounts whose e-mail is private still work. Endpoints come from settings
so tests can point them at local fakes.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from core.settings import Settings

HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
DISCOVERY_TTL_SECONDS = 3600
GOOGLE_ISSUERS = {"https://accounts.google.com", "accounts.google.com"}


class OAuthProviderError(Exception):
    """Sign-in failed; the message is safe to show to the person signing in."""


@dataclass(frozen=True)
class ProviderIdentity:
    provider: str
    subject: str
    email: str
    name: str | None
    avatar_url: str | None


def new_code_verifier() -> str:
    return secrets.token_urlsafe(64)[:96]


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _json(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise OAuthProviderError(f"{what} returned an unreadable response") from None


class GoogleProvider:
    name = "google"
    uses_nonce = True

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.client_id = settings.google_client_id or ""
        self.client_secret = settings.google_client_secret or ""
        self.discovery_url = settings.google_discovery_url
        self.http = http
        self._discovery: tuple[float, dict[str, Any]] | None = None

    async def _config(self) -> dict[str, Any]:
        if self._discovery and time.monotonic() - self._discovery[0] < DISCOVERY_TTL_SECONDS:
            return self._discovery[1]
        try:
            response = await self.http.get(self.discovery_url, timeout=HTTP_TIMEOUT)
        except httpx.HTTPError:
            raise OAuthProviderError("Google could not be reached") from None
        if response.status_code != 200:
            raise OAuthProviderError("Google's sign-in configuration is unavailable")
        config = _json(response, "Google discovery")
        self._discovery = (time.monotonic(), config)
        return config

    async def authorization_url(self, *, state: str, verifier: str, nonce: str | None, redirect_uri: str) -> str:
        config = await self._config()
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid email profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge(verifier),
            "code_challenge_method": "S256",
            "prompt": "select_account",
        }
        return f"{config['authorization_endpoint']}?{urlencode(query)}"

    async def exchange(self, *, code: str, verifier: str, nonce: str | None, redirect_uri: str) -> ProviderIdentity:
        config = await self._config()
        try:
            response = await self.http.post(
                config["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "code_verifier": verifier,
                },
                headers={"Accept": "application/json"},
                timeout=HTTP_TIMEOUT,
            )
        except httpx.HTTPError:
            raise OAuthProviderError("Google could not be reached to finish sign-in") from None
        if response.status_code != 200:
            raise OAuthProviderError("Google refused to finish sign-in")
        id_token = _json(response, "Google token endpoint").get("id_token")
        if not isinstance(id_token, str):
            raise OAuthProviderError("Google sent no ID token")
        claims = await self._verified_claims(id_token, config, nonce)
        return ProviderIdentity(
            provider=self.name,
            subject=str(claims["sub"]),
            email=str(claims["email"]).lower(),
            name=claims.get("name"),
            avatar_url=claims.get("picture"),
        )

    async def _verified_claims(self, id_token: str, config: dict[str, Any], nonce: str | None) -> dict[str, Any]:
        issuer = config.get("issuer")
        issuers = GOOGLE_ISSUERS if issuer in GOOGLE_ISSUERS else {issuer}
        try:
            signing_key = await self._signing_key(id_token, config)
            claims = jwt.decode(
                id_token,
                signing_key,
                algorithms=["RS256"],
                audience=self.client_id,
                options={"require": ["iss", "aud", "exp", "sub"]},
                leeway=30,
            )
        except (jwt.PyJWTError, httpx.HTTPError, KeyError):
            raise OAuthProviderError("Google's ID token did not verify") from None
        if claims.get("iss") not in issuers:
            raise OAuthProviderError("Google's ID token has the wrong issuer")
        if nonce is None or not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OAuthProviderError("Google's ID token does not belong to this sign-in")
        if claims.get("email_verified") is not True or not claims.get("email"):
            raise OAuthProviderError("Your Google e-mail address is not verified")
        return claims

    async def _signing_key(self, id_token: str, config: dict[str, Any]) -> Any:
        header = jwt.get_unverified_header(id_token)
        response = await self.http.get(config["jwks_uri"], timeout=HTTP_TIMEOUT)
        if response.status_code != 200:
            raise OAuthProviderError("Google's signing keys are unavailable")
        keys = jwt.PyJWKSet.from_dict(_json(response, "Google keys"))
        for key in keys.keys:
            if key.key_id == header.get("kid"):
                return key.key
        raise OAuthProviderError("Google's ID token was signed with an unknown key")


class GitHubProvider:
    name = "github"
    uses_nonce = False

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.client_id = settings.github_client_id or ""
        self.client_secret = settings.github_client_secret or ""
        self.base_url = settings.github_base_url
        self.api_url = settings.github_api_url
        self.http = http

    async def authorization_url(self, *, state: str, verifier: str, nonce: str | None, redirect_uri: str) -> str:
        query = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": "read:user user:email",
            "state": state,
            "code_challenge": code_challenge(verifier),
            "code_challenge_method": "S256",
            "allow_signup": "true",
        }
        return f"{self.base_url}/login/oauth/authorize?{urlencode(query)}"

    async def exchange(self, *, code: str, verifier: str, nonce: str | None, redirect_uri: str) -> ProviderIdentity:
        try:
            response = await self.http.post(
                f"{self.base_url}/login/oauth/access_token",
                data={
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": verifier,
                },
                headers={"Accept": "application/json"},
                timeout=HTTP_TIMEOUT,
            )
        except httpx.HTTPError:
            raise OAuthProviderError("GitHub could not be reached to finish sign-in") from None
        body = _json(response, "GitHub token endpoint") if response.status_code == 200 else {}
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise OAuthProviderError("GitHub refused to finish sign-in")
        user = await self._api(token, "/user")
        emails = await self._api(token, "/user/emails")
        email = next(
            (e.get("email") for e in emails if isinstance(e, dict) and e.get("primary") and e.get("verified")), None
        )
        if not email:
            raise OAuthProviderError("Your GitHub account has no verified primary e-mail address")
        if not isinstance(user, dict) or not isinstance(user.get("id"), int):
            raise OAuthProviderError("GitHub sent an unreadable profile")
        return ProviderIdentity(
            provider=self.name,
            subject=str(user["id"]),
            email=str(email).lower(),
            name=user.get("name") or user.get("login"),
            avatar_url=user.get("avatar_url"),
        )

    async def _api(self, token: str, path: str) -> Any:
        try:
            response = await self.http.get(
                f"{self.api_url}{path}",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                },
                timeout=HTTP_TIMEOUT,
            )
        except httpx.HTTPError:
            raise OAuthProviderError("GitHub could not be reached") from None
        if response.status_code != 200:
            raise OAuthProviderError("GitHub refused to share your profile")
        return _json(response, "GitHub API")


Provider = GoogleProvider | GitHubProvider


def configured_providers(settings: Settings, http: httpx.AsyncClient) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    if settings.google_client_id and settings.google_client_secret:
        providers["google"] = GoogleProvider(settings, http)
    if settings.github_client_id and settings.github_client_secret:
        providers["github"] = GitHubProvider(settings, http)
    return providers
