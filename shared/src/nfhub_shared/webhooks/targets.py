"""Where a webhook may point: the SSRF guard.

A target is refused if its host is, or resolves to, an address that is not on the public
internet: loopback, private (RFC 1918, fc00::/7), link-local (incl. cloud metadata at
169.254.169.254), carrier-grade NAT (100.64.0.0/10), multicast, unspecified, reserved or
documentation ranges, IPv4 and IPv6 alike, and IPv6 forms that embed an IPv4 address
(IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16). A setting allows them (a
lab whose LIMS is on its own network; the tests' receiver on 127.0.0.1).

At create and update only what the URL itself says is checked (scheme, an address literal,
``localhost``): a name is resolved when delivering, and every address it resolves to is
checked then, and the connection made to the address that was checked (a name that changes
between the check and the connection, DNS rebinding, does not get through).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
LOCAL_NAMES = ("localhost", "localhost.localdomain")


class TargetRefused(ValueError):
    """The URL names a place webhooks may not go; the message says why."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in SIX_TO_FOUR:
        return address.sixtofour
    return None


def refusal(address: IPAddress) -> str | None:
    """Why webhooks may not go to ``address`` (None: a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = refusal(embedded)
            return f"{reason} (inside the IPv6 address {address})" if reason else None
    if address.is_unspecified:
        return f"{address} is the unspecified address"
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in CGNAT:
        return f"{address} is a carrier-grade NAT address (100.64.0.0/10)"
    if address.is_private:
        return f"{address} is a private address"
    if address.is_reserved or not address.is_global:
        return f"{address} is a reserved address"
    return None


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # without brackets
    port: int


def parse_target(url: str) -> Target:
    """The scheme, host and port of a webhook URL, or TargetRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise TargetRefused("a webhook URL starts with https:// (or http://)")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise TargetRefused("a webhook URL names a host")
    return Target(scheme, host, port or (443 if scheme == "https" else 80))


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_url(url: str, *, allow_private: bool) -> Target:
    """What can be said of a URL without resolving it: TargetRefused if it names a place
    webhooks may not go."""
    target = parse_target(url)
    if allow_private:
        return target
    if target.host in LOCAL_NAMES or target.host.endswith(".localhost"):
        raise TargetRefused(f"{target.host} is this machine (loopback)")
    literal = _literal(target.host)
    if literal is not None:
        reason = refusal(literal)
        if reason:
            raise TargetRefused(
                f"{reason}; webhooks go to public addresses unless the server allows "
                "private targets"
            )
    return target


async def resolve(target: Target, *, allow_private: bool) -> IPAddress:
    """The address to connect to: every address the host resolves to must be allowed."""
    literal = _literal(target.host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError, ValueError) as exc:  # UnicodeError: not an IDNA name
            reason = getattr(exc, "strerror", None) or exc
            raise TargetRefused(f"cannot resolve {target.host}: {reason}") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise TargetRefused(f"{target.host} resolves to no address")
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason:
                raise TargetRefused(f"{target.host} resolves to {reason}")
    return addresses[0]
