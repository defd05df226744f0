"""Standard Webhooks v1 (https://www.standardwebhooks.com): symmetric signatures.

Headers ``webhook-id`` (the idempotency key, the same on every retry), ``webhook-timestamp`` (unix
seconds) and ``webhook-signature``: a space-separated list of ``v1,<base64 HMAC-SHA256>`` over
``{id}.{timestamp}.{body}``, keyed by the secret ``whsec_<base64>``. A list, so that a secret can
rotate without downtime: the sender signs with the old and the new secret for a while.

Used to sign what we send (partner webhooks) and to verify what providers send us this way.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Mapping, Sequence

__all__ = ["TOLERANCE_SECONDS", "VerificationError", "check_secret", "headers", "new_secret", "sign", "verify"]

PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60  # the spec's recommendation: older (or newer) is a replay or a bad clock


class VerificationError(Exception):
    """Why a delivery was refused: missing, malformed, timestamp, mismatch (never a secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_secret() -> str:
    return PREFIX + base64.b64encode(os.urandom(32)).decode()


def check_secret(secret: str) -> None:
    """Raises ``ValueError`` (saying why, never what) unless ``secret`` is usable."""
    _key(secret)


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def headers(secrets: Sequence[str], msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The three headers of one delivery, signed with every given secret (rotation)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": " ".join(sign(s, msg_id, stamp, body) for s in secrets),
    }


def verify(secret: str, body: bytes, received: Mapping[str, str], now: float | None = None) -> str:
    """Check a delivery over its exact bytes; returns its ``webhook-id``. Raises
    :class:`VerificationError`. Header names are matched case-insensitively."""
    lowered = {k.lower(): v for k, v in received.items()}
    msg_id, stamp, signatures = (lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not msg_id or not stamp or not signatures:
        raise VerificationError("missing")
    if not stamp.isdigit():
        raise VerificationError("malformed")
    if abs((time.time() if now is None else now) - int(stamp)) > TOLERANCE_SECONDS:
        raise VerificationError("timestamp")
    expected = sign(secret, msg_id, int(stamp), body).encode()
    # Compare every candidate, so the time taken says nothing about which one matched.
    matched = False
    for candidate in signatures.split(" "):
        matched |= hmac.compare_digest(expected, candidate.encode())
    if not matched:
        raise VerificationError("mismatch")
    return msg_id
