"""A tenant's config_version (the key of every process's route cache) moves with every real change
to its credentials, senders and templates, and only then."""

from __future__ import annotations

import os
from uuid import UUID

from kernel.crypto import MasterKey
from kernel.db import Connection
from messaging import routing
from tenants import service
from tenants.vault import Vault
from tests.fixtures.builders import tenant_with_sender


async def version(conn: Connection, tenant_id: UUID) -> int:
    found: int = await conn.fetchval("SELECT config_version FROM tenants WHERE id = $1", tenant_id)
    return found


async def put(conn: Connection, tenant_id: UUID, status: str, text: str = "Hi {{1}}") -> None:
    await service.put_template(
        conn,
        tenant_id,
        waba_id="w",
        name="welcome",
        language="en_US",
        category="UTILITY",
        status=status,
        components=[{"type": "BODY", "text": text}],
    )


async def test_changes_move_the_version_and_an_unchanged_sync_does_not(conn: Connection) -> None:
    vault = Vault(MasterKey(os.urandom(32)))
    tenant_id = await tenant_with_sender(conn, vault, "Acme")
    other = await tenant_with_sender(conn, vault, "Other")
    start, other_start = await version(conn, tenant_id), await version(conn, other)

    await put(conn, tenant_id, "APPROVED")
    created = await version(conn, tenant_id)
    assert created > start
    await put(conn, tenant_id, "APPROVED")  # what a sync that finds nothing new does
    assert await version(conn, tenant_id) == created
    await put(conn, tenant_id, "PAUSED")
    paused = await version(conn, tenant_id)
    assert paused > created
    await put(conn, tenant_id, "PAUSED", text="Hello {{1}}")
    assert await version(conn, tenant_id) > paused
    await conn.execute("UPDATE senders SET status = 'disabled' WHERE tenant_id = $1", tenant_id)
    await conn.execute("DELETE FROM templates WHERE tenant_id = $1", tenant_id)
    assert await version(conn, tenant_id) > paused + 1
    assert await version(conn, other) == other_start  # another tenant's routes stay cached


async def test_a_cached_route_is_not_used_under_a_new_version(conn: Connection) -> None:
    vault = Vault(MasterKey(os.urandom(32)))
    tenant_id = await tenant_with_sender(conn, vault, "Acme")
    await put(conn, tenant_id, "APPROVED")
    cache = routing.RouteCache()
    before = await version(conn, tenant_id)
    first = await routing.resolve(conn, tenant_id, None, "welcome", "en_US", config_version=before, cache=cache)
    again = await routing.resolve(conn, tenant_id, None, "welcome", "en_US", config_version=before, cache=cache)
    assert first is again and cache.hits == 1
    assert first is not None and first.template is not None and first.template.status == "APPROVED"
    await put(conn, tenant_id, "PAUSED")
    after = await version(conn, tenant_id)
    changed = await routing.resolve(conn, tenant_id, None, "welcome", "en_US", config_version=after, cache=cache)
    assert changed is not None and changed.template is not None and changed.template.status == "PAUSED"
