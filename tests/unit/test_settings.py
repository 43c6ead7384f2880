"""Settings: one table of variables, typed, with errors that name the variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.settings import Settings
from tests.support import ROOT


def test_defaults_follow_the_mode_and_the_port():
    local = Settings.from_env({"PORT": "9000"})
    assert (local.host, local.public_base_url, local.frontend_url) == (
        "127.0.0.1",
        "http://localhost:9000",
        "http://localhost:9000/dashboard",
    )
    managed = Settings.from_env({"DATABASE_URL": "postgres://db/x", "OAUTH_REDIRECT_BASE": "https://m.example/"})
    assert (managed.host, managed.public_base_url, managed.frontend_url) == (
        "0.0.0.0",
        "https://m.example",
        "https://m.example/dashboard",
    )


def test_values_are_typed_normalised_and_clamped():
    settings = Settings.from_env(
        {
            "MEMORYGATE_DATA_DIR": "/srv/memory",
            "REQUIRE_MCP_AUTH": "off",
            "CORS_EXTRA_ORIGINS": "https://a.example, https://b.example,",
            "EMBEDDING_PROVIDER": "NONE",
            "BCRYPT_ROUNDS": "40",
            "API_KEY_CACHE_TTL": "600",
            "HEADER_TIMEOUT": "2.5",
            "LOG_LEVEL": "debug",
            "GOOGLE_CLIENT_ID": "",  # empty means unset
        }
    )
    assert settings.data_dir == Path("/srv/memory") and settings.require_mcp_auth is False
    assert settings.cors_extra_origins == ["https://a.example", "https://b.example"]
    assert (settings.embedding_provider, settings.bcrypt_rounds, settings.api_key_cache_ttl_seconds) == (
        "none",
        15,
        60.0,
    )
    assert (settings.header_timeout_seconds, settings.log_level, settings.google_client_id) == (2.5, "DEBUG", None)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "eighty"),
        ("REQUIRE_MCP_AUTH", "maybe"),
        ("HEADER_TIMEOUT", "soon"),
        ("EMBEDDING_PROVIDER", "magic"),
        ("SESSION_COOKIE_SAMESITE", "loose"),
        ("TRUSTED_PROXIES", "not-an-address"),
        ("CLIENT_IP_HEADER", "Bad Header"),
    ],
)
def test_a_bad_value_names_its_variable(variable, value):
    with pytest.raises(ValueError, match=variable):
        Settings.from_env({variable: value})


def test_every_field_is_read_from_exactly_one_variable():
    variables = Settings.variables()
    assert len(variables) == len(set(variables.values())) == len(Settings.model_fields)


def test_the_configuration_page_lists_exactly_the_variables_read():
    rows = [line for line in (ROOT / "docs" / "configuration.md").read_text().splitlines() if line.startswith("| `")]
    listed = {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}
    assert listed == set(Settings.variables())


def test_a_dotenv_in_the_working_directory_is_not_read(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("MCP_RATE_LIMIT=7/minute\nPORT=1234\n")
    monkeypatch.chdir(tmp_path)
    for variable in ("MCP_RATE_LIMIT", "PORT"):
        monkeypatch.delenv(variable, raising=False)
    settings = Settings.from_env()
    assert (settings.mcp_rate_limit, settings.port) == ("600/minute", 8080)


def test_only_a_public_https_address_is_offered_to_hosted_clients():
    from web.keys_page import publicly_reachable

    assert publicly_reachable("https://memory.example.com/mcp")
    assert publicly_reachable("https://203.0.113.9/mcp") is False  # documentation range: not global
    for local in (
        "http://memory.example.com/mcp",
        "http://localhost:8080/mcp",
        "https://localhost/mcp",
        "https://127.0.0.1:8443/mcp",
        "https://10.0.0.5/mcp",
        "https://[::1]/mcp",
        "https://box.local/mcp",
    ):
        assert not publicly_reachable(local), local
    assert publicly_reachable("https://8.8.8.8/mcp")
