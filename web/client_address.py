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

import ipaddress
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> IPAddress | None:
    """An address as proxies write it: bare, ``[v6]:port`` or ``v4:port``."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class TrustedProxies:
    trust_all: bool
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, spec: str) -> TrustedProxies:
        """``*``, or comma-separated addresses and networks (CIDR)."""
        entries = [entry.strip() for entry in spec.split(",") if entry.strip()]
        if "*" in entries:
            return cls(trust_all=True, networks=())
        try:
            return cls(trust_all=False, networks=tuple(ipaddress.ip_network(e, strict=False) for e in entries))
        except ValueError as exc:
            raise ValueError(f"TRUSTED_PROXIES: {exc}") from None

    def trusts(self, address: IPAddress | None) -> bool:
        if address is None:
            return False
        return self.trust_all or any(address in network for network in self.networks)


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
