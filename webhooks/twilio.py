"""Twilio's status callbacks: ``application/x-www-form-urlencoded`` bodies signed with
``X-Twilio-Signature``.

The signature is base64(HMAC-SHA1(auth token, URL + each parameter name followed by its value,
names sorted, a repeated name's values sorted)). The URL is the one Twilio requested, so behind a
proxy it is the public URL (``SWITCHBOARD_PUBLIC_URL``), not the one this process sees; Twilio is
inconsistent about the default port, so the URL is checked with and without it, as Twilio's own
validator does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

__all__ = ["STATUSES", "form", "sign", "verify"]

# Twilio MessageStatus → our status; the rest (queued, accepted, sending, scheduled, receiving,
# received, canceled) say nothing about delivery.
STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "undelivered": "failed", "failed": "failed"}


def form(body: bytes) -> dict[str, list[str]]:
    """The callback's parameters. Raises ``ValueError`` when the body is not a form."""
    text = body.decode("utf-8")  # UnicodeDecodeError is a ValueError
    return parse_qs(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=1000)


def sign(auth_token: str, url: str, params: Mapping[str, Sequence[str]]) -> str:
    signed = url + "".join(name + value for name in sorted(params) for value in sorted(set(params[name])))
    return base64.b64encode(hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


def _port_variants(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    port = parts.port or default
    without = urlunsplit((parts.scheme, host if port == default else f"{host}:{port}", *parts[2:]))
    with_port = urlunsplit((parts.scheme, f"{host}:{port}" if port else host, *parts[2:]))
    return without, with_port


def verify(auth_token: str, url: str, params: Mapping[str, Sequence[str]], header: str | None) -> bool:
    if not header:
        return False
    return any(
        hmac.compare_digest(sign(auth_token, candidate, params).encode(), header.encode())
        for candidate in _port_variants(url)
    )
