"""Tenant use cases: tenants, API keys, provider credentials, senders, templates.

Functions take the connection (inside the caller's unit of work) and the tenant explicitly, and
never commit.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any
from uuid import UUID

import asyncpg

from kernel import standard_webhooks
from kernel.crypto import fingerprint
from kernel.db import Connection, Pool
from kernel.errors import ErrorKind, InvalidInput, NotFound, SwitchboardError
from kernel.phones import normalize_e164
from tenants import apikeys, repository
from tenants.domain import ApiKey, Credential, Sender, Template, Tenant, WhatsAppSecrets
from tenants.schemas import CredentialList, CredentialView, NewCredential, NewSender, NewSms, NewWhatsApp
from tenants.vault import Vault

__all__ = [
    "add_credential",
    "add_email_credential",
    "add_sender",
    "add_sms_credential",
    "add_whatsapp_credential",
    "create_api_key",
    "create_sender",
    "create_tenant",
    "credential_view",
    "get_credential",
    "get_sender",
    "get_template",
    "list_api_keys",
    "list_credentials",
    "list_senders",
    "list_templates",
    "list_tenants",
    "open_whatsapp_secrets",
    "put_template",
    "revoke_api_key",
    "set_raw_retention",
    "set_tenant_status",
]

WHATSAPP = "whatsapp"
SMS = "sms"
EMAIL = "email"
DEFAULT_GRAPH_VERSION = "v23.0"


async def create_tenant(conn: Connection, vault: Vault, name: str) -> Tenant:
    name = name.strip()
    if not name:
        raise InvalidInput("name", "required", "a tenant needs a name")
    tenant = await repository.insert_tenant(conn, uuid.uuid4(), name)
    await vault.create_data_key(conn, tenant.id)
    return tenant


MAX_RETENTION_DAYS = 3650


async def set_raw_retention(conn: Connection, tenant_id: UUID, days: int) -> None:
    """How long the tenant's raw provider callbacks are kept (their audit events are kept anyway)."""
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise InvalidInput("days", "range", f"must be between 1 and {MAX_RETENTION_DAYS}")
    if not await repository.set_raw_retention(conn, tenant_id, days):
        raise NotFound(f"tenant {tenant_id} not found")


async def create_api_key(conn: Connection, tenant_id: UUID, name: str = "") -> tuple[ApiKey, str]:
    """A new key; the plaintext is returned once and never stored."""
    key, prefix = apikeys.generate()
    try:
        record = await repository.insert_api_key(conn, uuid.uuid4(), tenant_id, prefix, apikeys.hash_key(key), name)
    except asyncpg.ForeignKeyViolationError:
        raise NotFound(f"tenant {tenant_id} not found") from None
    return record, key


async def revoke_api_key(conn: Connection, tenant_id: UUID, key_id: UUID) -> None:
    if not await repository.revoke_api_key(conn, tenant_id, key_id):
        raise NotFound(f"API key {key_id} not found")


async def list_api_keys(conn: Connection, tenant_id: UUID) -> list[ApiKey]:
    """The tenant's keys, live ones first; never their secrets (only the prefix)."""
    return await repository.list_api_keys(conn, tenant_id)


ACTIVE = "active"
SUSPENDED = "suspended"


async def list_tenants(conn: Connection) -> list[asyncpg.Record]:
    return await repository.list_tenants(conn)


async def set_tenant_status(conn: Connection, tenant_id: UUID, status: str) -> None:
    """Suspend or reactivate a tenant. A suspended tenant's API keys and console sessions stop
    working at once: both are checked against the tenant's status on every request."""
    if status not in (ACTIVE, SUSPENDED):
        raise InvalidInput("status", "enum", f"one of {ACTIVE}, {SUSPENDED}")
    if not await repository.set_tenant_status(conn, tenant_id, status):
        raise NotFound(f"tenant {tenant_id} not found")


async def _store_credential(
    conn: Connection,
    vault: Vault,
    tenant_id: UUID,
    *,
    kind: str,
    name: str,
    is_default: bool | None,
    config: dict[str, Any],
    secret_values: dict[str, str],
) -> Credential:
    """Seal the secrets (each required) under the tenant's data key, bound to this row, and store
    them with a fingerprint each and an unguessable webhook key.

    ``is_default``: None makes the tenant's first credential of a kind its default; True makes
    this one the default in place of any other (one default per kind)."""
    if not name.strip():
        raise InvalidInput("name", "required", "a credential needs a name")
    for field, value in secret_values.items():
        if not value:
            raise InvalidInput(field, "required", f"{field} is required")
    if is_default is None:
        is_default = not await repository.has_credential(conn, tenant_id, kind)
    elif is_default:
        await repository.clear_default_credential(conn, tenant_id, kind)
    credential_id = uuid.uuid4()
    return await repository.insert_credential(
        conn,
        credential_id=credential_id,
        tenant_id=tenant_id,
        kind=kind,
        name=name,
        is_default=is_default,
        config=config,
        sealed_secrets=await vault.seal(conn, tenant_id, kind, credential_id, secret_values),
        fingerprints={k: fingerprint(v) for k, v in secret_values.items()},
        channel_key=secrets.token_urlsafe(24),
    )


async def add_whatsapp_credential(
    conn: Connection,
    vault: Vault,
    tenant_id: UUID,
    *,
    name: str,
    access_token: str,
    app_secret: str,
    verify_token: str,
    waba_id: str,
    graph_api_version: str = DEFAULT_GRAPH_VERSION,
    is_default: bool | None = None,
) -> Credential:
    """A WhatsApp Business app. Meta's callbacks come to ``/webhooks/whatsapp/{channel_key}``."""
    return await _store_credential(
        conn,
        vault,
        tenant_id,
        kind=WHATSAPP,
        name=name,
        is_default=is_default,
        config={"waba_id": waba_id, "graph_api_version": graph_api_version},
        secret_values={"access_token": access_token, "app_secret": app_secret, "verify_token": verify_token},
    )


async def add_sms_credential(
    conn: Connection,
    vault: Vault,
    tenant_id: UUID,
    *,
    name: str,
    account_sid: str,
    auth_token: str,
    from_number: str | None = None,
    messaging_service_sid: str | None = None,
    is_default: bool | None = None,
) -> Credential:
    """A Twilio account. Its status callbacks come to ``/webhooks/twilio/{channel_key}``."""
    if not account_sid:
        raise InvalidInput("account_sid", "required", "account_sid is required")
    if not (from_number or messaging_service_sid):
        raise InvalidInput("from_number", "required", "a from number or a messaging service SID is required")
    return await _store_credential(
        conn,
        vault,
        tenant_id,
        kind=SMS,
        name=name,
        is_default=is_default,
        config={"account_sid": account_sid, "from_number": from_number, "messaging_service_sid": messaging_service_sid},
        secret_values={"auth_token": auth_token},
    )


TLS_MODES = ("starttls", "implicit", "none")


async def add_email_credential(
    conn: Connection,
    vault: Vault,
    tenant_id: UUID,
    *,
    name: str,
    host: str,
    port: int,
    tls: str,
    from_address: str,
    username: str | None = None,
    password: str | None = None,
    webhook_secret: str | None = None,
    is_default: bool | None = None,
) -> Credential:
    """An SMTP server to send email fallback through (STARTTLS, implicit TLS, or none). With the
    mail provider's Standard Webhooks secret, its delivery, bounce and complaint events are taken
    at ``/webhooks/email/{channel_key}``."""
    if not host.strip():
        raise InvalidInput("host", "required", "host is required")
    if not 1 <= port <= 65535:
        raise InvalidInput("port", "range", "must be between 1 and 65535")
    if tls not in TLS_MODES:
        raise InvalidInput("tls", "enum", f"one of {', '.join(TLS_MODES)}")
    local, _, domain = from_address.rpartition("@")
    if not local or "." not in domain:
        raise InvalidInput("from_address", "email", "an email address such as orders@example.com")
    if bool(username) != bool(password):
        raise InvalidInput("password", "required", "username and password go together")
    if webhook_secret is not None:
        try:
            standard_webhooks.check_secret(webhook_secret)
        except ValueError as error:
            raise InvalidInput("webhook_secret", "format", str(error)) from None
    return await _store_credential(
        conn,
        vault,
        tenant_id,
        kind=EMAIL,
        name=name,
        is_default=is_default,
        config={"host": host, "port": port, "tls": tls, "from_address": from_address, "username": username},
        secret_values={
            name: value for name, value in (("password", password), ("webhook_secret", webhook_secret)) if value
        },
    )


_WEBHOOK_PATHS = {WHATSAPP: "/webhooks/whatsapp/", SMS: "/webhooks/twilio/", EMAIL: "/webhooks/email/"}


def credential_view(credential: Credential) -> CredentialView:
    prefix = _WEBHOOK_PATHS.get(credential.kind)
    return CredentialView(
        id=credential.id,
        kind=credential.kind,
        name=credential.name,
        is_default=credential.is_default,
        config=credential.config,
        fingerprints=credential.fingerprints,
        webhook_path=prefix + credential.channel_key if prefix and credential.channel_key else None,
        health="failing" if credential.health == "failing" else "ok",
        health_detail=credential.health_detail,
    )


async def add_credential(conn: Connection, vault: Vault, tenant_id: UUID, new: NewCredential) -> CredentialView:
    """Any kind of credential, as the edges receive it."""
    if isinstance(new, NewWhatsApp):
        added = await add_whatsapp_credential(
            conn,
            vault,
            tenant_id,
            name=new.name,
            access_token=new.access_token,
            app_secret=new.app_secret,
            verify_token=new.verify_token,
            waba_id=new.waba_id,
            graph_api_version=new.graph_api_version,
            is_default=new.is_default,
        )
    elif isinstance(new, NewSms):
        added = await add_sms_credential(
            conn,
            vault,
            tenant_id,
            name=new.name,
            account_sid=new.account_sid,
            auth_token=new.auth_token,
            from_number=new.from_number,
            messaging_service_sid=new.messaging_service_sid,
            is_default=new.is_default,
        )
    else:
        added = await add_email_credential(
            conn,
            vault,
            tenant_id,
            name=new.name,
            host=new.host,
            port=new.port,
            tls=new.tls,
            from_address=new.from_address,
            username=new.username,
            password=new.password,
            webhook_secret=new.webhook_secret,
            is_default=new.is_default,
        )
    return credential_view(added)


async def list_credentials(conn: Connection, tenant_id: UUID) -> CredentialList:
    return CredentialList(data=[credential_view(c) for c in await repository.list_credentials(conn, tenant_id)])


async def get_credential(conn: Connection, tenant_id: UUID, credential_id: UUID) -> CredentialView:
    found = await repository.get_credential(conn, tenant_id, credential_id)
    if found is None:
        raise NotFound(f"credential {credential_id} not found")
    return credential_view(found[0])


async def open_whatsapp_secrets(
    conn: Connection | Pool, vault: Vault, tenant_id: UUID, credential_id: UUID, sealed: bytes
) -> WhatsAppSecrets:
    opened = await vault.open(conn, tenant_id, WHATSAPP, credential_id, sealed)
    return WhatsAppSecrets(
        access_token=opened["access_token"], app_secret=opened["app_secret"], verify_token=opened["verify_token"]
    )


async def add_sender(
    conn: Connection,
    tenant_id: UUID,
    credential_id: UUID | None,
    *,
    phone_number_id: str,
    display_phone_number: str,
    waba_id: str | None = None,
    throughput_mps: int = 80,
    is_default: bool | None = None,
) -> Sender:
    """A WhatsApp number of the tenant's, sending through one of its WhatsApp credentials (the
    default one when none is named; its WABA unless another is given). ``is_default``: None makes
    the tenant's first number its default; True moves the default here."""
    credential = await _whatsapp_credential(conn, tenant_id, credential_id)
    if not phone_number_id.strip().isdigit():
        raise InvalidInput("phone_number_id", "format", "Meta's phone number id: digits only")
    if normalize_e164(display_phone_number, assigned=False) is None:
        raise InvalidInput("display_phone_number", "e164", "a phone number in E.164, e.g. +15550100001")
    if not 1 <= throughput_mps <= 1000:
        raise InvalidInput("throughput_mps", "range", "must be between 1 and 1000 (Meta's default is 80)")
    if is_default is None:
        is_default = not await repository.has_sender(conn, tenant_id)
    elif is_default:
        await repository.clear_default_sender(conn, tenant_id)
    try:
        async with conn.transaction():  # a savepoint: a conflict leaves the caller's transaction usable
            return await repository.insert_sender(
                conn,
                sender_id=uuid.uuid4(),
                tenant_id=tenant_id,
                credential_id=credential.id,
                phone_number_id=phone_number_id.strip(),
                display_phone_number=display_phone_number,
                waba_id=waba_id or str(credential.config.get("waba_id", "")),
                is_default=is_default,
                throughput_mps=throughput_mps,
            )
    except asyncpg.UniqueViolationError:
        raise SwitchboardError(
            f"phone_number_id {phone_number_id} is already registered", kind=ErrorKind.CONFLICT
        ) from None


async def create_sender(conn: Connection, tenant_id: UUID, new: NewSender) -> Sender:
    """A sender as the edges receive it."""
    return await add_sender(
        conn,
        tenant_id,
        new.credential_id,
        phone_number_id=new.phone_number_id,
        display_phone_number=new.display_phone_number,
        waba_id=new.waba_id,
        throughput_mps=new.throughput_mps,
        is_default=new.is_default,
    )


async def _whatsapp_credential(conn: Connection, tenant_id: UUID, credential_id: UUID | None) -> Credential:
    if credential_id is not None:
        found = await repository.get_credential(conn, tenant_id, credential_id)
        if found is None or found[0].kind != WHATSAPP:
            raise NotFound(f"WhatsApp credential {credential_id} not found")
        return found[0]
    defaults = [c for c in await repository.list_credentials(conn, tenant_id) if c.kind == WHATSAPP and c.is_default]
    if not defaults:
        raise InvalidInput("credential_id", "required", "add a WhatsApp credential first")
    return defaults[0]


async def list_senders(conn: Connection, tenant_id: UUID) -> list[Sender]:
    return await repository.list_senders(conn, tenant_id)


async def get_sender(conn: Connection, tenant_id: UUID, sender_id: UUID) -> Sender:
    found = await repository.get_sender(conn, tenant_id, sender_id)
    if found is None:
        raise NotFound(f"sender {sender_id} not found")
    return found


async def list_templates(conn: Connection, tenant_id: UUID) -> list[Template]:
    return await repository.list_templates(conn, tenant_id)


async def get_template(conn: Connection, tenant_id: UUID, template_id: UUID) -> Template:
    found = await repository.get_template(conn, tenant_id, template_id)
    if found is None:
        raise NotFound(f"template {template_id} not found")
    return found


async def put_template(
    conn: Connection,
    tenant_id: UUID,
    *,
    waba_id: str,
    name: str,
    language: str,
    category: str,
    status: str,
    components: list[dict[str, Any]],
    parameter_format: str = "POSITIONAL",
) -> Template:
    return await repository.upsert_template(
        conn,
        template_id=uuid.uuid4(),
        tenant_id=tenant_id,
        waba_id=waba_id,
        name=name,
        language=language,
        category=category.upper(),
        status=status.upper(),
        components=components,
        parameter_format=parameter_format.upper(),
    )
