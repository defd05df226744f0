"""Webhook ingress (request time): verify, store raw, answer. Nothing is parsed here.

The order of work is fixed: resolve the URL's tenant, verify the signature over the exact bytes
received, store the bytes (with an outbox row that queues reconciliation), and only then answer
200. Reconciliation runs later in a worker (:mod:`webhooks.reconcile`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping

from kernel.errors import ErrorKind, SwitchboardError, Unauthenticated
from kernel.metrics import Counters
from webhooks import signature
from webhooks.endpoints import Endpoints
from webhooks.raw_log import RawEvent, RawLog

__all__ = ["MAX_BODY", "Ingestor"]

security_log = logging.getLogger("switchboard.security")

# Meta sends notifications of up to about 3 MB; anything larger is refused (413) from its
# Content-Length, before the body is read.
MAX_BODY = 4 * 1024 * 1024
# Only these request headers are worth keeping with the raw body.
_KEPT_HEADERS = ("content-type", "user-agent", "x-hub-signature-256", "x-forwarded-for")


class Ingestor:
    """One per process: the endpoint cache and the raw log it writes to."""

    def __init__(self, endpoints: Endpoints, raw_log: RawLog, counters: Counters) -> None:
        self._endpoints = endpoints
        self._raw_log = raw_log
        self._counters = counters

    async def verify_subscription(
        self, channel_key: str, mode: str | None, token: str | None, challenge: str | None
    ) -> str:
        """Meta's GET handshake: echo ``hub.challenge`` when the verify token matches."""
        endpoint = await self._endpoints.get(channel_key, refresh=True)
        if (
            mode != "subscribe"
            or token is None
            or challenge is None
            or not hmac.compare_digest(token.encode(), endpoint.secrets.verify_token.encode())
        ):
            raise SwitchboardError("verify token does not match", kind=ErrorKind.PERMISSION_DENIED)
        return challenge

    async def receive_whatsapp(self, channel_key: str, body: bytes, headers: Mapping[str, str]) -> int:
        """Store a signed notification; returns the raw event id. Bad signature: nothing is stored."""
        endpoint = await self._endpoints.get(channel_key)
        header = headers.get("x-hub-signature-256")
        verified = signature.verify(endpoint.secrets.app_secret, body, header)
        if not verified and not endpoint.fresh:
            # The app secret may have been rotated since this process cached it.
            endpoint = await self._endpoints.get(channel_key, refresh=True)
            verified = signature.verify(endpoint.secrets.app_secret, body, header)
        if not verified:
            tenant = str(endpoint.tenant_id)
            # Never the body or the header's value: only who was targeted and why it failed.
            security_log.warning(
                "webhook signature rejected",
                extra={
                    "fields": {
                        "tenant_id": tenant,
                        "credential_id": str(endpoint.credential_id),
                        "provider": "whatsapp",
                        "reason": signature.problem(header),
                        "body_bytes": len(body),
                    }
                },
            )
            await self._counters.incr("webhook_signature_failures_total", tenant_id=tenant, provider="whatsapp")
            raise Unauthenticated("signature does not verify", reason="BAD_SIGNATURE")
        return await self._raw_log.store(
            RawEvent(
                tenant_id=endpoint.tenant_id,
                credential_id=endpoint.credential_id,
                provider="whatsapp",
                headers={k: headers[k] for k in _KEPT_HEADERS if k in headers},
                body=body,
                body_sha256=hashlib.sha256(body).digest(),
            )
        )
