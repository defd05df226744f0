"""Test a provider credential without sending anything: the cheapest authenticated call each
provider offers (Meta: the account's templates, one; Twilio: the account resource; SMTP: connect,
TLS, log in, NOOP). The answer says what the provider said; secrets never appear in it."""

from __future__ import annotations

import base64
from typing import Annotated
from uuid import UUID

import aiosmtplib
import httpx
import msgspec
from msgspec import Meta

from kernel.db import Connection
from kernel.errors import NotFound
from tenants import repository
from tenants.vault import Vault

__all__ = ["ConnectionCheck", "check_credential"]

TIMEOUT = 10.0


class ConnectionCheck(msgspec.Struct):
    ok: Annotated[bool, Meta(description="Whether the provider accepted the credential.")]
    detail: Annotated[str, Meta(description="What was tried and what the provider answered (never a secret).")]


def _provider_said(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):  # Meta: {"error": {"message", "code"}}
        return f"HTTP {response.status_code}: {error.get('message', '')} (code {error.get('code')})"
    if isinstance(body, dict) and "message" in body:  # Twilio: {"code", "message"}
        return f"HTTP {response.status_code}: {body['message']} (code {body.get('code')})"
    return f"HTTP {response.status_code}"


async def _http_check(request: httpx.Request) -> ConnectionCheck:
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            response = await http.send(request)
    except httpx.HTTPError as error:
        return ConnectionCheck(False, f"could not reach the provider ({type(error).__name__})")
    if response.is_success:
        return ConnectionCheck(True, "the provider accepted this credential")
    return ConnectionCheck(False, _provider_said(response))


async def _smtp_check(config: dict[str, object], secrets: dict[str, str]) -> ConnectionCheck:
    tls = config.get("tls")
    smtp = aiosmtplib.SMTP(
        hostname=str(config["host"]),
        port=int(str(config["port"])),
        use_tls=tls == "implicit",
        start_tls=tls == "starttls",
        timeout=TIMEOUT,
    )
    try:
        await smtp.connect()
        if config.get("username"):
            await smtp.login(str(config["username"]), secrets.get("password", ""))
        await smtp.noop()
        await smtp.quit()
    except aiosmtplib.SMTPAuthenticationError as error:
        return ConnectionCheck(False, f"the server refused the login: {error.code} {error.message}")
    except (aiosmtplib.SMTPException, OSError) as error:
        return ConnectionCheck(False, f"could not talk to {config['host']}:{config['port']} ({type(error).__name__})")
    return ConnectionCheck(
        True, "the server accepted the connection" + (" and the login" if config.get("username") else "")
    )


async def check_credential(
    conn: Connection, vault: Vault, tenant_id: UUID, credential_id: UUID, *, graph_url: str, twilio_url: str
) -> ConnectionCheck:
    found = await repository.get_credential(conn, tenant_id, credential_id)
    if found is None:
        raise NotFound(f"credential {credential_id} not found")
    credential, sealed = found
    secrets = await vault.open(conn, tenant_id, credential.kind, credential_id, sealed)
    config = credential.config
    if credential.kind == "whatsapp":
        version = config.get("graph_api_version", "v23.0")
        return await _http_check(
            httpx.Request(
                "GET",
                f"{graph_url.rstrip('/')}/{version}/{config['waba_id']}/message_templates",
                params={"limit": 1},
                headers={"Authorization": f"Bearer {secrets['access_token']}"},
            )
        )
    if credential.kind == "sms":
        sid = str(config["account_sid"])
        basic = base64.b64encode(f"{sid}:{secrets['auth_token']}".encode()).decode()
        return await _http_check(
            httpx.Request(
                "GET",
                f"{twilio_url.rstrip('/')}/2010-04-01/Accounts/{sid}.json",
                headers={"Authorization": f"Basic {basic}"},
            )
        )
    return await _smtp_check(config, secrets)
