"""The audit trail becomes partner events for the tenants that have an enabled endpoint, and only
for them, also when one statement carries several tenants' events (a batch, a reconciliation)."""

from __future__ import annotations

import os
import uuid

from kernel.crypto import MasterKey
from kernel.db import Connection
from messaging import batch
from messaging.schemas import SendMessage, TextContent
from tenants.vault import Vault
from tests.fixtures.builders import tenant_with_sender
from webhooks.outbound import repository as endpoints


async def told(conn: Connection, tenant_id: uuid.UUID) -> list[tuple[str, int]]:
    """Each partner event of the tenant, with how many deliveries it has."""
    rows = await conn.fetch(
        "SELECT ev.type, (SELECT count(*) FROM webhook_deliveries d WHERE d.event_id = ev.id) AS deliveries "
        "FROM webhook_events ev WHERE ev.tenant_id = $1 ORDER BY ev.created_at, ev.type",
        tenant_id,
    )
    return [(r["type"], r["deliveries"]) for r in rows]


async def report(conn: Connection, status: str, messages: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """One statement recording ``status`` for each (tenant, message), as reconciliation does."""
    await conn.execute(
        "INSERT INTO message_events (tenant_id, message_id, reported_status, from_status, to_status, applied, "
        "outcome, source) SELECT t, m, $3, 'queued', $3, true, 'advanced', 'webhook:whatsapp' "
        "FROM unnest($1::uuid[], $2::uuid[]) AS x(t, m)",
        [t for t, _ in messages],
        [m for _, m in messages],
        status,
    )


async def test_only_tenants_with_an_enabled_endpoint_are_told(conn: Connection) -> None:
    vault = Vault(MasterKey(os.urandom(32)))
    listening = await tenant_with_sender(conn, vault, f"listening-{uuid.uuid4().hex[:6]}")
    silent = await tenant_with_sender(conn, vault, f"silent-{uuid.uuid4().hex[:6]}")
    endpoint_id = uuid.uuid4()
    await endpoints.insert_endpoint(conn, endpoint_id, listening, "https://example.com/hook", "", [], b"sealed")
    request = SendMessage(to="+14155550123", text=TextContent(body="hi"))
    sent = {}
    for tenant_id in (silent, listening):  # the silent tenant's rows first in each statement below
        (item,) = await batch.submit_batch(conn, tenant_id, [request])
        assert item.message is not None
        sent[tenant_id] = item.message.id

    # Both tenants' events in one statement: only the tenant with an endpoint is told.
    await report(conn, "sent", list(sent.items()))
    assert await told(conn, listening) == [("message.queued", 1), ("message.sent", 1)]
    assert await told(conn, silent) == []

    # Its endpoint disabled, it is told nothing more.
    await endpoints.update_endpoint(conn, listening, endpoint_id, status="disabled")
    await report(conn, "delivered", list(sent.items()))
    assert await told(conn, listening) == [("message.queued", 1), ("message.sent", 1)]
    assert await told(conn, silent) == []
