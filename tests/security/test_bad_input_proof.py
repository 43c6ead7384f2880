"""Proof under bad input: forged credentials, open redirects, header parsing,
registered redirect URIs and paging numbers.

Hypothesis generates the inputs; the counts of inputs tried and accepted are
printed at the end of the run (see conftest's terminal summary) and quoted in
the README's security section.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

import auth_middleware
from core.settings import Settings
from identity import api_keys
from identity import oauth_records as records
from mcp_oauth.provider import redirect_uri_allowed_at_registration
from oauth_models import APIKey, OAuthGrant, User
from tests.support import PROOF_COUNTS, base_settings, new_key, new_user, session_scope, user_with_key
from web.sign_in import safe_next_path

pytestmark = pytest.mark.slow

MCP_URL = "http://127.0.0.1/mcp"
KEY_ALPHABET = string.ascii_letters + string.digits + "-_"


@pytest.fixture(scope="module")
def credentials() -> dict[str, str]:
    """Real credentials to mutate, and ones that must be refused as they are."""
    owner, key = user_with_key("proof")
    revoked_owner, revoked = user_with_key("revoked")
    with session_scope() as session:
        key_id = session.execute(select(APIKey.id).where(APIKey.user_id == revoked_owner)).scalar_one()
        api_keys.revoke_key(session, user_id=revoked_owner, key_id=key_id)
    _, expired = user_with_key("expired", expires_at=datetime.now(UTC) - timedelta(minutes=1))
    inactive_owner, inactive = user_with_key("inactive")
    with session_scope() as session:
        session.execute(update(User).where(User.id == inactive_owner).values(is_active=False))
        ours = OAuthGrant(user_id=owner, client_id="proof-client", scopes=["memory:read"], resource=MCP_URL)
        foreign = OAuthGrant(
            user_id=owner, client_id="proof-client", scopes=["memory:read"], resource="https://other.example/mcp"
        )
        session.add_all([ours, foreign])
        session.flush()
        settings_ = Settings(database_url="postgresql://unused/x")
        valid_token = records.issue_tokens(session, grant=ours, scopes=["memory:read"], settings=settings_)
        foreign_token = records.issue_tokens(session, grant=foreign, scopes=["memory:read"], settings=settings_)
    return {
        "key": key,
        "access_token": valid_token.access_token,
        "refresh_token": valid_token.refresh_token,
        "other_audience": foreign_token.access_token,
        "revoked": revoked,
        "expired": expired,
        "inactive": inactive,
    }


def near_miss(secret: str) -> st.SearchStrategy[str]:
    def replace_one(i: int) -> st.SearchStrategy[str]:
        others = [c for c in KEY_ALPHABET if c != secret[i]]
        return st.sampled_from(others).map(lambda c: secret[:i] + c + secret[i + 1 :])

    return st.integers(min_value=3, max_value=len(secret) - 1).flatmap(replace_one)


def forged_values(creds: dict[str, str]) -> st.SearchStrategy[str]:
    random_body = st.text(alphabet=KEY_ALPHABET, min_size=30, max_size=60)
    return st.one_of(
        near_miss(creds["key"]),
        near_miss(creds["access_token"]),
        st.tuples(
            st.sampled_from(["mg_", "MG_", "mg-", "mk_", "mg", "", "mg_oat_", "mg_ort_", "sk-", "ey"]), random_body
        ).map("".join),
        st.text(min_size=73, max_size=400),  # over-long, any characters
        st.text(alphabet=st.characters(min_codepoint=128), min_size=1, max_size=60).map(lambda t: "mg_" + t),
        st.binary(max_size=80).map(lambda b: b.decode("latin-1")),  # NUL and control bytes
        st.sampled_from([creds[k] for k in ("revoked", "expired", "inactive", "other_audience", "refresh_token")]),
        st.sampled_from([creds["key"] + "x", creds["key"][:-1], " " + creds["key"] + " x", creds["key"].upper()]),
    )


def header_sets(creds: dict[str, str]) -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    value = forged_values(creds)
    scheme = st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "Token", "", "Bearer ", "MAC"])

    def enc(text: str) -> bytes:
        return text.encode("utf-8", "surrogatepass")

    single = st.tuples(scheme, value).map(lambda sv: [(b"authorization", enc(f"{sv[0]} {sv[1]}"))])
    api_key_header = value.map(lambda v: [(b"x-api-key", enc(v))])
    duplicated = st.sampled_from([creds["key"], creds["access_token"]]).map(
        lambda good: [(b"authorization", enc(f"Bearer {good}")), (b"authorization", enc(f"Bearer {good}"))]
    )
    conflicting = value.map(
        lambda v: [(b"authorization", enc(f"Bearer {creds['key']}")), (b"x-api-key", enc(v or "x"))]
    )
    both_headers_twice = value.map(lambda v: [(b"x-api-key", enc(v)), (b"x-api-key", enc(creds["key"]))])
    return st.one_of(single, api_key_header, duplicated, conflicting, both_headers_twice)


def test_real_credentials_are_accepted(credentials):
    """The control: without it, 'nothing accepted' would prove nothing."""
    state = auth_middleware.AuthState.from_settings(base_settings())
    with session_scope() as session:
        for name in ("key", "access_token"):
            headers = [(b"authorization", f"Bearer {credentials[name]}".encode())]
            check = auth_middleware.verify_request_credentials(session, headers, audience=MCP_URL, state=state)
            assert check.principal is not None, name


def test_ten_thousand_forged_credentials_are_all_refused(credentials):
    state = auth_middleware.AuthState.from_settings(base_settings())
    tried = accepted = crashed = 0

    @settings(
        max_examples=10_000,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(headers=header_sets(credentials))
    def check(headers):
        nonlocal tried, accepted, crashed
        tried += 1
        try:
            with session_scope() as session:
                result = auth_middleware.verify_request_credentials(
                    session, headers, audience=MCP_URL, client_ip="203.0.113.9", state=state
                )
        except Exception:
            crashed += 1
            raise
        if result.principal is not None:
            accepted += 1
        assert result.principal is None, headers

    check()
    PROOF_COUNTS["forged credentials (verifier)"] = {"tried": tried, "accepted": accepted, "errors": crashed}
    assert tried >= 10_000  # every one was refused, or check() would have raised


def test_forged_credentials_over_http_get_4xx_never_5xx(server, credentials):
    tried = accepted = server_errors = 0
    client = httpx.Client(timeout=30)

    @settings(max_examples=600, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(headers=header_sets(credentials))
    def check(headers):
        nonlocal tried, accepted, server_errors
        # An HTTP client cannot put control characters or edge whitespace in a
        # header; those inputs are covered by the verifier test above.
        if not all(_sendable(value) for _, value in headers):
            return
        tried += 1
        response = client.post(
            server.url + "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers=[(k.decode(), v) for k, v in headers],
        )
        server_errors += response.status_code >= 500
        accepted += response.status_code == 200
        assert response.status_code in (401, 429), (headers, response.status_code)

    try:
        check()
    finally:
        client.close()
    PROOF_COUNTS["forged credentials (HTTP /mcp)"] = {"tried": tried, "accepted": accepted, "5xx": server_errors}
    assert accepted == 0 and server_errors == 0


def _sendable(value: bytes) -> bool:
    return value == value.strip(b" \t") and all(0x20 <= b != 0x7F or b == 0x09 for b in value)


OPEN_REDIRECTS = [
    "//evil.example",
    "///evil.example",
    "////evil.example",
    "https://evil.example",
    "http:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "/%2F%2Fevil.example",
    "%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%252F%252Fevil.example",
    "/%5C%5Cevil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\tevil.example",
    "/\r\nLocation: https://evil.example",
    "/%0d%0aLocation:%20https://evil.example",
    "https:/evil.example",
    "//evil.example/%2F..",
    "evil.example",
    "@evil.example",
    "/\u3002evil.example",
    "//evil%2Eexample",
    "/%09/evil.example",
    " //evil.example",
]


@pytest.mark.parametrize("vector", OPEN_REDIRECTS)
def test_open_redirect_vectors_are_refused(vector):
    target = safe_next_path(vector)
    assert target is None or _stays_on_site(target), (vector, target)


def _stays_on_site(target: str) -> bool:
    base = "https://memory.example/"
    resolved = urlsplit(urljoin(base, target))
    return resolved.scheme == "https" and resolved.netloc == "memory.example"


def test_next_path_validator_never_allows_an_off_site_redirect():
    tried = off_site = 0
    alphabet = st.sampled_from(
        list("/\\:.@?#%&=; \t")
        + ["%2F", "%5C", "%2f", "%25", "evil", "example", "\u3002", "\x00", "https", "//", "\r\n", "a", "1"]
    )

    @settings(max_examples=5_000, deadline=None, database=None)
    @given(st.lists(alphabet, max_size=12).map("".join))
    def check(raw):
        nonlocal tried, off_site
        tried += 1
        target = safe_next_path(raw)
        if target is not None and not _stays_on_site(target):
            off_site += 1
        assert target is None or _stays_on_site(target), (raw, target)

    check()
    PROOF_COUNTS["next paths (open-redirect validator)"] = {"tried": tried, "off-site": off_site}
    assert off_site == 0


def test_header_parser_never_raises_and_only_yields_key_shaped_values():
    tried = yielded = crashed = 0
    name = st.sampled_from([b"authorization", b"Authorization", b"x-api-key", b"X-API-KEY", b"cookie", b"host"])

    @settings(max_examples=5_000, deadline=None, database=None)
    @given(st.lists(st.tuples(name, st.binary(max_size=120)), max_size=5))
    def check(headers):
        nonlocal tried, yielded, crashed
        tried += 1
        try:
            key, error = auth_middleware.extract_api_key(headers)
        except Exception:
            crashed += 1
            raise
        assert (key is None) != (error is None)
        if key is not None:
            yielded += 1
            assert key.startswith("mg_") and key.isascii() and len(key.encode()) <= 72

    check()
    PROOF_COUNTS["header sets (parser)"] = {"tried": tried, "key-shaped": yielded, "errors": crashed}


def test_inactive_and_expired_controls_exist(credentials):
    """Guard against the fixture silently producing valid credentials."""
    owner, _ = new_user("control")
    assert new_key(owner).startswith("mg_")
    state = auth_middleware.AuthState.from_settings(base_settings())
    with session_scope() as session:
        for name in ("revoked", "expired", "inactive", "other_audience", "refresh_token"):
            headers = [(b"authorization", f"Bearer {credentials[name]}".encode())]
            assert (
                auth_middleware.verify_request_credentials(session, headers, audience=MCP_URL, state=state).principal
                is None
            ), name


def test_no_redirect_uri_with_user_info_is_registrable():
    """Generated URIs that carry user-info, or that are long, are refused by
    the registration check, whatever else they contain."""
    tried = accepted = 0
    label = st.text(alphabet=string.ascii_lowercase + string.digits + "-.", min_size=1, max_size=20)

    @settings(max_examples=3_000, deadline=None, database=None)
    @given(
        scheme=st.sampled_from(["https", "http"]),
        user=label,
        password=st.one_of(st.none(), label),
        host=st.sampled_from(["claude.ai", "127.0.0.1", "localhost", "[::1]", "evil.example"]),
        path=st.text(alphabet=string.ascii_letters + "/%@:", max_size=40),
    )
    def check(scheme: str, user: str, password: str | None, host: str, path: str) -> None:
        nonlocal tried, accepted
        credentials = user if password is None else f"{user}:{password}"
        tried += 1
        accepted += redirect_uri_allowed_at_registration(f"{scheme}://{credentials}@{host}/{path}")

    check()
    assert accepted == 0
    PROOF_COUNTS["redirect URIs with user-info (registration)"] = {"tried": tried, "accepted": accepted}


def test_paging_numbers_of_any_size_get_a_clear_answer(server):
    """Page, offset and id parameters from tiny to far beyond bigint: a page
    or a 4xx, never a 5xx."""
    tried = server_errors = 0
    _, key = user_with_key("paging")
    headers = {"Authorization": f"Bearer {key}"}

    @settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(number=st.one_of(st.integers(), st.integers(min_value=2**62, max_value=2**80)))
    def check(number: int) -> None:
        nonlocal tried, server_errors
        for path, params in (("/dashboard", {"page": number}), ("/auth/audit", {"before": number})):
            tried += 1
            server_errors += httpx.get(server.url + path, params=params, headers=headers).status_code >= 500

    check()
    assert server_errors == 0
    PROOF_COUNTS["page and id numbers (HTTP)"] = {"tried": tried, "5xx": server_errors}
