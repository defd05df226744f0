"""Webhook ingress (request time): verify, store raw, queue reconciliation. Nothing is parsed here."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping

from kernel.db import Pool
from kernel.errors import ErrorKind, NotFound, SwitchboardError, Unauthenticated
from tenants import repository as tenants_repository
from tenants import service as tenants_service
from tenants.domain import Credential, WhatsAppSecrets
from tenants.vault import Vault
from webhooks import repository, signature

__all__ = ["MAX_BODY", "receive_whatsapp", "verify_subscription"]

security_log = logging.getLogger("switchboard.security")

# Meta sends notifications of up to about 3 MB.
MAX_BODY = 4 * 1024 * 1024
# Only these request headers are worth keeping with the raw body.
_KEPT_HEADERS = ("content-type", "user-agent", "x-hub-signature-256", "x-forwarded-for")


async def _resolve(pool: Pool, vault: Vault, channel_key: str) -> tuple[Credential, WhatsAppSecrets]:
    async with pool.acquire() as conn:
        found = await tenants_repository.find_credential_by_channel_key(conn, channel_key)
        if found is None or found[0].kind != "whatsapp":
            raise NotFound("unknown webhook URL")
        credential, sealed = found
        return credential, await tenants_service.whatsapp_secrets(conn, vault, credential, sealed)


async def verify_subscription(
    pool: Pool, vault: Vault, channel_key: str, mode: str | None, token: str | None, challenge: str | None
) -> str:
    """Meta's GET handshake: echo ``hub.challenge`` when the verify token matches."""
    _, secrets = await _resolve(pool, vault, channel_key)
    if (
        mode != "subscribe"
        or token is None
        or challenge is None
        or not hmac.compare_digest(token, secrets.verify_token)
    ):
        raise SwitchboardError("verify token does not match", kind=ErrorKind.PERMISSION_DENIED)
    return challenge


async def receive_whatsapp(pool: Pool, vault: Vault, channel_key: str, body: bytes, headers: Mapping[str, str]) -> int:
    """Store a signed notification; returns the raw event id. Bad signature: nothing is stored."""
    credential, secrets = await _resolve(pool, vault, channel_key)
    if not signature.verify(secrets.app_secret, body, headers.get("x-hub-signature-256")):
        security_log.warning(
            "webhook signature rejected",
            extra={"fields": {"tenant_id": str(credential.tenant_id), "credential_id": str(credential.id)}},
        )
        raise Unauthenticated("signature does not verify", reason="BAD_SIGNATURE")
    return await repository.insert_raw_event(
        pool,
        tenant_id=credential.tenant_id,
        credential_id=credential.id,
        provider="whatsapp",
        headers={k: headers[k] for k in _KEPT_HEADERS if k in headers},
        body=body,
        body_sha256=hashlib.sha256(body).digest(),
    )
