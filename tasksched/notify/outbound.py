"""The outbound address guard: every connection a tenant's config makes a worker open.

Webhooks and SMTP hosts come from tenants. Before a worker connects, the host is resolved
here and every address it resolves to is checked: loopback, private, link-local, multicast,
reserved, unspecified and shared (CGNAT) addresses are refused, and so are IPv6 forms that
carry such an IPv4 address inside (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64), unless
the operator allows private targets (``TASKSCHED_ALLOW_PRIVATE_TARGETS``) or lists the host
(``TASKSCHED_SMTP_ALLOWED_HOSTS`` for SMTP relays). The caller then connects to the address
that was checked, so a DNS answer that changes between the check and the connection (DNS
rebinding) cannot move it.

Refusals are :class:`OutboundRefused` (a non-retryable NotificationError) with a message that
names the host and the kind of address, never the reply of anything behind it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection

from tasksched.errors import NotificationError

__all__ = ["OutboundRefused", "check_address", "embedded_ipv4", "forbidden_reason", "resolve"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# NAT64: the well-known prefix (RFC 6052) and the local-use one (RFC 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)


class OutboundRefused(NotificationError):
    """Raised when a tenant's target resolves to an address this deployment does not allow."""

    def __init__(self, channel: str, message: str):
        super().__init__(channel, message, retryable=False)


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, Teredo, NAT64)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address (the server's is public by definition)
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    packed = ip.packed
    if packed[:12] == bytes(12) and int(ip) > 1:  # ::a.b.c.d (deprecated IPv4-compatible)
        return ipaddress.IPv4Address(packed[12:])
    return None


def _reason(ip: IPAddress) -> str | None:
    for attr, label in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_reserved", "reserved"),
        ("is_private", "private"),
    ):
        if getattr(ip, attr):
            return label
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "shared (carrier-grade NAT)"
    return None


def forbidden_reason(address: str) -> str | None:
    """Why a connection to ``address`` (an IP literal) is refused, or None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    inner = embedded_ipv4(ip)
    if inner is not None:
        # The connection ends at the IPv4 address inside (mapped, or through a 6to4, NAT64
        # or Teredo relay): that address is the one judged.
        why = _reason(inner) or (None if inner.is_global else "not globally routable")
        return f"{why} (an IPv4 address inside an IPv6 one)" if why else None
    why = _reason(ip)
    if why:
        return why
    return None if ip.is_global else "not globally routable"


def resolve(channel: str, host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in resolver order, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise NotificationError(channel, f"cannot resolve {host}: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise NotificationError(channel, f"{host} resolves to no address")
    return addresses


def check_address(
    channel: str,
    host: str,
    port: int,
    allow_private: bool = False,
    allowed_hosts: Collection[str] = (),
) -> str:
    """The address to connect to for ``host``; OutboundRefused when any address is not allowed.

    Every address is checked, not only the first: a name that resolves to one public and one
    private address is refused (the connection could go to either).
    """
    addresses = resolve(channel, host, port)
    if allow_private or host.lower().rstrip(".") in allowed_hosts:
        return addresses[0]
    for addr in addresses:
        why = forbidden_reason(addr)
        if why:
            raise OutboundRefused(
                channel,
                f"refusing {host}: it resolves to a {why} address; the operator may allow "
                "private targets (TASKSCHED_ALLOW_PRIVATE_TARGETS)",
            )
    return addresses[0]
