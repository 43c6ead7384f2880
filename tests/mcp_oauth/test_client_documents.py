"""Client ID Metadata Documents: a client whose client_id is an https URL
connects without registering; its document is fetched over https from a
local test server (the operator exempts its host from the public-address
rule and trusts its certificate), checked, cached, and its host is shown on
the consent page. Every way a document or its URL can be wrong is refused."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import OAuthClientMetadata
from pydantic import AnyUrl
from sqlalchemy import update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from mcp_oauth import client_documents
from mcp_oauth.client_documents import ClientDocumentError, DocumentFetcher
from oauth_models import OAuthClient
from server import create_app
from tests.conftest import provider_settings
from tests.fakes import github_profile
from tests.oauth_support import CLIENT_REDIRECT, MemoryTokenStorage, OAuthBrowser, authorize_url, pkce_pair
from tests.support import call, serve, serve_asgi, session_scope


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for localhost and 127.0.0.1 (its own CA)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


class ClientSite:
    """A client's own site, serving its metadata document (and wrong ones)."""

    def __init__(self) -> None:
        self.url = ""
        self.fetches = 0
        self.cache_control = "max-age=600"

    def document(self, path: str, **changes) -> dict:
        return {
            "client_id": f"{self.url}{path}",
            "client_name": "Document Agent",
            "redirect_uris": [CLIENT_REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            **changes,
        }

    def app(self) -> Starlette:
        async def client(request: Request) -> Response:
            self.fetches += 1
            headers = {"Cache-Control": self.cache_control}
            return JSONResponse(self.document("/client.json"), headers=headers)

        async def wrong(request: Request) -> Response:
            variants = {
                "other-id": self.document("/other.json"),
                "secret": self.document("/wrong/secret", token_endpoint_auth_method="client_secret_post"),
                "no-redirects": self.document("/wrong/no-redirects", redirect_uris=[]),
                "big": self.document("/wrong/big", client_name="x" * 6_000),
            }
            return JSONResponse(variants[request.path_params["kind"]])

        async def not_json(request: Request) -> Response:
            return Response("<html>hello</html>", media_type="text/html")

        async def slow(request: Request) -> Response:
            async def drip():
                for _ in range(20):
                    yield b" "
                    await asyncio.sleep(0.5)

            return StreamingResponse(drip(), media_type="application/json")

        async def moved(request: Request) -> Response:
            target = {"https": "/moved-document", "http": self.url.replace("https", "http") + "/client.json"}
            return RedirectResponse(target[request.path_params["to"]], status_code=302)

        async def moved_document(request: Request) -> Response:
            return JSONResponse(self.document("/moved/https"))

        async def loop(request: Request) -> Response:
            return RedirectResponse("/loop", status_code=302)

        return Starlette(
            routes=[
                Route("/client.json", client),
                Route("/wrong/{kind}", wrong),
                Route("/not-json", not_json),
                Route("/slow", slow),
                Route("/moved/{to}", moved),
                Route("/moved-document", moved_document),
                Route("/loop", loop),
            ]
        )


@pytest.fixture(scope="module")
def site(certificate) -> Iterator[ClientSite]:
    site = ClientSite()
    with serve_asgi(site.app(), tls=certificate) as served:
        site.url = served.url
        yield site


@pytest.fixture(scope="module")
def cimd_server(google, github, certificate) -> Iterator:
    settings = provider_settings(google, github)
    with serve(
        create_app, **settings, client_metadata_allowed_hosts=["localhost"], client_metadata_ca_file=certificate[0]
    ) as served:
        yield served


def fetcher(certificate) -> DocumentFetcher:
    return DocumentFetcher(allowed_hosts=frozenset({"localhost"}), ca_file=certificate[0])


def test_the_authorization_server_says_it_takes_documents(cimd_server):
    metadata = httpx.get(cimd_server.url + "/.well-known/oauth-authorization-server").json()
    assert metadata["client_id_metadata_document_supported"] is True
    assert metadata["registration_endpoint"] == cimd_server.url + "/oauth/register"  # registering still works


async def test_the_sdk_client_connects_with_its_document_and_the_person_sees_the_verified_host(
    cimd_server, site, github, new_browser
):
    github.next_profile = github_profile(7401, "documented")
    person = OAuthBrowser(cimd_server.url, new_browser())
    storage = MemoryTokenStorage()
    auth = OAuthClientProvider(
        server_url=cimd_server.url + "/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="Document Agent",
            redirect_uris=[AnyUrl(CLIENT_REDIRECT)],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=person.redirect_handler,
        callback_handler=person.callback_handler,
        client_metadata_url=site.url + "/client.json",
    )
    fetched_before = site.fetches
    async with Client(StreamableHttpTransport(cimd_server.url + "/mcp", auth=auth)) as client:
        stored = await call(client, "memory_store", observation="Connected with a metadata document")
        assert stored["stored"]
    assert storage.client_info.client_id == site.url + "/client.json"  # no registration was made
    consent = next(page for page in person.pages if 'action="/oauth/consent"' in page)
    host = site.url.removeprefix("https://")
    assert f'published by <code class="host">{host}</code>' in consent
    assert "Connect <strong>Document Agent</strong>" in consent
    assert site.fetches == fetched_before + 1  # kept as its Cache-Control allows, not fetched per request

    # The same client id with a redirect URI its document does not list is refused.
    refused = httpx.get(
        authorize_url(
            cimd_server.url, site.url + "/client.json", pkce_pair()[1], redirect_uri="http://127.0.0.1:9/elsewhere"
        )
    )
    assert refused.status_code == 400 and "redirect" in refused.text.lower()


def test_a_kept_document_is_fetched_again_once_its_lifetime_ends(cimd_server, site):
    client_id = site.url + "/client.json"
    authorize = authorize_url(cimd_server.url, client_id, pkce_pair()[1])
    assert httpx.get(authorize).status_code == 302  # known (kept): on to consent, no fetch
    fetches = site.fetches
    assert httpx.get(authorize).status_code == 302 and site.fetches == fetches
    with session_scope() as session:
        session.execute(
            update(OAuthClient)
            .where(OAuthClient.client_id == client_id)
            .values(metadata_={"document_host": "x", "document_expires_at": "2000-01-01T00:00:00+00:00"})
        )
    assert httpx.get(authorize).status_code == 302 and site.fetches == fetches + 1


def test_no_store_keeps_a_document_the_shortest_time(site, certificate):
    site.cache_control = "no-store"
    try:
        document = fetcher(certificate).fetch(site.url + "/client.json")
    finally:
        site.cache_control = "max-age=600"
    lifetime = (document.expires_at - datetime.datetime.now(datetime.UTC)).total_seconds()
    assert 55 < lifetime <= 60


def test_a_good_document_is_read_whole(site, certificate):
    document = fetcher(certificate).fetch(site.url + "/client.json")
    assert document.client_name == "Document Agent" and document.redirect_uris == [CLIENT_REDIRECT]
    assert document.host == site.url.removeprefix("https://")
    lifetime = (document.expires_at - datetime.datetime.now(datetime.UTC)).total_seconds()
    assert 590 < lifetime <= 600  # its Cache-Control max-age
    moved = fetcher(certificate).fetch(site.url + "/moved/https")  # a redirect on https is followed
    assert moved.client_id == site.url + "/moved/https"  # the document it led to names the URL asked


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/wrong/other-id", "names another client_id"),
        ("/wrong/secret", "shared secret"),
        ("/wrong/no-redirects", "redirect_uris"),
        ("/wrong/big", "larger than 5120 bytes"),
        ("/not-json", "not JSON"),
        ("/moved/http", "not https"),
        ("/loop", "redirects more than 2 times"),
    ],
)
def test_a_wrong_document_is_refused_with_its_reason(site, certificate, path, reason):
    with pytest.raises(ClientDocumentError, match=reason):
        fetcher(certificate).fetch(site.url + path)


@pytest.mark.slow  # waits out the fetch's time limit
def test_a_document_that_takes_too_long_is_refused(site, certificate):
    with pytest.raises(ClientDocumentError, match="longer than 5 s|could not be fetched"):
        fetcher(certificate).fetch(site.url + "/slow")


@pytest.mark.parametrize(
    ("client_id", "reason"),
    [
        ("http://localhost/client.json", "must be https"),
        ("https://localhost", "must have a path"),
        ("https://localhost/", "must have a path"),
        ("https://localhost/a/../client.json", "without . or .. segments"),
        ("https://user:pw@localhost/client.json", "user name or password"),
        ("https://localhost/client.json#x", "fragment"),
        ("https://localhost/" + "x" * 600, "at most 512 characters"),
    ],
)
def test_a_client_id_that_is_not_a_proper_url_is_refused_before_any_fetch(client_id, reason):
    assert reason in (client_documents.client_id_problem(client_id) or "")


def test_hosts_with_private_or_loopback_addresses_are_never_fetched(site, certificate):
    strict = DocumentFetcher(ca_file=certificate[0])  # nothing exempted, as in production
    for url in (site.url + "/client.json", site.url.replace("localhost", "127.0.0.1") + "/client.json"):
        with pytest.raises(ClientDocumentError, match="non-public address"):
            strict.fetch(url)
    fetches = site.fetches
    with pytest.raises(ClientDocumentError, match="non-public address"):
        strict.fetch("https://10.0.0.1/client.json")  # refused before connecting anywhere
    assert site.fetches == fetches


def test_an_unexempted_local_document_cannot_connect_a_client(cimd_server, site):
    """The server under test exempts "localhost" only: the same site by its address is refused."""
    by_address = site.url.replace("localhost", "127.0.0.1") + "/client.json"
    answer = httpx.get(authorize_url(cimd_server.url, by_address, pkce_pair()[1]))
    assert answer.status_code in (400, 401) and "client" in answer.text.lower()
