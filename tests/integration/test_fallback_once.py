"""Exactly once: however many triggers fire at the same time (a synchronous error, a failed status
webhook, a repeat of it), a message falls back to each channel once, and to nothing once delivered."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from kernel import db
from kernel.crypto import MasterKey
from messaging import service, status_reports
from messaging.fallback import fall_back
from messaging.schemas import Fallback, SendMessage, SmsFallback, TextContent
from messaging.states import Status
from messaging.status_reports import Report
from tenants.vault import Vault
from tests.fixtures.builders import tenant_with_sender
from tests.fixtures.services import own_database


@pytest.fixture(scope="module")
def database_dsn() -> str:
    """Its own database: a running stack's relay and workers would otherwise act on these rows."""
    return own_database("switchboard_test_fallback")


@pytest.fixture
async def pool(database_dsn: str) -> AsyncIterator[db.Pool]:
    created = await db.create_pool(database_dsn, min_size=4, max_size=24)
    yield created
    await created.close()


async def failed_message(pool: db.Pool) -> tuple[uuid.UUID, uuid.UUID]:
    async with pool.acquire() as conn, conn.transaction():
        tenant_id = await tenant_with_sender(conn, Vault(MasterKey(os.urandom(32))), f"t-{uuid.uuid4().hex[:6]}")
        request = SendMessage(
            to="+14155550000", text=TextContent(body="x"), fallback=Fallback(sms=SmsFallback(text="hi"))
        )
        message, _ = await service.submit(conn, tenant_id, request)
        await conn.execute("UPDATE messages SET status = 'failed' WHERE id = $1", message.id)
    return tenant_id, message.id


async def counts(pool: db.Pool, message_id: uuid.UUID) -> tuple[int, int, int]:
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM message_channels WHERE message_id = $1) AS channels, "
        "(SELECT count(*) FROM outbox WHERE topic = 'messaging.deliver_sms' AND payload->>'message_id' = $1::text) "
        "AS deliveries, "
        "(SELECT count(*) FROM message_events WHERE message_id = $1 AND outcome = 'fallback') AS events",
        message_id,
    )
    assert row is not None
    return row["channels"], row["deliveries"], row["events"]


async def trigger(pool: db.Pool, tenant_id: uuid.UUID, message_id: uuid.UUID, how: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if how % 2:
            # A failed status webhook (each a distinct fact, so none is skipped as a duplicate).
            report = Report(
                message_id=message_id,
                provider_message_id=f"wamid.{message_id.hex}",
                status=Status.FAILED,
                source="webhook:whatsapp",
                dedupe_key=f"failed:{how}",
                error_code=131026,
                detail="undeliverable",
            )
            await status_reports.apply_reports(conn, tenant_id, [report])
        else:  # the worker's synchronous failure
            await fall_back(conn, tenant_id, message_id, "whatsapp", "whatsapp failed", source="worker")


async def test_twenty_concurrent_triggers_start_sms_once(pool: db.Pool) -> None:
    tenant_id, message_id = await failed_message(pool)
    results = await asyncio.gather(
        *(trigger(pool, tenant_id, message_id, how) for how in range(20)), return_exceptions=True
    )
    # Concurrent inserts of the same key wait for each other; none may fail, none may duplicate.
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert await counts(pool, message_id) == (1, 1, 1)


async def test_a_delivered_message_falls_back_to_nothing(pool: db.Pool) -> None:
    tenant_id, message_id = await failed_message(pool)
    await pool.execute("UPDATE messages SET status = 'delivered' WHERE id = $1", message_id)
    async with pool.acquire() as conn, conn.transaction():
        assert await fall_back(conn, tenant_id, message_id, "whatsapp", "late failure", source="reconcile") is None
    assert await counts(pool, message_id) == (0, 0, 0)


async def test_sms_failing_after_whatsapp_moves_on_once_and_skips_what_it_cannot_send(pool: db.Pool) -> None:
    tenant_id, message_id = await failed_message(pool)
    async with pool.acquire() as conn, conn.transaction():
        assert await fall_back(conn, tenant_id, message_id, "whatsapp", "x", source="worker") == "sms"
        assert await fall_back(conn, tenant_id, message_id, "whatsapp", "x", source="reconcile") is None
        # SMS was the last channel with content: nothing follows it.
        assert await fall_back(conn, tenant_id, message_id, "sms", "sms failed", source="worker") is None
    assert await counts(pool, message_id) == (1, 1, 1)
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(
            "INSERT INTO message_channels (message_id, channel, tenant_id, position, status, reason) "
            "VALUES ($1, 'sms', $2, 1, 'queued', 'again')",
            message_id,
            tenant_id,
        )
