"""Webhook ingress (request time): verify, store raw, answer. Nothing is parsed here.

The order of work is fixed: resolve the URL's tenant, verify the signature (over the exact bytes
received for Meta and for mail providers' Standard Webhooks; over the URL and form parameters for
Twilio, which signs those), store the bytes
with an outbox row that queues reconciliation, and only then answer 200. Reconciliation runs later
in a worker (:mod:`webhooks.reconcile`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping

from kernel import standard_webhooks
from kernel.errors import ErrorKind, SwitchboardError, Unauthenticated
from kernel.metrics import Counters
from webhooks import signature, twilio
from webhooks.endpoints import Endpoint, Endpoints
from webhooks.raw_log import RawEvent, RawLog

__all__ = ["MAX_BODY", "Ingestor"]

security_log = logging.getLogger("switchboard.security")

# Meta sends notifications of up to about 3 MB; anything larger is refused (413) from its
# Content-Length, before the body is read.
MAX_BODY = 4 * 1024 * 1024
# Only these request headers are worth keeping with the raw body.
_KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-hub-signature-256",
    "x-twilio-signature",
    "x-forwarded-for",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
)

Check = Callable[[Endpoint], tuple[bool, str]]  # (verified, why not)


class Ingestor:
    """One per process: the endpoint cache and the raw log it writes to."""

    def __init__(self, endpoints: Endpoints, raw_log: RawLog, counters: Counters, public_url: str | None) -> None:
        self._endpoints = endpoints
        self._raw_log = raw_log
        self._counters = counters
        self._public_url = public_url

    async def verify_subscription(
        self, channel_key: str, mode: str | None, token: str | None, challenge: str | None
    ) -> str:
        """Meta's GET handshake: echo ``hub.challenge`` when the verify token matches."""
        endpoint = await self._endpoints.get(channel_key, "whatsapp", refresh=True)
        if (
            mode != "subscribe"
            or token is None
            or challenge is None
            or not hmac.compare_digest(token.encode(), endpoint.secrets["verify_token"].encode())
        ):
            raise SwitchboardError("verify token does not match", kind=ErrorKind.PERMISSION_DENIED)
        return challenge

    async def receive_whatsapp(self, channel_key: str, body: bytes, headers: Mapping[str, str]) -> int:
        """Store a signed Meta notification; returns the raw event id. Bad signature: nothing is stored."""
        header = headers.get("x-hub-signature-256")

        def check(endpoint: Endpoint) -> tuple[bool, str]:
            verified = signature.verify(endpoint.secrets["app_secret"], body, header)
            return verified, "" if verified else signature.problem(header)

        return await self._receive("whatsapp", "whatsapp", channel_key, body, headers, check)

    async def receive_twilio(self, channel_key: str, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """Store a signed Twilio status callback. ``url`` is the request's URL as this process saw
        it; behind a proxy the configured public URL replaces its scheme and host."""
        header = headers.get("x-twilio-signature")
        if self._public_url:
            path = url.split("/webhooks/", 1)[1]
            url = f"{self._public_url}/webhooks/{path}"
        try:
            params = twilio.form(body)
        except ValueError:
            params = None

        def check(endpoint: Endpoint) -> tuple[bool, str]:
            if params is None:
                return False, "malformed"
            verified = twilio.verify(endpoint.secrets["auth_token"], url, params, header)
            return verified, "" if verified else ("missing" if not header else "mismatch")

        query = url.partition("?")[2]
        return await self._receive("twilio", "sms", channel_key, body, headers, check, query)

    async def receive_email(self, channel_key: str, body: bytes, headers: Mapping[str, str]) -> int:
        """Store a mail provider's delivery, bounce or complaint event (Standard Webhooks signed
        with the credential's ``webhook_secret``; a credential without one takes no events)."""

        def check(endpoint: Endpoint) -> tuple[bool, str]:
            secret = endpoint.secrets.get("webhook_secret")
            if secret is None:
                return False, "no_webhook_secret"
            try:
                standard_webhooks.verify(secret, body, headers)
            except standard_webhooks.VerificationError as error:
                return False, error.reason
            return True, ""

        return await self._receive("email", "email", channel_key, body, headers, check)

    async def _receive(
        self,
        provider: str,
        kind: str,
        channel_key: str,
        body: bytes,
        headers: Mapping[str, str],
        check: Check,
        query: str = "",
    ) -> int:
        endpoint = await self._endpoints.get(channel_key, kind)
        verified, problem = check(endpoint)
        if not verified and not endpoint.fresh:
            # The secret may have been rotated since this process cached it.
            endpoint = await self._endpoints.get(channel_key, kind, refresh=True)
            verified, problem = check(endpoint)
        if not verified:
            await self._refuse(endpoint, provider, problem, len(body))
        return await self._raw_log.store(
            RawEvent(
                tenant_id=endpoint.tenant_id,
                credential_id=endpoint.credential_id,
                provider=provider,
                headers={k: headers[k] for k in _KEPT_HEADERS if k in headers},
                body=body,
                body_sha256=hashlib.sha256(body).digest(),
                query=query,
            )
        )

    async def _refuse(self, endpoint: Endpoint, provider: str, reason: str, size: int) -> None:
        tenant = str(endpoint.tenant_id)
        # Never the body or the header's value: only who was targeted and why it failed.
        security_log.warning(
            "webhook signature rejected",
            extra={
                "fields": {
                    "tenant_id": tenant,
                    "credential_id": str(endpoint.credential_id),
                    "provider": provider,
                    "reason": reason,
                    "body_bytes": size,
                }
            },
        )
        await self._counters.incr("webhook_signature_failures_total", tenant_id=tenant, provider=provider)
        raise Unauthenticated("signature does not verify", reason="BAD_SIGNATURE")
