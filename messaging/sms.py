"""SMS through Twilio's Messages resource (``POST /2010-04-01/Accounts/{sid}/Messages.json``).

The base URL is ``SWITCHBOARD_TWILIO_URL`` (Twilio's own in production, the sandbox in development
and tests): the same code talks to both. Every outcome comes back as a
:class:`~messaging.outcomes.SendResult`, classified by Twilio's error table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from kernel.worker import Resources
from messaging import classification
from messaging.outcomes import Outcome, SendResult, failure, transport_failure
from messaging.sms_text import encode_info

__all__ = ["SmsClient", "SmsSecrets", "SmsSender"]


@dataclass(frozen=True, slots=True)
class SmsSecrets:
    account_sid: str
    auth_token: str

    def __repr__(self) -> str:  # secrets never reach logs or tracebacks through repr
        return f"SmsSecrets({self.account_sid}, <redacted>)"


class SmsClient:
    def __init__(self, base_url: str, timeout: float) -> None:
        self._base = base_url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout))

    async def send(
        self,
        secrets: SmsSecrets,
        *,
        to: str,
        body: str,
        from_number: str | None,
        messaging_service_sid: str | None,
        status_callback: str | None,
    ) -> SendResult:
        form = {"To": to, "Body": body}
        if messaging_service_sid:
            form["MessagingServiceSid"] = messaging_service_sid
        elif from_number:
            form["From"] = from_number
        if status_callback:
            form["StatusCallback"] = status_callback
        url = f"{self._base}/2010-04-01/Accounts/{secrets.account_sid}/Messages.json"
        started = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            response = await self._http.post(url, data=form, auth=(secrets.account_sid, secrets.auth_token))
        except httpx.HTTPError as error:
            return transport_failure(error, elapsed())
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if response.status_code in (200, 201) and payload.get("sid"):
            return SendResult(
                Outcome.ACCEPTED,
                provider_id=str(payload["sid"]),
                http_status=response.status_code,
                latency_ms=elapsed(),
            )
        code = payload.get("code") if isinstance(payload.get("code"), int) else None
        return failure(
            classification.twilio(code, response.status_code),
            http_status=response.status_code,
            error_code=code,
            detail=str(payload.get("message") or response.reason_phrase),
            latency_ms=elapsed(),
        )

    async def aclose(self) -> None:
        await self._http.aclose()


class SmsSender:
    """The SMS channel for :mod:`messaging.channel_delivery`: the message's fallback text, from the
    tenant's default SMS credential, with Twilio's status callbacks sent to our ingress."""

    channel = "sms"

    async def send(
        self, res: Resources, claim: asyncpg.Record, secrets: dict[str, str]
    ) -> tuple[SendResult, dict[str, Any]]:
        settings = res.settings
        client: SmsClient = res.extra("sms", lambda: SmsClient(settings.twilio_url, settings.provider_timeout_seconds))
        config = claim["credential_config"]
        text = claim["content"]["fallback"]["sms"]["text"]
        info = encode_info(text)
        callback = None
        if claim["channel_key"]:
            base = settings.public_url or f"http://127.0.0.1:{settings.http_port}"
            # Our id in the URL: the callback then finds the SMS even if this worker dies before
            # it learns the SID (Twilio has no idempotency key; the hold period waits for this).
            callback = f"{base.rstrip('/')}/webhooks/twilio/{claim['channel_key']}?message_id={claim['id']}"
        result = await client.send(
            SmsSecrets(config["account_sid"], secrets["auth_token"]),
            to=claim["recipient"],
            body=text,
            from_number=config.get("from_number"),
            messaging_service_sid=config.get("messaging_service_sid"),
            status_callback=callback,
        )
        return result, {"encoding": info.encoding, "segments": info.segments}
