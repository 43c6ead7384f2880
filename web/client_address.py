"""Which address a request came from, when it arrives through a proxy.

Rate limits and the audit trail key on the client address, so a client must
not be able to choose it. Forwarding headers are believed only when the
connection itself comes from a trusted proxy (TRUSTED_PROXIES), and then:

* with CLIENT_IP_HEADER set (Fly: ``Fly-Client-IP``), only that header,
  which the proxy writes itself, names the client. X-Forwarded-For is
  ignored: proxies such as Fly's append to whatever the client sent, so its
  leftmost entry is the client's own choice.
* otherwise X-Forwarded-For is read from the right, skipping trusted
  proxies; the first address that is not one is the client.

``ForwardedClient`` rewrites the ASGI scope's ``client`` before anything
else sees the request. (Nothing here reads the request's scheme: every URL
MemoryGate hands out is built from OAUTH_REDIRECT_BASE.)
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from core.addresses import IPAddress, TrustedProxies, parse_address


class ForwardedClient:
    def __init__(self, app: ASGIApp, *, trusted: TrustedProxies, client_header: str = "") -> None:
        self.app = app
        self.trusted = trusted
        self.client_header = client_header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if scope["type"] in ("http", "websocket") and peer and self.trusted.trusts(parse_address(peer[0])):
            client = self._client(scope["headers"])
            if client is not None:
                scope["client"] = (str(client), 0)
        await self.app(scope, receive, send)

    def _client(self, headers: list[tuple[bytes, bytes]]) -> IPAddress | None:
        if self.client_header:
            values = [value for name, value in headers if name == self.client_header]
            # Exactly one, written by the proxy; anything else is not believed.
            return parse_address(values[0].decode("latin-1")) if len(values) == 1 else None
        hops = [
            hop for name, value in headers if name == b"x-forwarded-for" for hop in value.decode("latin-1").split(",")
        ]
        addresses = [parse_address(hop) for hop in hops]
        for address in reversed(addresses):
            if address is None:
                return None  # a garbled chain names nobody reliably
            if not self.trusted.trusts(address):
                return address
        return addresses[0] if addresses else None
