"""Meta's ``X-Hub-Signature-256``: HMAC-SHA256 of the raw body with the app secret, hex, ``sha256=``."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["sign", "verify"]

PREFIX = "sha256="


def sign(app_secret: str, body: bytes) -> str:
    return PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify(app_secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check over the exact bytes received (never re-serialised JSON)."""
    if not header or not header.startswith(PREFIX):
        return False
    return hmac.compare_digest(sign(app_secret, body), header)
