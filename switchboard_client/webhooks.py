"""Checking a Switchboard webhook on the receiving side (Standard Webhooks v1).

    message_id = verify_webhook(secret, request.headers, await request.body())

Pass the body's exact bytes, before any JSON parsing. Raises :class:`VerificationError` (its
``reason``: missing, malformed, timestamp, mismatch) unless one of the ``webhook-signature``
entries is ours, for a timestamp within five minutes; returns the ``webhook-id``, the same on
every retry of one event, to deduplicate deliveries.
"""

from __future__ import annotations

from collections.abc import Mapping

from kernel.standard_webhooks import TOLERANCE_SECONDS, VerificationError, verify

__all__ = ["TOLERANCE_SECONDS", "VerificationError", "verify_webhook"]


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None) -> str:
    return verify(secret, body, headers, now=now)
