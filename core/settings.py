"""Every environment variable MemoryGate reads, in one typed object.

Usage: ``settings = Settings.from_env()``; `.env` is read first (python-dotenv)
without overriding variables already set. `.env.example` documents each one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit

from dotenv import load_dotenv

from core.addresses import TrustedProxies, is_loopback

VERSION = "0.2.0"
LOCAL_OWNER_EMAIL = "local@memorygate.internal"


class UnsafeConfiguration(RuntimeError):
    """The configuration must not serve production traffic; the message says why."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean, got {value!r}")


def _int(name: str, default: int, env: dict[str, str]) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _float(name: str, default: float, env: dict[str, str]) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


PLACEHOLDER_MARKERS = (
    "change",
    "placeholder",
    "your-",
    "your_",
    "example",
    "xxx",
    "...",
    "<",
    "secret-here",
    "todo",
    "replace",
)


def _looks_like_placeholder(value: str) -> bool:
    lowered = value.lower()
    return len(value) < 12 or any(marker in lowered for marker in PLACEHOLDER_MARKERS)


def _trusted_proxies(raw: str | None) -> str:
    spec = (raw or "").strip()
    TrustedProxies.parse(spec)  # refuse a malformed list at start-up, naming the variable
    return spec


def _header_name(name: str, raw: str | None) -> str:
    value = (raw or "").strip()
    if value and not re.fullmatch(r"[A-Za-z0-9-]+", value):
        raise ValueError(f"{name} must be an HTTP header name, got {value!r}")
    return value


def _list(raw: str | None) -> list[str]:
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    data_dir: Path = Path("./data")
    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str = "http://localhost:8080"
    frontend_url: str = "http://localhost:8080/dashboard"
    cors_extra_origins: list[str] = field(default_factory=list)
    mcp_allowed_hosts: list[str] = field(default_factory=list)
    require_mcp_auth: bool = True
    allow_unauthenticated_mcp: bool = False
    trusted_proxies: str = ""
    client_ip_header: str = ""
    log_level: str = "INFO"
    max_request_bytes: int = 1024 * 1024
    header_timeout_seconds: float = 10.0
    keep_alive_timeout_seconds: float = 5.0
    max_connections: int = 4096

    embedding_provider: str = "auto"
    openai_api_key: str | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    openai_embedding_model: str = "text-embedding-3-small"
    openai_timeout_seconds: float = 20.0
    openai_max_retries: int = 4
    embedding_backfill_interval_seconds: float = 30.0

    google_client_id: str | None = None
    google_client_secret: str | None = None
    google_discovery_url: str = "https://accounts.google.com/.well-known/openid-configuration"
    github_client_id: str | None = None
    github_client_secret: str | None = None
    github_base_url: str = "https://github.com"
    github_api_url: str = "https://api.github.com"
    desktop_client_id: str | None = None
    desktop_client_secret: str | None = None
    desktop_redirect_uris: list[str] = field(default_factory=list)

    oauth_access_token_ttl_seconds: int = 3600
    oauth_refresh_token_ttl_seconds: int = 30 * 24 * 3600
    oauth_registrations_per_hour: int = 20

    session_cookie_samesite: Literal["lax", "strict", "none"] = "lax"
    session_max_age_seconds: int = 7 * 24 * 3600
    api_key_cache_ttl_seconds: float = 60.0
    bcrypt_rounds: int = 12
    usage_flush_interval_seconds: float = 10.0
    auth_failure_limit: int = 10
    auth_failure_window_seconds: float = 60.0
    rate_limit_storage_uri: str = "memory://"
    mcp_rate_limit: str = "600/minute"
    oauth_token_rate_limit: str = "60/minute"
    client_credentials_rate_limit: str = "10/minute"
    oauth_authorize_rate_limit: str = "60/minute"
    key_creation_rate_limit: str = "20/hour"
    max_active_keys: int = 50
    max_concurrent_bcrypt: int = 4

    @property
    def is_local(self) -> bool:
        """Local mode: no DATABASE_URL, so the embedded PostgreSQL is used."""
        return self.database_url is None

    @property
    def mcp_url(self) -> str:
        return self.public_base_url.rstrip("/") + "/mcp"

    def production_problems(self) -> list[str]:
        """Why this configuration must not serve production traffic (DATABASE_URL set)."""
        if self.is_local:
            return []
        problems = []
        if not (self.served_over_https or self._base_is_loopback):
            problems.append("OAUTH_REDIRECT_BASE must be the public https:// base URL of this service")
        if not self.require_mcp_auth and not self.allow_unauthenticated_mcp:
            problems.append(
                "REQUIRE_MCP_AUTH=false would serve every memory without authentication; "
                "set ALLOW_UNAUTHENTICATED_MCP=true only if you really mean it"
            )
        pairs = [
            ("GOOGLE_CLIENT_ID", self.google_client_id, "GOOGLE_CLIENT_SECRET", self.google_client_secret),
            ("GITHUB_CLIENT_ID", self.github_client_id, "GITHUB_CLIENT_SECRET", self.github_client_secret),
            ("PSTRYDER_DESKTOP", self.desktop_client_id, "PSTRYDER_DESKTOP_SECRET", self.desktop_client_secret),
        ]
        for id_name, id_value, secret_name, secret_value in pairs:
            if bool(id_value) != bool(secret_value):
                problems.append(f"{id_name} and {secret_name} must be set together")
            elif secret_value and _looks_like_placeholder(secret_value):
                problems.append(f"{secret_name} looks like a placeholder; set the real secret")
        if self.openai_api_key and _looks_like_placeholder(self.openai_api_key):
            problems.append("OPENAI_API_KEY looks like a placeholder; set the real key or unset it")
        return problems

    @property
    def _base_is_loopback(self) -> bool:
        """A loopback base cannot take public traffic: tests and local runs."""
        return is_loopback(urlsplit(self.public_base_url).hostname)

    @property
    def served_over_https(self) -> bool:
        return self.public_base_url.startswith("https://")

    @property
    def cookie_secure(self) -> bool:
        """Session cookies: Secure on https, and always with SameSite=None
        (browsers reject SameSite=None cookies that are not Secure)."""
        return self.served_over_https or self.session_cookie_samesite == "none"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, *, read_dotenv: bool = True) -> Settings:
        if env is None:
            if read_dotenv:
                load_dotenv(override=False)
            env = dict(os.environ)
        database_url = env.get("DATABASE_URL") or None
        local = database_url is None
        host = env.get("HOST") or ("127.0.0.1" if local else "0.0.0.0")
        port = _int("PORT", 8080, env)
        base = (env.get("OAUTH_REDIRECT_BASE") or f"http://localhost:{port}").rstrip("/")
        samesite = (env.get("SESSION_COOKIE_SAMESITE") or "lax").lower()
        if samesite not in ("lax", "strict", "none"):
            raise ValueError(f"SESSION_COOKIE_SAMESITE must be lax, strict or none, got {samesite!r}")
        provider = (env.get("EMBEDDING_PROVIDER") or "auto").lower()
        if provider not in ("auto", "openai", "local", "none"):
            raise ValueError(f"EMBEDDING_PROVIDER must be auto, openai, local or none, got {provider!r}")
        return cls(
            database_url=database_url,
            data_dir=Path(env.get("MEMORYGATE_DATA_DIR") or "./data"),
            host=host,
            port=port,
            public_base_url=base,
            frontend_url=env.get("FRONTEND_URL") or base + "/dashboard",
            cors_extra_origins=_list(env.get("CORS_EXTRA_ORIGINS")),
            mcp_allowed_hosts=_list(env.get("MCP_ALLOWED_HOSTS")),
            require_mcp_auth=_bool(env.get("REQUIRE_MCP_AUTH"), True),
            allow_unauthenticated_mcp=_bool(env.get("ALLOW_UNAUTHENTICATED_MCP"), False),
            trusted_proxies=_trusted_proxies(env.get("TRUSTED_PROXIES")),
            client_ip_header=_header_name("CLIENT_IP_HEADER", env.get("CLIENT_IP_HEADER")),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            max_request_bytes=_int("MAX_REQUEST_BYTES", 1024 * 1024, env),
            header_timeout_seconds=_float("HEADER_TIMEOUT", 10.0, env),
            keep_alive_timeout_seconds=_float("KEEP_ALIVE_TIMEOUT", 5.0, env),
            max_connections=max(16, _int("MAX_CONNECTIONS", 4096, env)),
            embedding_provider=provider,
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            openai_base_url=(env.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/"),
            openai_embedding_model=env.get("OPENAI_EMBEDDING_MODEL") or "text-embedding-3-small",
            openai_timeout_seconds=_float("OPENAI_TIMEOUT_SECONDS", 20.0, env),
            openai_max_retries=_int("OPENAI_MAX_RETRIES", 4, env),
            embedding_backfill_interval_seconds=_float("EMBEDDING_BACKFILL_INTERVAL", 30.0, env),
            google_client_id=env.get("GOOGLE_CLIENT_ID") or None,
            google_client_secret=env.get("GOOGLE_CLIENT_SECRET") or None,
            google_discovery_url=env.get("GOOGLE_DISCOVERY_URL")
            or "https://accounts.google.com/.well-known/openid-configuration",
            github_client_id=env.get("GITHUB_CLIENT_ID") or None,
            github_client_secret=env.get("GITHUB_CLIENT_SECRET") or None,
            github_base_url=(env.get("GITHUB_BASE_URL") or "https://github.com").rstrip("/"),
            github_api_url=(env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
            desktop_client_id=env.get("PSTRYDER_DESKTOP") or None,
            desktop_client_secret=env.get("PSTRYDER_DESKTOP_SECRET") or None,
            desktop_redirect_uris=_list(env.get("PSTRYDER_DESKTOP_REDIRECT_URIS")),
            oauth_access_token_ttl_seconds=_int("OAUTH_ACCESS_TOKEN_TTL", 3600, env),
            oauth_refresh_token_ttl_seconds=_int("OAUTH_REFRESH_TOKEN_TTL", 30 * 24 * 3600, env),
            oauth_registrations_per_hour=_int("OAUTH_REGISTRATIONS_PER_HOUR", 20, env),
            session_cookie_samesite=cast(Literal["lax", "strict", "none"], samesite),
            session_max_age_seconds=_int("SESSION_MAX_AGE_SECONDS", 7 * 24 * 3600, env),
            api_key_cache_ttl_seconds=min(_float("API_KEY_CACHE_TTL", 60.0, env), 60.0),
            bcrypt_rounds=max(10, min(_int("BCRYPT_ROUNDS", 12, env), 15)),
            usage_flush_interval_seconds=_float("USAGE_FLUSH_INTERVAL", 10.0, env),
            auth_failure_limit=_int("AUTH_FAILURE_LIMIT", 10, env),
            auth_failure_window_seconds=_float("AUTH_FAILURE_WINDOW", 60.0, env),
            rate_limit_storage_uri=env.get("RATE_LIMIT_STORAGE_URI") or "memory://",
            mcp_rate_limit=env.get("MCP_RATE_LIMIT") or "600/minute",
            oauth_token_rate_limit=env.get("OAUTH_TOKEN_RATE_LIMIT") or "60/minute",
            client_credentials_rate_limit=env.get("CLIENT_CREDENTIALS_RATE_LIMIT") or "10/minute",
            oauth_authorize_rate_limit=env.get("OAUTH_AUTHORIZE_RATE_LIMIT") or "60/minute",
            key_creation_rate_limit=env.get("KEY_CREATION_RATE_LIMIT") or "20/hour",
            max_active_keys=_int("MAX_ACTIVE_KEYS", 50, env),
            max_concurrent_bcrypt=max(1, _int("MAX_CONCURRENT_BCRYPT", 4, env)),
        )
