"""Where partner webhooks may go: https URLs whose host resolves only to public addresses.

Checked when an endpoint is registered and again before every attempt, because a name that
resolved to a public address yesterday may resolve to 127.0.0.1 or a cloud metadata address today.
An attempt then connects to the very address that was checked (:func:`pinned`): a name that
answers a public address to the check and a private one a moment later (DNS rebinding) cannot
move the request; TLS still verifies the certificate against the name. Redirects are never
followed (the sender does not follow them), so a public URL cannot bounce a request inside.
Development may allow http:// and private addresses (``SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE``), for a
receiver on loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["MAX_URL", "Target", "UnsafeUrl", "check_url", "check_url_shape", "pinned"]

MAX_URL = 2000


class UnsafeUrl(Exception):
    """Why an endpoint URL may not be called (safe to show the tenant)."""


def check_url_shape(url: str, *, allow_private: bool) -> str:
    """The URL's host, if its shape is acceptable (no lookup)."""
    if len(url) > MAX_URL:
        raise UnsafeUrl(f"at most {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise UnsafeUrl("must be an https:// URL")
    if not parts.hostname:
        raise UnsafeUrl("has no host")
    if parts.username or parts.password:
        raise UnsafeUrl("must not carry credentials")
    return parts.hostname


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_url(url: str, *, allow_private: bool) -> None:
    await _public_addresses(url, allow_private=allow_private)


@dataclass(frozen=True, slots=True)
class Target:
    """How to send a request for a checked URL: to ``url``, with these headers and httpx request
    extensions added."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


async def pinned(url: str, *, allow_private: bool) -> Target:
    """:func:`check_url`, then the URL with its host name replaced by the first address it was
    checked to resolve to; the ``Host`` header and TLS's server name (SNI, and the name the
    certificate is verified against) stay the name."""
    addresses = await _public_addresses(url, allow_private=allow_private)
    parts = urlsplit(url)
    host = parts.hostname
    if not addresses or host is None or host in addresses:
        return Target(url)  # development, or the URL names an address already
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    return Target(
        urlunsplit(parts._replace(netloc=netloc)),
        headers={"host": parts.netloc},
        extensions={"sni_hostname": host},
    )


async def _public_addresses(url: str, *, allow_private: bool) -> list[str]:
    """The addresses the URL's host resolves to, all public; none looked up when private ones are
    allowed."""
    host = check_url_shape(url, allow_private=allow_private)
    if allow_private:
        return []
    port = urlsplit(url).port or 443
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeUrl(f"host {host} does not resolve ({error})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses or not all(_public(a) for a in addresses):
        raise UnsafeUrl(f"host {host} resolves to a private or reserved address")
    return addresses
