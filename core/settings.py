"""Every environment variable MemoryGate reads, in one typed object.

Usage: ``settings = Settings.from_env()``: the environment, then a `.env`
beside server.py (never one in the working directory) for what the
environment does not set. `.env.example` and docs/configuration.md document
each variable (tests keep both in step with this class).

A pydantic-settings model: each field is declared once, with its variable
(the field's alias), type, default and the rule a value must follow, and a
bad value stops the start with an error naming the variable. An empty
variable counts as unset.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.addresses import TrustedProxies, is_loopback

VERSION = "0.2.0"
LOCAL_OWNER_EMAIL = "local@memorygate.internal"
PROJECT_DIR = Path(__file__).resolve().parent.parent


class UnsafeConfiguration(RuntimeError):
    """The configuration must not serve production traffic; the message says why."""


# --- how a variable's text becomes a value ------------------------------------------


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _lowered(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _without_trailing_slash(value: Any) -> Any:
    return value.strip().rstrip("/") if isinstance(value, str) else value


def _comma_list(value: Any) -> Any:
    return [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else value


def _between(low: int, high: int) -> AfterValidator:
    """An integer brought into [low, high] (a cost or a cap, not an error)."""
    return AfterValidator(lambda value: max(low, min(value, high)))


def _trusted_proxies(spec: str) -> str:
    TrustedProxies.parse(spec)  # refuse a malformed list at start-up
    return spec


def _header_name(value: str) -> str:
    if value and not re.fullmatch(r"[A-Za-z0-9-]+", value):
        raise ValueError(f"must be an HTTP header name, got {value!r}")
    return value


Text = Annotated[str, BeforeValidator(_stripped)]
OptionalText = Annotated[str | None, BeforeValidator(_stripped)]
Url = Annotated[str, BeforeValidator(_without_trailing_slash)]
Names = Annotated[list[str], NoDecode, BeforeValidator(_comma_list)]


def env(variable: str, default: Any) -> Any:
    """A field read from the environment variable ``variable``."""
    if isinstance(default, list):
        return Field(default_factory=lambda: list(default), alias=variable)
    return Field(default, alias=variable)


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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        frozen=True,
        case_sensitive=True,
        env_ignore_empty=True,
        validate_by_name=True,
        validate_by_alias=True,
        extra="ignore",
    )

    database_url: OptionalText = env("DATABASE_URL", None)
    # Beside server.py, wherever a command starts from: `server.py stdio`
    # launched by a desktop client meets the data of `python server.py`.
    data_dir: Path = env("MEMORYGATE_DATA_DIR", PROJECT_DIR / "data")
    # Unset: 127.0.0.1 locally, 0.0.0.0 with DATABASE_URL.
    host: Text = env("HOST", "127.0.0.1")
    port: int = env("PORT", 8080)
    # The public base URL; unset: http://localhost:$PORT.
    public_base_url: Url = env("OAUTH_REDIRECT_BASE", "http://localhost:8080")
    # Unset: the public base URL + /dashboard.
    frontend_url: Url = env("FRONTEND_URL", "http://localhost:8080/dashboard")
    cors_extra_origins: Names = env("CORS_EXTRA_ORIGINS", [])
    mcp_allowed_hosts: Names = env("MCP_ALLOWED_HOSTS", [])
    require_mcp_auth: bool = env("REQUIRE_MCP_AUTH", True)
    allow_unauthenticated_mcp: bool = env("ALLOW_UNAUTHENTICATED_MCP", False)
    trusted_proxies: Annotated[Text, AfterValidator(_trusted_proxies)] = env("TRUSTED_PROXIES", "")
    client_ip_header: Annotated[Text, AfterValidator(_header_name)] = env("CLIENT_IP_HEADER", "")
    log_level: Annotated[str, BeforeValidator(lambda value: _stripped(value).upper())] = env("LOG_LEVEL", "INFO")
    max_request_bytes: int = env("MAX_REQUEST_BYTES", 1024 * 1024)
    max_import_bytes: int = env("MAX_IMPORT_BYTES", 200 * 1024 * 1024)
    header_timeout_seconds: float = env("HEADER_TIMEOUT", 10.0)
    body_timeout_seconds: float = env("BODY_TIMEOUT", 30.0)
    keep_alive_timeout_seconds: float = env("KEEP_ALIVE_TIMEOUT", 5.0)
    max_connections: Annotated[int, _between(16, 1_000_000)] = env("MAX_CONNECTIONS", 4096)

    embedding_provider: Annotated[Literal["auto", "openai", "local", "none"], BeforeValidator(_lowered)] = env(
        "EMBEDDING_PROVIDER", "auto"
    )
    # The model EMBEDDING_PROVIDER=local runs (memory/local_models.py names them).
    local_embedding_model: Literal["bge-small-en-v1.5", "all-MiniLM-L6-v2"] = env(
        "LOCAL_EMBEDDING_MODEL", "bge-small-en-v1.5"
    )
    openai_api_key: OptionalText = env("OPENAI_API_KEY", None)
    openai_base_url: Url = env("OPENAI_BASE_URL", "https://api.openai.com/v1")
    openai_embedding_model: Text = env("OPENAI_EMBEDDING_MODEL", "text-embedding-3-small")
    openai_timeout_seconds: float = env("OPENAI_TIMEOUT_SECONDS", 20.0)
    openai_max_retries: int = env("OPENAI_MAX_RETRIES", 4)
    embedding_backfill_interval_seconds: float = env("EMBEDDING_BACKFILL_INTERVAL", 30.0)

    google_client_id: OptionalText = env("GOOGLE_CLIENT_ID", None)
    google_client_secret: OptionalText = env("GOOGLE_CLIENT_SECRET", None)
    google_discovery_url: Text = env(
        "GOOGLE_DISCOVERY_URL", "https://accounts.google.com/.well-known/openid-configuration"
    )
    github_client_id: OptionalText = env("GITHUB_CLIENT_ID", None)
    github_client_secret: OptionalText = env("GITHUB_CLIENT_SECRET", None)
    github_base_url: Url = env("GITHUB_BASE_URL", "https://github.com")
    github_api_url: Url = env("GITHUB_API_URL", "https://api.github.com")
    desktop_client_id: OptionalText = env("PSTRYDER_DESKTOP", None)
    desktop_client_secret: OptionalText = env("PSTRYDER_DESKTOP_SECRET", None)
    desktop_redirect_uris: Names = env("PSTRYDER_DESKTOP_REDIRECT_URIS", [])

    oauth_access_token_ttl_seconds: int = env("OAUTH_ACCESS_TOKEN_TTL", 3600)
    oauth_refresh_token_ttl_seconds: int = env("OAUTH_REFRESH_TOKEN_TTL", 30 * 24 * 3600)
    oauth_registrations_per_hour: int = env("OAUTH_REGISTRATIONS_PER_HOUR", 20)
    # Client ID Metadata Documents are fetched from public addresses only;
    # these hosts are exempt (a client on the operator's own network), and
    # this CA file is trusted besides the system's (a private CA).
    client_metadata_allowed_hosts: Names = env("CLIENT_METADATA_ALLOWED_HOSTS", [])
    client_metadata_ca_file: OptionalText = env("CLIENT_METADATA_CA_FILE", None)

    session_cookie_samesite: Annotated[Literal["lax", "strict", "none"], BeforeValidator(_lowered)] = env(
        "SESSION_COOKIE_SAMESITE", "lax"
    )
    session_max_age_seconds: int = env("SESSION_MAX_AGE_SECONDS", 7 * 24 * 3600)
    # At most a minute: the cache spares bcrypt; every request still reads the key's row.
    api_key_cache_ttl_seconds: Annotated[float, AfterValidator(lambda value: min(value, 60.0))] = env(
        "API_KEY_CACHE_TTL", 60.0
    )
    bcrypt_rounds: Annotated[int, _between(10, 15)] = env("BCRYPT_ROUNDS", 12)
    usage_flush_interval_seconds: float = env("USAGE_FLUSH_INTERVAL", 10.0)
    auth_failure_limit: int = env("AUTH_FAILURE_LIMIT", 10)
    auth_failure_window_seconds: float = env("AUTH_FAILURE_WINDOW", 60.0)
    # "auto": in-process for one local process, else shared in the database.
    rate_limit_storage_uri: Text = env("RATE_LIMIT_STORAGE_URI", "auto")
    mcp_rate_limit: Text = env("MCP_RATE_LIMIT", "600/minute")
    oauth_token_rate_limit: Text = env("OAUTH_TOKEN_RATE_LIMIT", "60/minute")
    client_credentials_rate_limit: Text = env("CLIENT_CREDENTIALS_RATE_LIMIT", "10/minute")
    oauth_authorize_rate_limit: Text = env("OAUTH_AUTHORIZE_RATE_LIMIT", "60/minute")
    key_creation_rate_limit: Text = env("KEY_CREATION_RATE_LIMIT", "20/hour")
    import_rate_limit: Text = env("IMPORT_RATE_LIMIT", "20/hour")
    max_active_keys: int = env("MAX_ACTIVE_KEYS", 50)
    max_concurrent_bcrypt: Annotated[int, _between(1, 64)] = env("MAX_CONCURRENT_BCRYPT", 4)
    # Threads for blocking work (database, embeddings, bcrypt); the database
    # pool holds one connection per thread. 0: 8 + 4 per core, at most 40.
    worker_threads: Annotated[int, _between(0, 200)] = env("WORKER_THREADS", 0)
    # Server processes sharing the port; 0: one per core, at most 4.
    workers: Annotated[int, _between(0, 64)] = env("WORKERS", 0)

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Environment variable -> field name, for every setting."""
        return {field.alias: name for name, field in cls.model_fields.items() if field.alias}

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, *, read_dotenv: bool = True) -> Settings:
        """From the process's environment (and `.env` beside server.py), or
        from ``env`` alone; ValueError names every variable that is wrong."""
        try:
            if env is None:
                return cls(_env_file=PROJECT_DIR / ".env" if read_dotenv else None)  # type: ignore[call-arg]
            return cls.model_validate({name: value for name, value in env.items() if value.strip()})
        except ValidationError as exc:
            raise ValueError(_described(exc)) from None

    @model_validator(mode="after")
    def _derived_defaults(self) -> Settings:
        """Defaults that follow from other settings, where not given."""
        given = self.model_fields_set
        derived: dict[str, str] = {}
        if "host" not in given:
            derived["host"] = "127.0.0.1" if self.is_local else "0.0.0.0"
        if "public_base_url" not in given:
            derived["public_base_url"] = f"http://localhost:{self.port}"
        if "frontend_url" not in given:
            derived["frontend_url"] = derived.get("public_base_url", self.public_base_url) + "/dashboard"
        for name, value in derived.items():
            object.__setattr__(self, name, value)  # still being made: frozen only once returned
        return self

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


def _described(error: ValidationError) -> str:
    """'PORT must be ...: got ...' for each wrong variable, on one line."""
    problems = []
    for problem in error.errors():
        variable = ".".join(str(part) for part in problem["loc"]) or "settings"
        problems.append(f"{variable}: {problem['msg']} (got {problem.get('input')!r})")
    return "; ".join(problems)
