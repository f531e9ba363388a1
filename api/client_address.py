"""The address a request came from, for log-in throttling.

The direct peer (the ASGI scope's client) unless it is one of
LOYALTY_TRUSTED_PROXIES: then X-Forwarded-For is read from the right, each
proxy having appended the address it received the request from, and the
first address that is not a trusted proxy is the client. Anything left of
it was written by the client itself and proves nothing. Uvicorn's own
rewriting of the peer from the same header is turned off (`loyalty serve`),
so that this is the one place that decides whom to believe.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in trusted)


def _parse(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: Address, networks: Iterable[Network]) -> bool:
    return any(ip.version == n.version and ip in n for n in networks)


def client_address(scope: dict[str, Any], trusted: tuple[str, ...]) -> str | None:
    client = scope.get("client")
    peer = client[0] if client else None
    if peer is None or not trusted:
        return peer
    networks = _networks(trusted)
    current = _parse(peer)
    if current is None or not _trusted(current, networks):
        return peer
    hops = [hop for name, value in scope.get("headers", [])
            if name == b"x-forwarded-for"
            for hop in value.decode("latin-1").split(",")]
    for hop in reversed(hops):
        parsed = _parse(hop)
        if parsed is None:
            break  # garbage: the last proxy believed is as far as anyone knows
        current = parsed
        if not _trusted(current, networks):
            break
    return str(current)
