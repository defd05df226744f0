"""Meta's ``X-Hub-Signature-256``: HMAC-SHA256 of the raw body with the app secret, ``sha256=`` + hex.

Strict on form: Meta sends lowercase hex after a ``sha256=`` prefix, so an ``sha1=`` prefix, upper
case hex, a truncated digest or extra characters are refused outright rather than normalised.
"""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = ["problem", "sign", "verify"]

PREFIX = "sha256="
_FORM = re.compile(r"sha256=[0-9a-f]{64}")


def sign(app_secret: str, body: bytes) -> str:
    return PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify(app_secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check over the exact bytes received (never re-serialised JSON)."""
    if header is None or not _FORM.fullmatch(header):
        return False
    return hmac.compare_digest(sign(app_secret, body).encode(), header.encode())


def problem(header: str | None) -> str:
    """Why a header failed, for the security log (never the header's value)."""
    if header is None:
        return "missing"
    if not _FORM.fullmatch(header):
        return "malformed"
    return "mismatch"
