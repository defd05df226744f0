"""Metering on real PostgreSQL: each billable message billed exactly once, whatever the webhooks do.

Random histories of status webhooks (billable or not, duplicated, reordered, split into random
notifications) are applied through ``messaging.status_reports.apply_reports``, then all replayed. The
bill is the sum over messages with at least one billable report, priced by the rate card; replaying
changes nothing; the usage per day sums to the billable events; a message lands on the UTC day of
its report, even one second before midnight at a month's end.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import meter
from billing import repository as billing_repository
from billing import service as billing_service
from billing.pricing import price
from kernel import db
from kernel.crypto import MasterKey
from messaging import service, status_reports
from messaging.schemas import SendMessage, TextContent
from messaging.states import Status
from messaging.status_reports import Report
from tenants.vault import Vault
from tests.fixtures.builders import tenant_with_sender
from tests.fixtures.services import own_database

MONTH_END = datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)


@pytest.fixture(scope="module")
def database_dsn() -> str:
    """Its own database: a running stack's workers would otherwise deliver these messages."""
    return own_database("switchboard_test_metering")


# Per message: its category, whether Meta bills it, its reports (status, carries pricing), and when
# it happened relative to the last second of January.
MESSAGE = st.tuples(
    st.sampled_from(["marketing", "utility", "authentication"]),
    st.booleans(),
    st.lists(st.tuples(st.sampled_from([Status.SENT, Status.DELIVERED, Status.READ]), st.booleans()), max_size=5),
    st.sampled_from([timedelta(0), timedelta(seconds=1)]),
)


async def scenario(dsn: str, messages: list[tuple[str, bool, list[tuple[Status, bool]], timedelta]], seed: int) -> None:
    conn = await asyncpg.connect(dsn)
    await db._init_connection(conn)
    shuffle = random.Random(seed)
    try:
        async with conn.transaction():
            tenant_id = await tenant_with_sender(conn, Vault(MasterKey(os.urandom(32))), "metering")
        card = await billing_repository.rate_card(conn, tenant_id)
        reports: list[Report] = []
        expected: dict[date, int] = {}
        for category, billable, history, offset in messages:
            request = SendMessage(to="+14155550123", text=TextContent(body="x"))
            message, _ = await service.submit(conn, tenant_id, request)
            wamid, at = f"wamid.{message.id.hex}", MONTH_END + offset
            mine = [
                Report(
                    message_id=message.id,
                    provider_message_id=wamid,
                    status=status,
                    source="webhook:whatsapp",
                    dedupe_key=f"{wamid}:{status}",
                    occurred_at=at,
                    billable_category=category if billable and priced else None,
                )
                for status, priced in history
            ]
            reports += mine + mine[: len(mine) // 2]  # Meta delivers some twice
            if any(r.billable_category for r in mine):
                expected[at.date()] = expected.get(at.date(), 0) + price(card, "whatsapp", category, "US").amount
        shuffle.shuffle(reports)
        cuts = sorted({0, len(reports), *(shuffle.randrange(len(reports) + 1) for _ in range(3))})
        for start, end in itertools.pairwise(cuts):
            async with conn.transaction():
                await status_reports.apply_reports(conn, tenant_id, reports[start:end])
        billed = await billing_service.usage(conn, tenant_id, date(2026, 1, 1), date(2026, 3, 1))
        async with conn.transaction():  # every webhook again: nothing more is billed
            await status_reports.apply_reports(conn, tenant_id, reports)
        replayed = await billing_service.usage(conn, tenant_id, date(2026, 1, 1), date(2026, 3, 1))
        events = await conn.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM billable_events WHERE tenant_id = $1", tenant_id
        )
    finally:
        await conn.close()
    by_day: dict[date, int] = {}
    for row in billed.data:
        by_day[row.day] = by_day.get(row.day, 0) + row.amount
    assert by_day == {day: amount for day, amount in expected.items()}
    assert replayed == billed
    assert sum(t.amount for t in billed.totals) == events == sum(expected.values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(MESSAGE, min_size=1, max_size=5), seed=st.integers(0, 2**32))
def test_each_billable_message_is_billed_once_on_its_day(
    database_dsn: str, messages: list[tuple[str, bool, list[tuple[Status, bool]], timedelta]], seed: int
) -> None:
    asyncio.run(scenario(database_dsn, messages, seed))


def test_included_messages_are_billed_at_zero_and_a_duplicate_uses_none_up(database_dsn: str) -> None:
    from billing import rate_cards

    async def scenario() -> dict[str, int]:
        conn = await asyncpg.connect(database_dsn)
        await db._init_connection(conn)
        try:
            tenant_id = await tenant_with_sender(conn, Vault(MasterKey(os.urandom(32))), "included")
            plan = f"included-{tenant_id.hex[:8]}"
            await conn.execute("INSERT INTO plans (id, rate_per_second, burst) VALUES ($1, 10, 10)", plan)
            await conn.execute("UPDATE tenants SET plan_id = $2 WHERE id = $1", tenant_id, plan)
            await rate_cards.set_price(conn, plan, "whatsapp", "utility", "*", 5, "USD")
            await rate_cards.set_included(conn, plan, 2)
            at = datetime.now(UTC)
            events = [
                meter.Billable(f"whatsapp:w{i}", uuid.uuid4(), "whatsapp", "utility", "US", "test", 1, at)
                for i in range(4)
            ]
            for batch in ([events[0], events[0]], [events[0]], events[1:]):  # a duplicate, then a replay
                async with conn.transaction():
                    await meter.record(conn, tenant_id, batch)
            rows = await conn.fetch("SELECT key, amount FROM billable_events WHERE tenant_id = $1", tenant_id)
            return {r["key"]: r["amount"] for r in rows}
        finally:
            await conn.close()

    assert asyncio.run(scenario()) == {"whatsapp:w0": 0, "whatsapp:w1": 0, "whatsapp:w2": 5, "whatsapp:w3": 5}
