"""Provider credentials: one default per kind, validated, sealed where they belong."""

from __future__ import annotations

import os
import uuid

import pytest

from kernel.crypto import DecryptionError, MasterKey
from kernel.db import Connection
from kernel.errors import InvalidInput
from tenants import service
from tenants.vault import Vault


@pytest.fixture
def vault() -> Vault:
    return Vault(MasterKey(os.urandom(32)))


async def defaults(conn: Connection, tenant_id: uuid.UUID) -> dict[str, list[str]]:
    rows = await conn.fetch(
        "SELECT kind, name FROM credentials WHERE tenant_id = $1 AND is_default ORDER BY kind, name", tenant_id
    )
    found: dict[str, list[str]] = {}
    for r in rows:
        found.setdefault(r["kind"], []).append(r["name"])
    return found


async def sms(conn: Connection, vault: Vault, tenant_id: uuid.UUID, name: str, is_default: bool | None = None) -> None:
    await service.add_sms_credential(
        conn,
        vault,
        tenant_id,
        name=name,
        account_sid="AC1",
        auth_token="tok",
        from_number="+15550100002",
        is_default=is_default,
    )


async def test_the_first_of_a_kind_is_the_default_until_another_is_made_default(conn: Connection, vault: Vault) -> None:
    tenant = await service.create_tenant(conn, vault, "Acme")
    await sms(conn, vault, tenant.id, "first")
    await sms(conn, vault, tenant.id, "second")
    await service.add_email_credential(
        conn,
        vault,
        tenant.id,
        name="smtp",
        host="smtp.example.com",
        port=587,
        tls="starttls",
        from_address="orders@example.com",
        username="orders",
        password="pw",
    )
    assert await defaults(conn, tenant.id) == {"email": ["smtp"], "sms": ["first"]}
    await sms(conn, vault, tenant.id, "third", is_default=True)
    assert await defaults(conn, tenant.id) == {"email": ["smtp"], "sms": ["third"]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"host": " "}, "host"),
        ({"port": 0}, "port"),
        ({"tls": "ssl"}, "tls"),
        ({"from_address": "orders"}, "from_address"),
        ({"password": None}, "password"),
        ({"name": ""}, "name"),
    ],
)
async def test_email_settings_are_checked_field_by_field(
    conn: Connection, vault: Vault, change: dict[str, object], field: str
) -> None:
    tenant = await service.create_tenant(conn, vault, "Acme")
    given: dict[str, object] = {
        "name": "smtp",
        "host": "smtp.example.com",
        "port": 465,
        "tls": "implicit",
        "from_address": "orders@example.com",
        "username": "orders",
        "password": "pw",
        **change,
    }
    with pytest.raises(InvalidInput) as refused:
        await service.add_email_credential(conn, vault, tenant.id, **given)  # type: ignore[arg-type]
    assert refused.value.violations[0].field == field


async def test_a_sealed_secret_copied_to_another_row_or_tenant_does_not_open(conn: Connection, vault: Vault) -> None:
    ours, theirs = await service.create_tenant(conn, vault, "Ours"), await service.create_tenant(conn, vault, "Theirs")
    password = "smtp-" + uuid.uuid4().hex
    kept = await service.add_email_credential(
        conn,
        vault,
        ours.id,
        name="smtp",
        host="h.example.com",
        port=25,
        tls="none",
        from_address="a@example.com",
        username="u",
        password=password,
    )
    other = await service.add_email_credential(
        conn,
        vault,
        ours.id,
        name="other",
        host="h.example.com",
        port=25,
        tls="none",
        from_address="a@example.com",
    )
    sealed = await conn.fetchval("SELECT sealed_secrets FROM credentials WHERE id = $1", kept.id)
    assert password.encode() not in sealed
    assert kept.fingerprints["password"].startswith("sha256:") and password not in str(kept)
    assert (await vault.open(conn, ours.id, "email", kept.id, sealed))["password"] == password
    with pytest.raises(DecryptionError):
        await vault.open(conn, ours.id, "email", other.id, sealed)  # another row
    with pytest.raises(DecryptionError):
        await vault.open(conn, theirs.id, "email", kept.id, sealed)  # another tenant
    with pytest.raises(DecryptionError):
        await vault.open(conn, ours.id, "sms", kept.id, sealed)  # another kind


async def test_opened_secrets_are_cached_by_ciphertext_so_a_change_is_seen_at_once(
    conn: Connection, vault: Vault
) -> None:
    tenant = await service.create_tenant(conn, vault, "Acme")
    row = uuid.uuid4()
    old = await vault.seal(conn, tenant.id, "sms", row, {"auth_token": "old"})
    opened = await vault.open(conn, tenant.id, "sms", row, old)
    opened["auth_token"] = "tampered by a caller"
    assert await vault.open(conn, tenant.id, "sms", row, old) == {"auth_token": "old"}
    new = await vault.seal(conn, tenant.id, "sms", row, {"auth_token": "new"})
    assert await vault.open(conn, tenant.id, "sms", row, new) == {"auth_token": "new"}
    # The cache is keyed by the row too: the same ciphertext under another row still fails (AAD).
    with pytest.raises(DecryptionError):
        await vault.open(conn, tenant.id, "sms", uuid.uuid4(), new)
