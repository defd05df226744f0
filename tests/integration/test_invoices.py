"""Invoices on real PostgreSQL: totals are the sum of their lines, every billable event is invoiced
exactly once, a month's last second lands in that month, and closing again changes nothing."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import invoices, meter
from kernel import db
from kernel.crypto import MasterKey
from messaging import service
from messaging.schemas import SendMessage, TextContent
from tenants.vault import Vault
from tests.fixtures.builders import tenant_with_sender
from tests.fixtures.services import own_database

JANUARY, FEBRUARY = date(2026, 1, 1), date(2026, 2, 1)
FEB_FIRST = datetime(2026, 2, 1, tzinfo=UTC)
AFTER_MARCH = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def database_dsn() -> str:
    return own_database("switchboard_test_invoices")


# A billable event: tenant (index), channel and category, units, and seconds from 1 February 00:00
# (negative: January; -1 is 31 January 23:59:59).
EVENT = st.tuples(
    st.integers(0, 2),
    st.sampled_from([("whatsapp", "marketing"), ("whatsapp", "utility"), ("sms", "message"), ("email", "message")]),
    st.integers(1, 4),
    st.one_of(st.sampled_from([-1, 0]), st.integers(-20 * 86400, 20 * 86400)),
)


async def scenario(dsn: str, events: list[tuple[int, tuple[str, str], int, int]]) -> None:
    conn = await asyncpg.connect(dsn)
    await db._init_connection(conn)
    pool = await db.create_pool(dsn, min_size=1, max_size=2)
    try:
        vault = Vault(MasterKey(os.urandom(32)))
        tenants = [await tenant_with_sender(conn, vault, f"invoices-{i}") for i in range(3)]
        message, _ = await service.submit(conn, tenants[0], SendMessage(to="+14155550123", text=TextContent(body="x")))
        by_month: dict[tuple[int, date], int] = {}
        for n, (who, (channel, category), units, offset) in enumerate(events):
            at = FEB_FIRST + timedelta(seconds=offset)
            event = meter.Billable(f"{channel}:{n}", message.id, channel, category, "US", "test", units, at)
            async with conn.transaction():
                await meter.record(conn, tenants[who], [event])
            month = JANUARY if at < FEB_FIRST else FEBRUARY
            amount = await conn.fetchval(
                "SELECT amount FROM billable_events WHERE tenant_id = $1 AND key = $2", tenants[who], event.key
            )
            by_month[(who, month)] = by_month.get((who, month), 0) + amount
        await invoices.close_month(pool, JANUARY, now=AFTER_MARCH)
        january = [await invoices.get_invoice(conn, t, JANUARY) for t in tenants]
        await invoices.close_month(pool, JANUARY, now=AFTER_MARCH)  # again: nothing changes
        assert [await invoices.get_invoice(conn, t, JANUARY) for t in tenants] == january
        await invoices.close_month(pool, FEBRUARY, now=AFTER_MARCH)
        february = [await invoices.get_invoice(conn, t, FEBRUARY) for t in tenants]
        everything = await conn.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM billable_events WHERE tenant_id = ANY($1::uuid[])", tenants
        )
        uninvoiced = await conn.fetchval(
            "SELECT count(*) FROM billable_events WHERE tenant_id = ANY($1::uuid[]) AND invoice_month IS NULL", tenants
        )
    finally:
        await pool.close()
        await conn.close()
    invoiced = 0
    for who in range(3):
        for month, found in ((JANUARY, january[who]), (FEBRUARY, february[who])):
            total = sum(i.total for i in found)
            assert total == by_month.get((who, month), 0)
            for invoice in found:
                assert invoice.total == sum(line.amount for line in invoice.lines)
                if invoice.lines:
                    assert invoice.status == "final"
            invoiced += total
    assert invoiced == everything and uninvoiced == 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(EVENT, max_size=25))
def test_invoices_add_up_and_each_event_is_invoiced_once_in_its_month(
    database_dsn: str, events: list[tuple[int, tuple[str, str], int, int]]
) -> None:
    asyncio.run(scenario(database_dsn, events))


def test_an_open_month_cannot_be_closed(database_dsn: str) -> None:
    async def attempt() -> None:
        pool = await db.create_pool(database_dsn, min_size=1, max_size=1)
        try:
            await invoices.close_month(pool, FEBRUARY, now=datetime(2026, 2, 28, 23, 59, tzinfo=UTC))
        finally:
            await pool.close()

    from kernel.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        asyncio.run(attempt())
    assert refused.value.violations[0].field == "month"
