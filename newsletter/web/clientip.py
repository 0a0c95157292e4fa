"""Who is asking: the client's address behind trusted proxies only, and its rate-limit key.

``X-Forwarded-For`` is just a header: anyone can send one. It is believed only when the
connection comes from an address in ``NEWSLETTER_TRUSTED_PROXIES``; then the client is
the right-most address in it that is not itself a trusted proxy (everything left of
that was written by the client and proves nothing). ``X-Forwarded-Proto`` from a
trusted proxy tells whether the reader used https.

Rate limits count per IPv4 address but per IPv6 /64: one subscriber line gets a whole
/64, so counting single IPv6 addresses would give an attacker billions of budgets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from newsletter.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPV6_PREFIX = 64


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"127.0.0.1, 10.0.0.0/8, ::1"`` as networks; ``ConfigError`` naming a bad entry."""
    found = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            found.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(
                f"NEWSLETTER_TRUSTED_PROXIES: {item!r} is not an IP address or network"
            ) from None
    return tuple(found)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        found = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def _trusted(text: str, networks: Sequence[Network]) -> bool:
    found = _address(text)
    return found is not None and any(found in net for net in networks)


def forwarded_client(peer: str, forwarded_for: str, networks: Sequence[Network]) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy that says otherwise."""
    if not networks or not _trusted(peer, networks):
        return peer
    client = peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if _address(hop) is None:
            break  # garbage from the client's side: keep the last address we can vouch for
        client = hop.strip("[]")
        if not _trusted(hop, networks):
            break
    return client


def rate_key(ip: str) -> str:
    """What a per-address rate limit counts: the IPv4 address, or the IPv6 /64."""
    found = _address(ip)
    if isinstance(found, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((found, IPV6_PREFIX), strict=False))
    return str(found) if found is not None else ip


class ClientAddress:
    """ASGI middleware: sets the client address and scheme from a trusted proxy's headers."""

    def __init__(self, app: ASGIApp, trusted_proxies: str) -> None:
        self.app = app
        self.networks = parse_networks(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.networks:
            client = scope.get("client")
            peer = client[0] if client else ""
            if _trusted(peer, self.networks):
                headers = Headers(scope=scope)
                host = forwarded_client(peer, headers.get("x-forwarded-for", ""), self.networks)
                proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
                scope = dict(scope)
                scope["client"] = (host, client[1] if client else 0)
                if proto in ("http", "https"):
                    websocket = scope["type"] == "websocket"
                    scope["scheme"] = proto.replace("http", "ws") if websocket else proto
        await self.app(scope, receive, send)
