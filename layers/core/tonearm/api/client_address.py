"""Who sent a request, as an address: the connection's peer, or what a trusted proxy says it forwarded.

``X-Forwarded-For`` is written by whoever sends the request, so it names the client only when the peer is
a proxy the deployment put there (``Settings.trusted_proxies``). Then the header is read from the right,
past the trusted proxies' own entries: the first address a trusted proxy did not add is the client (the
entries left of it are the client's own claims). Behind API Gateway no proxy is configured: Mangum makes
the request context's ``sourceIp`` the peer, and API Gateway sets that itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TrustedProxies:
    """The networks whose ``X-Forwarded-For`` is believed (none by default)."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, setting: str) -> TrustedProxies:
        """``"10.0.0.0/8, 192.0.2.7"`` (``Settings.trusted_proxies``); a bad entry is a ``ValueError``
        at start-up, not a proxy silently left untrusted."""
        entries = [part.strip() for part in setting.split(",") if part.strip()]
        return cls(tuple(ipaddress.ip_network(entry, strict=False) for entry in entries))

    def trusts(self, address: str) -> bool:
        """Whether ``address`` is one of the trusted proxies (never true of a non-address)."""
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self.networks)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _forwarded_for(values: Iterable[str]) -> list[str]:
    """Every address of every ``X-Forwarded-For`` header, in order (proxies append on the right)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def client_address(request: Request, trusted: TrustedProxies) -> str:
    """The client's address; ``"unknown"`` when the server was not told the peer."""
    peer = request.client.host if request.client else "unknown"
    if not trusted.networks or not trusted.trusts(peer):
        return peer
    client = peer
    for entry in reversed(_forwarded_for(request.headers.getlist("x-forwarded-for"))):
        if _ip(entry) is None:
            break  # garbage the proxy passed on: the last proxy-vouched address stands
        client = entry
        if not trusted.trusts(entry):
            break
    return client
