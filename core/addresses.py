"""Network addresses as MemoryGate judges them: which names always mean this
machine (loopback), how proxies write an address, and which proxies are
trusted (TRUSTED_PROXIES). Pure functions; ``web.client_address`` applies
them to requests."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str | None) -> bool:
    """Whether a host name or address literal (no port, no brackets, as
    ``urlsplit(...).hostname`` or an ASGI client gives it) is this machine."""
    return (host or "").lower() in LOOPBACK_NAMES


def is_loopback_origin(origin: str) -> bool:
    """An http(s) origin (``scheme://host[:port]``) on this machine."""
    scheme, separator, authority = origin.lower().partition("://")
    return bool(separator) and scheme in ("http", "https") and is_loopback_authority(authority.rstrip("/"))


def is_loopback_authority(authority: str) -> bool:
    """The same for ``host[:port]`` as in a Host header (``[::1]:8080`` too);
    False for anything unparsable, since the header is the client's to write."""
    try:
        return is_loopback(urlsplit("//" + authority).hostname)
    except ValueError:
        return False


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
