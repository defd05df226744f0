"""API key format: ``sb_<prefix>_<secret>`` for a tenant's keys, ``sbop_<prefix>_<secret>`` for
operators' keys (:mod:`tenants.operators`).

The prefix (12 hex chars) is stored in clear to find the row; the whole key is stored only as its
SHA-256. Keys carry 256 bits of randomness, so a fast hash is the right tool (a password KDF
protects low-entropy secrets and would only slow every request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["OPERATOR", "TENANT", "generate", "hash_key", "matches", "parse_prefix"]


TENANT = "sb"
OPERATOR = "sbop"


def generate(scheme: str = TENANT) -> tuple[str, str]:
    """A new key and its lookup prefix."""
    prefix = secrets.token_hex(6)
    return f"{scheme}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def parse_prefix(key: str, scheme: str = TENANT) -> str | None:
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != scheme or len(parts[1]) != 12:
        return None
    return parts[1]


def matches(key: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_key(key), stored_hash)
