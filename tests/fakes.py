"""Small fake servers speaking the documented HTTP protocols of services that
cannot be reached from here. They run on 127.0.0.1 under tests.support.

FakeOpenAI: ``POST /v1/embeddings`` as OpenAI documents it — bearer auth,
``{"model", "input": [...]}`` in, ``{"object": "list", "data": [{"object":
"embedding", "index", "embedding"}], "model", "usage"}`` out. Vectors are a
deterministic hashed bag of words, so texts sharing words are similar.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

FAKE_OPENAI_KEY = "sk-test-fake-openai-key"


def bag_of_words_vector(text: str, dimensions: int) -> list[float]:
    vector = [0.0] * dimensions
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dimensions] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


@dataclass
class FakeOpenAI:
    dimensions: int = 1536
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Each queued (status, headers) answers one request before normal service.
    queued_failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    down: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    # When set, requests wait for `release` (after signalling `received`).
    hold: bool = False
    received: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def fail_next(self, count: int, status: int = 500, headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.queued_failures.extend([(status, headers or {})] * count)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/embeddings", self._embeddings, methods=["POST"])])

    async def _embeddings(self, request: Request) -> JSONResponse:
        body = await request.json()
        if self.hold:
            self.received.set()
            await anyio.to_thread.run_sync(self.release.wait, 30)
        with self.lock:
            self.requests.append({"authorization": request.headers.get("authorization"), "body": body})
            failure = self.queued_failures.pop(0) if self.queued_failures else None
            down = self.down
        if request.headers.get("authorization") != f"Bearer {FAKE_OPENAI_KEY}":
            return JSONResponse(
                {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}, status_code=401
            )
        if down:
            return JSONResponse(
                {"error": {"message": "The server is overloaded", "type": "server_error"}}, status_code=503
            )
        if failure is not None:
            status, headers = failure
            return JSONResponse(
                {"error": {"message": "failure", "type": "server_error"}}, status_code=status, headers=headers
            )
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": bag_of_words_vector(text, self.dimensions)}
            for i, text in enumerate(inputs)
        ]
        tokens = sum(len(text.split()) for text in inputs)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


# --- OAuth providers ------------------------------------------------------------


def _pkce_ok(verifier: str | None, challenge: str) -> bool:
    if not verifier:
        return False
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    profile: dict[str, Any]


@dataclass
class FakeOAuthProvider:
    """Shared behaviour: the authorize endpoint 'consents' at once and
    redirects back with a code; the token endpoint checks client, redirect
    URI and PKCE. ``next_profile`` is who signs in next."""

    client_id: str = "fake-client-id"
    client_secret: str = "fake-client-secret"
    base_url: str = ""
    next_profile: dict[str, Any] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def _authorize(self, request: Request):
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        code = hashlib.sha256(f"{params['state']}{len(self.grants)}".encode()).hexdigest()[:24]
        with self.lock:
            self.grants[code] = Grant(
                params["client_id"],
                params["redirect_uri"],
                params["code_challenge"],
                params.get("nonce"),
                dict(self.next_profile),
            )
        return RedirectResponse(f"{params['redirect_uri']}?code={code}&state={params['state']}", status_code=302)

    def _redeem(self, form: dict[str, str]) -> Grant | None:
        with self.lock:
            if self.token_failures:
                self.token_failures -= 1
                raise RuntimeError("token endpoint failure")
            grant = self.grants.get(form.get("code", ""))
        ok = (
            grant is not None
            and form.get("client_id") == self.client_id
            and form.get("client_secret") == self.client_secret
            and form.get("redirect_uri") == grant.redirect_uri
            and _pkce_ok(form.get("code_verifier"), grant.code_challenge)
        )
        if ok:
            with self.lock:
                self.grants.pop(form["code"], None)
        return grant if ok else None


@dataclass
class FakeGoogle(FakeOAuthProvider):
    """OpenID Connect as Google documents it: discovery, authorize, token
    (returning an RS256 ID token), and the JWKS the token verifies against."""

    token_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "fake-google-key-1"
        self.next_profile = {
            "sub": "1000001",
            "email": "ada@example.com",
            "email_verified": True,
            "name": "Ada Lovelace",
            "picture": "https://example.com/ada.png",
        }

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/o/oauth2/v2/auth", self._authorize),
                Route("/token", self._token, methods=["POST"]),
                Route("/oauth2/v3/certs", self._jwks),
            ]
        )

    async def _discovery(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": self.base_url,
                "authorization_endpoint": f"{self.base_url}/o/oauth2/v2/auth",
                "token_endpoint": f"{self.base_url}/token",
                "jwks_uri": f"{self.base_url}/oauth2/v3/certs",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["plain", "S256"],
            }
        )

    async def _jwks(self, request: Request) -> JSONResponse:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return JSONResponse({"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]})

    async def _token(self, request: Request) -> JSONResponse:
        form = {name: str(value) for name, value in (await request.form()).items()}
        try:
            grant = self._redeem(form)
        except RuntimeError:
            return JSONResponse({"error": "internal_failure"}, status_code=503)
        if grant is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims = {
            "iss": self.base_url,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 3600,
            "nonce": grant.nonce,
            **grant.profile,
            **self.token_overrides,
        }
        id_token = jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})
        return JSONResponse(
            {
                "access_token": "ya29.fake",
                "expires_in": 3599,
                "token_type": "Bearer",
                "scope": "openid email profile",
                "id_token": id_token,
            }
        )


@dataclass
class FakeGitHub(FakeOAuthProvider):
    """GitHub's web application flow and the two REST endpoints we read.
    The REST API is served under /api (GITHUB_API_URL = base + '/api')."""

    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.next_profile = github_profile(4242, "octocat")

    def server_env(self) -> dict[str, str]:
        """The environment that points a `python server.py` at this fake."""
        return {
            "GITHUB_CLIENT_ID": self.client_id,
            "GITHUB_CLIENT_SECRET": self.client_secret,
            "GITHUB_BASE_URL": self.base_url,
            "GITHUB_API_URL": self.base_url + "/api",
        }

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/login/oauth/authorize", self._authorize),
                Route("/login/oauth/access_token", self._access_token, methods=["POST"]),
                Route("/api/user", self._user),
                Route("/api/user/emails", self._emails),
            ]
        )

    async def _access_token(self, request: Request) -> JSONResponse:
        form = {name: str(value) for name, value in (await request.form()).items()}
        try:
            grant = self._redeem(form)
        except RuntimeError:
            return JSONResponse({"message": "Service unavailable"}, status_code=502)
        if grant is None:
            # GitHub answers 200 with an error body for a bad code.
            return JSONResponse({"error": "bad_verification_code"})
        token = "gho_" + hashlib.sha256(form["code"].encode()).hexdigest()[:36]
        self.tokens[token] = grant.profile
        return JSONResponse({"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"})

    def _profile(self, request: Request) -> dict[str, Any] | None:
        auth = request.headers.get("authorization", "")
        return self.tokens.get(auth.removeprefix("Bearer ").strip())

    async def _user(self, request: Request) -> JSONResponse:
        profile = self._profile(request)
        if profile is None:
            return JSONResponse({"message": "Requires authentication"}, status_code=401)
        return JSONResponse({k: v for k, v in profile.items() if k != "emails"})

    async def _emails(self, request: Request) -> JSONResponse:
        profile = self._profile(request)
        if profile is None:
            return JSONResponse({"message": "Requires authentication"}, status_code=401)
        return JSONResponse(profile["emails"])


def github_profile(user_id: int, login: str, *, verified: bool = True) -> dict[str, Any]:
    """A user whose e-mail is private: /user shows email null."""
    return {
        "id": user_id,
        "login": login,
        "name": login.title(),
        "email": None,
        "avatar_url": f"https://avatars.example.com/{user_id}",
        "emails": [
            {"email": f"{login}-old@example.com", "primary": False, "verified": True, "visibility": None},
            {"email": f"{login}@example.com", "primary": True, "verified": verified, "visibility": "private"},
        ],
    }
