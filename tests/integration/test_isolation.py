"""Tenant scoping in the repository and service layer, on real PostgreSQL."""

from __future__ import annotations

import os

import pytest

from kernel.crypto import MasterKey
from kernel.db import Connection
from kernel.errors import NotFound
from messaging import repository, service
from messaging.schemas import SendMessage, TextContent
from tenants import service as tenants_service
from tenants.auth import authenticate
from tenants.vault import Vault
from tests.fixtures.builders import tenant_with_sender


@pytest.fixture
def vault() -> Vault:
    return Vault(MasterKey(os.urandom(32)))


async def test_another_tenants_message_is_not_found_at_every_entry(conn: Connection, vault: Vault) -> None:
    owner = await tenant_with_sender(conn, vault, "owner")
    stranger = await tenant_with_sender(conn, vault, "stranger")
    message, _ = await service.submit(conn, owner, SendMessage(to="+14155550123", text=TextContent(body="hi")))
    assert await repository.get_message(conn, stranger, message.id) is None
    assert await repository.lock_status(conn, stranger, message.id) is None
    assert await repository.lock_messages(conn, stranger, [message.id], []) == []
    assert await repository.try_claim(conn, stranger, message.id, "whatsapp", 6) is None
    with pytest.raises(NotFound):
        await service.get_message(conn, stranger, message.id)
    with pytest.raises(NotFound):
        await service.list_events(conn, stranger, message.id)
    assert (await service.list_messages(conn, stranger)).data == []


async def test_idempotency_keys_are_per_tenant(conn: Connection, vault: Vault) -> None:
    first = await tenant_with_sender(conn, vault, "first")
    second = await tenant_with_sender(conn, vault, "second")
    request = SendMessage(to="+14155550123", text=TextContent(body="hi"))
    a, created_a = await service.submit(conn, first, request, "same-key")
    b, created_b = await service.submit(conn, second, request, "same-key")
    assert created_a and created_b and a.id != b.id


async def test_secrets_are_stored_sealed_and_keys_only_as_hashes(conn: Connection, vault: Vault) -> None:
    tenant = await tenants_service.create_tenant(conn, vault, "sealed")
    await tenants_service.add_whatsapp_credential(
        conn,
        vault,
        tenant.id,
        name="wa",
        access_token="EAAG-very-secret-token",
        app_secret="app-secret-value",
        verify_token="verify-value",
        waba_id="w",
    )
    _, key = await tenants_service.create_api_key(conn, tenant.id)
    dump = str([dict(r) for r in await conn.fetch("SELECT * FROM credentials WHERE tenant_id = $1", tenant.id)])
    dump += str([dict(r) for r in await conn.fetch("SELECT * FROM api_keys WHERE tenant_id = $1", tenant.id)])
    for secret in ("EAAG-very-secret-token", "app-secret-value", "verify-value", key):
        assert secret not in dump
    principal = await authenticate(conn, f"Bearer {key}")
    assert principal.tenant_id == tenant.id
