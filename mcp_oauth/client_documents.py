"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
as the MCP authorization spec of 2025-11-25 adopts it): a client whose
``client_id`` is an https URL describes itself in the JSON document served
there, so it connects without registering first.

Fetching a URL a stranger chose is a door into the server's network, so the
fetch is narrow: https only; the host's every address must be public (no
private, loopback, link-local, shared or reserved one, checked after
resolution and then connected to as checked, so a second lookup cannot
swap it); at most MAX_REDIRECTS redirects, each checked the same way; the
document at most MAX_DOCUMENT_BYTES, all of it within FETCH_SECONDS. The
document must name itself (its ``client_id`` is its URL), hold no secret,
and list its redirect URIs; what it says is kept for as long as its HTTP
caching headers allow (CACHE_SECONDS bounds). An operator may exempt hosts
from the public-address rule (CLIENT_METADATA_ALLOWED_HOSTS, for a client
on their own network) and trust a private CA (CLIENT_METADATA_CA_FILE).
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

MAX_CLIENT_ID_CHARS = 512
MAX_DOCUMENT_BYTES = 5_120
FETCH_SECONDS = 5.0
MAX_REDIRECTS = 2
# Kept at least this long (a client connecting makes several requests) and
# at most this long (a client may change its redirect URIs).
CACHE_SECONDS = (60, 86_400)
DEFAULT_CACHE_SECONDS = 3_600
SECRET_AUTH_METHODS = {"client_secret_post", "client_secret_basic", "client_secret_jwt"}
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


class ClientDocumentError(Exception):
    """Why a client's document cannot be used, in words for its developer."""


@dataclass(frozen=True)
class ClientDocument:
    client_id: str
    host: str
    client_name: str | None
    redirect_uris: list[str]
    grant_types: list[str]
    scope: str | None
    expires_at: datetime


def is_document_client_id(client_id: str) -> bool:
    return client_id.startswith("https://")


def client_id_problem(client_id: str) -> str | None:
    """What makes ``client_id`` unusable as a document's URL, or None."""
    if len(client_id) > MAX_CLIENT_ID_CHARS:
        return f"a client_id URL is at most {MAX_CLIENT_ID_CHARS} characters"
    parts = urlsplit(client_id)
    if parts.scheme != "https" or not parts.hostname:
        return "a client_id URL must be https with a host"
    if parts.username is not None or parts.password is not None:
        return "a client_id URL must not hold a user name or password"
    if parts.fragment or "#" in client_id:
        return "a client_id URL must not have a fragment"
    segments = parts.path.split("/")
    if parts.path in ("", "/") or "." in segments or ".." in segments:
        return "a client_id URL must have a path, without . or .. segments"
    return None


class DocumentFetcher:
    def __init__(self, *, allowed_hosts: frozenset[str] = frozenset(), ca_file: str | None = None) -> None:
        self.allowed_hosts = frozenset(host.lower() for host in allowed_hosts)
        self.context = ssl.create_default_context()
        if ca_file:
            self.context.load_verify_locations(cafile=ca_file)

    def fetch(self, client_id: str) -> ClientDocument:
        problem = client_id_problem(client_id)
        if problem:
            raise ClientDocumentError(problem)
        deadline = time.monotonic() + FETCH_SECONDS
        url = client_id
        for _ in range(MAX_REDIRECTS + 1):
            status, headers, body = self._get(url, deadline)
            if status in (301, 302, 303, 307, 308) and headers.get("location"):
                url = urljoin(url, headers["location"])
                if urlsplit(url).scheme != "https":
                    raise ClientDocumentError("the client's document redirects to a URL that is not https")
                continue
            if status != 200:
                raise ClientDocumentError(f"the client's document answered HTTP {status}")
            return _checked(client_id, body, _expiry(headers))
        raise ClientDocumentError(f"the client's document redirects more than {MAX_REDIRECTS} times")

    def _get(self, url: str, deadline: float) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 443
        addresses = self._public_addresses(host, port)
        connection = _PinnedHTTPSConnection(
            host, port, addresses=addresses, context=self.context, timeout=_left(deadline)
        )
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("GET", target, headers={"Accept": "application/json", "User-Agent": "MemoryGate"})
            response = connection.getresponse()
            body = b""
            while len(body) <= MAX_DOCUMENT_BYTES:
                connection.sock.settimeout(_left(deadline))
                chunk = response.read(1024)
                if not chunk:
                    break
                body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise ClientDocumentError(f"the client's document is larger than {MAX_DOCUMENT_BYTES} bytes")
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body
        except (OSError, http.client.HTTPException) as exc:
            raise ClientDocumentError(f"the client's document could not be fetched ({type(exc).__name__})") from None
        finally:
            connection.close()

    def _public_addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to, in the resolver's order: every
        address the host has must be public, unless the operator exempted it."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise ClientDocumentError(f"the client's host {host} could not be resolved") from None
        found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if host.lower() not in self.allowed_hosts and not all(_public(address) for address in found):
            raise ClientDocumentError(f"the client's host {host} resolves to a non-public address")
        return found


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the address already checked, with the URL's host name for
    the certificate and the Host header."""

    def __init__(self, host: str, port: int, *, addresses: list[str], context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.checked_addresses = addresses
        self.tls = context

    def connect(self) -> None:
        failure: OSError = ConnectionError("no address")
        for address in self.checked_addresses:
            try:
                raw = socket.create_connection((address, self.port), self.timeout)
            except OSError as exc:
                failure = exc
                continue
            self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)
            return
        raise failure


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ClientDocumentError(f"the client's document took longer than {FETCH_SECONDS:g} s")
    return left


def _expiry(headers: dict[str, str]) -> datetime:
    """How long the document may be kept: Cache-Control's max-age, else
    Expires, else an hour; no-store and no-cache count as the shortest."""
    control = headers.get("cache-control", "")
    seconds: float = DEFAULT_CACHE_SECONDS
    if "no-store" in control.lower() or "no-cache" in control.lower():
        seconds = 0
    elif match := _MAX_AGE.search(control):
        seconds = int(match.group(1))
    elif "expires" in headers:
        try:
            expires = email.utils.parsedate_to_datetime(headers["expires"])
            seconds = (expires - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            seconds = 0
    low, high = CACHE_SECONDS
    return datetime.now(UTC) + timedelta(seconds=min(max(seconds, low), high))


def _checked(client_id: str, body: bytes, expires_at: datetime) -> ClientDocument:
    try:
        document: Any = json.loads(body)
    except ValueError:
        raise ClientDocumentError("the client's document is not JSON") from None
    if not isinstance(document, dict):
        raise ClientDocumentError("the client's document is not a JSON object")
    if document.get("client_id") != client_id:
        raise ClientDocumentError("the client's document names another client_id than its own URL")
    if document.get("token_endpoint_auth_method", "none") in SECRET_AUTH_METHODS or "client_secret" in document:
        raise ClientDocumentError("a client's document cannot use a shared secret")
    redirect_uris = document.get("redirect_uris")
    if not isinstance(redirect_uris, list) or not redirect_uris or not all(isinstance(u, str) for u in redirect_uris):
        raise ClientDocumentError("the client's document must list its redirect_uris")
    name = document.get("client_name")
    grant_types = document.get("grant_types") or ["authorization_code", "refresh_token"]
    scope = document.get("scope")
    return ClientDocument(
        client_id=client_id,
        host=urlsplit(client_id).netloc,
        client_name=name if isinstance(name, str) else None,
        redirect_uris=redirect_uris,
        grant_types=[grant for grant in grant_types if isinstance(grant, str)],
        scope=scope if isinstance(scope, str) else None,
        expires_at=expires_at,
    )
