"""Every environment variable MemoryGate reads, in one typed object.

Usage: ``settings = Settings.from_env()``; `.env` is read first (python-dotenv)
without overriding variables already set. `.env.example` documents each one
(a test keeps the two in step).

Each field is declared once, with its variable, type, default and the rule a
value must follow (``_var``); ``from_env`` reads them all from that one
table, and a bad value stops the start with an error naming the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from dotenv import load_dotenv

from core.addresses import TrustedProxies, is_loopback

VERSION = "0.2.0"
LOCAL_OWNER_EMAIL = "local@memorygate.internal"


class UnsafeConfiguration(RuntimeError):
    """The configuration must not serve production traffic; the message says why."""


# --- how a variable's text becomes a value ------------------------------------------
# Each parser takes the variable's name (for the error) and its non-empty text.


def _text(name: str, raw: str) -> str:
    return raw.strip()


def _url(name: str, raw: str) -> str:
    return raw.strip().rstrip("/")


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def _list(name: str, raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _path(name: str, raw: str) -> Path:
    return Path(raw.strip())


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"{name} must be {', '.join(allowed[:-1])} or {allowed[-1]}, got {raw!r}")
        return value

    return parse


def _between(low: int, high: int) -> Callable[[str, str], int]:
    """An integer, brought into [low, high] (a cost or a cap, not an error)."""
    return lambda name, raw: max(low, min(_int(name, raw), high))


def _trusted_proxies(name: str, raw: str) -> str:
    spec = raw.strip()
    TrustedProxies.parse(spec)  # refuse a malformed list at start-up, naming the variable
    return spec


def _header_name(name: str, raw: str) -> str:
    value = raw.strip()
    if value and not re.fullmatch(r"[A-Za-z0-9-]+", value):
        raise ValueError(f"{name} must be an HTTP header name, got {value!r}")
    return value


def _var(name: str, default: Any, parse: Callable[[str, str], Any] = _text) -> Any:
    """A field read from the environment variable ``name``."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"env": name, "parse": parse})
    return field(default=default, metadata={"env": name, "parse": parse})


PROJECT_DIR = Path(__file__).resolve().parent.parent

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


@dataclass(frozen=True)
class Settings:
    database_url: str | None = _var("DATABASE_URL", None)
    # Beside server.py, wherever a command starts from: `server.py stdio`
    # launched by a desktop client meets the data of `python server.py`.
    data_dir: Path = _var("MEMORYGATE_DATA_DIR", PROJECT_DIR / "data", _path)
    # None: 127.0.0.1 locally, 0.0.0.0 with DATABASE_URL (see from_env).
    host: str = _var("HOST", "127.0.0.1")
    port: int = _var("PORT", 8080, _int)
    # The public base URL; unset: http://localhost:$PORT.
    public_base_url: str = _var("OAUTH_REDIRECT_BASE", "http://localhost:8080", _url)
    # Unset: the public base URL + /dashboard.
    frontend_url: str = _var("FRONTEND_URL", "http://localhost:8080/dashboard", _url)
    cors_extra_origins: list[str] = _var("CORS_EXTRA_ORIGINS", [], _list)
    mcp_allowed_hosts: list[str] = _var("MCP_ALLOWED_HOSTS", [], _list)
    require_mcp_auth: bool = _var("REQUIRE_MCP_AUTH", True, _bool)
    allow_unauthenticated_mcp: bool = _var("ALLOW_UNAUTHENTICATED_MCP", False, _bool)
    trusted_proxies: str = _var("TRUSTED_PROXIES", "", _trusted_proxies)
    client_ip_header: str = _var("CLIENT_IP_HEADER", "", _header_name)
    log_level: str = _var("LOG_LEVEL", "INFO", lambda name, raw: raw.strip().upper())
    max_request_bytes: int = _var("MAX_REQUEST_BYTES", 1024 * 1024, _int)
    max_import_bytes: int = _var("MAX_IMPORT_BYTES", 200 * 1024 * 1024, _int)
    header_timeout_seconds: float = _var("HEADER_TIMEOUT", 10.0, _float)
    body_timeout_seconds: float = _var("BODY_TIMEOUT", 30.0, _float)
    keep_alive_timeout_seconds: float = _var("KEEP_ALIVE_TIMEOUT", 5.0, _float)
    max_connections: int = _var("MAX_CONNECTIONS", 4096, _between(16, 1_000_000))

    embedding_provider: str = _var("EMBEDDING_PROVIDER", "auto", _choice("auto", "openai", "local", "none"))
    openai_api_key: str | None = _var("OPENAI_API_KEY", None)
    openai_base_url: str = _var("OPENAI_BASE_URL", "https://api.openai.com/v1", _url)
    openai_embedding_model: str = _var("OPENAI_EMBEDDING_MODEL", "text-embedding-3-small")
    openai_timeout_seconds: float = _var("OPENAI_TIMEOUT_SECONDS", 20.0, _float)
    openai_max_retries: int = _var("OPENAI_MAX_RETRIES", 4, _int)
    embedding_backfill_interval_seconds: float = _var("EMBEDDING_BACKFILL_INTERVAL", 30.0, _float)

    google_client_id: str | None = _var("GOOGLE_CLIENT_ID", None)
    google_client_secret: str | None = _var("GOOGLE_CLIENT_SECRET", None)
    google_discovery_url: str = _var(
        "GOOGLE_DISCOVERY_URL", "https://accounts.google.com/.well-known/openid-configuration"
    )
    github_client_id: str | None = _var("GITHUB_CLIENT_ID", None)
    github_client_secret: str | None = _var("GITHUB_CLIENT_SECRET", None)
    github_base_url: str = _var("GITHUB_BASE_URL", "https://github.com", _url)
    github_api_url: str = _var("GITHUB_API_URL", "https://api.github.com", _url)
    desktop_client_id: str | None = _var("PSTRYDER_DESKTOP", None)
    desktop_client_secret: str | None = _var("PSTRYDER_DESKTOP_SECRET", None)
    desktop_redirect_uris: list[str] = _var("PSTRYDER_DESKTOP_REDIRECT_URIS", [], _list)

    oauth_access_token_ttl_seconds: int = _var("OAUTH_ACCESS_TOKEN_TTL", 3600, _int)
    oauth_refresh_token_ttl_seconds: int = _var("OAUTH_REFRESH_TOKEN_TTL", 30 * 24 * 3600, _int)
    oauth_registrations_per_hour: int = _var("OAUTH_REGISTRATIONS_PER_HOUR", 20, _int)

    session_cookie_samesite: Literal["lax", "strict", "none"] = _var(
        "SESSION_COOKIE_SAMESITE", "lax", _choice("lax", "strict", "none")
    )
    session_max_age_seconds: int = _var("SESSION_MAX_AGE_SECONDS", 7 * 24 * 3600, _int)
    api_key_cache_ttl_seconds: float = _var("API_KEY_CACHE_TTL", 60.0, lambda n, raw: min(_float(n, raw), 60.0))
    bcrypt_rounds: int = _var("BCRYPT_ROUNDS", 12, _between(10, 15))
    usage_flush_interval_seconds: float = _var("USAGE_FLUSH_INTERVAL", 10.0, _float)
    auth_failure_limit: int = _var("AUTH_FAILURE_LIMIT", 10, _int)
    auth_failure_window_seconds: float = _var("AUTH_FAILURE_WINDOW", 60.0, _float)
    # "auto": in-process for one local process, else shared in the database.
    rate_limit_storage_uri: str = _var("RATE_LIMIT_STORAGE_URI", "auto")
    mcp_rate_limit: str = _var("MCP_RATE_LIMIT", "600/minute")
    oauth_token_rate_limit: str = _var("OAUTH_TOKEN_RATE_LIMIT", "60/minute")
    client_credentials_rate_limit: str = _var("CLIENT_CREDENTIALS_RATE_LIMIT", "10/minute")
    oauth_authorize_rate_limit: str = _var("OAUTH_AUTHORIZE_RATE_LIMIT", "60/minute")
    key_creation_rate_limit: str = _var("KEY_CREATION_RATE_LIMIT", "20/hour")
    import_rate_limit: str = _var("IMPORT_RATE_LIMIT", "20/hour")
    max_active_keys: int = _var("MAX_ACTIVE_KEYS", 50, _int)
    max_concurrent_bcrypt: int = _var("MAX_CONCURRENT_BCRYPT", 4, _between(1, 64))
    # Threads for blocking work (database, embeddings, bcrypt); the database
    # pool holds one connection per thread. 0: 8 + 4 per core, at most 40.
    worker_threads: int = _var("WORKER_THREADS", 0, _between(0, 200))
    # Server processes sharing the port; 0: one per core, at most 4.
    workers: int = _var("WORKERS", 0, _between(0, 64))

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Environment variable -> field name, for every setting."""
        return {f.metadata["env"]: f.name for f in fields(cls) if "env" in f.metadata}

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, *, read_dotenv: bool = True) -> Settings:
        if env is None:
            if read_dotenv:
                load_dotenv(override=False)
            env = dict(os.environ)
        given: dict[str, Any] = {}
        for variable in fields(cls):
            name = variable.metadata.get("env")
            raw = env.get(name) if name else None
            if raw is not None and raw.strip():
                given[variable.name] = variable.metadata["parse"](name, raw)
        return cls(**given).with_derived_defaults(given)

    def with_derived_defaults(self, given: dict[str, Any]) -> Settings:
        """Defaults that follow from other settings, where not given."""
        derived: dict[str, Any] = {}
        if "host" not in given:
            derived["host"] = "127.0.0.1" if self.is_local else "0.0.0.0"
        base = given.get("public_base_url") or f"http://localhost:{self.port}"
        derived["public_base_url"] = base
        if "frontend_url" not in given:
            derived["frontend_url"] = base + "/dashboard"
        return replace(self, **derived)

    @property
    def is_local(self) -> bool:
        """Local mode: no DATABASE_URL, so the embedded PostgreSQL is used."""
        return self.database_url is None

    @property
    def thread_count(self) -> int:
        """Worker threads (and pooled database connections) to run with."""
        return self.worker_threads or min(40, 8 + 4 * (os.cpu_count() or 1))

    @property
    def process_count(self) -> int:
        """Server processes to run: Python runs one thread at a time per
        process, so a busy server needs one per core."""
        return self.workers or max(1, min(4, os.cpu_count() or 1))

    @property
    def rate_limit_storage(self) -> str:
        """Where rate-limit counters live. Shared in the database whenever
        more than one process may serve (several workers, or production,
        where instances are added at will)."""
        if self.rate_limit_storage_uri != "auto":
            return self.rate_limit_storage_uri
        return "memory://" if self.is_local and self.process_count == 1 else "database"

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
