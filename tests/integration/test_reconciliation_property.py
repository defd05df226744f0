"""Batched reconciliation on real PostgreSQL agrees with the pure state machine.

Random reports (duplicates included) about one message are split into random notifications and
applied, each in its own transaction, through ``messaging.status_reports.apply_reports``. Whatever the
split and order: the final status is ``settle()`` of the reports, and each distinct fact is in the
audit trail exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import os

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel import db
from kernel.crypto import MasterKey
from messaging import service, status_reports
from messaging.schemas import SendMessage, TextContent
from messaging.states import Status, settle
from messaging.status_reports import Report
from tenants.vault import Vault
from tests.fixtures.builders import tenant_with_sender
from tests.fixtures.services import own_database


@pytest.fixture(scope="module")
def database_dsn() -> str:
    """Its own database: a running stack's workers would otherwise deliver these messages."""
    return own_database("switchboard_test_reconcile")


FACTS = st.tuples(st.sampled_from([Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED]), st.integers(0, 3))


async def scenario(dsn: str, facts: list[tuple[Status, int]], cuts: list[int], by_wamid: bool) -> None:
    conn = await asyncpg.connect(dsn)
    await db._init_connection(conn)
    try:
        async with conn.transaction():
            tenant_id = await tenant_with_sender(conn, Vault(MasterKey(os.urandom(32))), "property")
            request = SendMessage(to="+14155550123", text=TextContent(body="x"))
            message, _ = await service.submit(conn, tenant_id, request)
        wamid = f"wamid.{message.id.hex}"
        if by_wamid:  # routed by wamid alone (the worker recorded it), not by our id
            await conn.execute("UPDATE messages SET provider_message_id = $1 WHERE id = $2", wamid, message.id)
        reports = [
            Report(
                message_id=None if by_wamid else message.id,
                provider_message_id=wamid,
                status=status,
                source="webhook:whatsapp",
                dedupe_key=f"{wamid}:{status}:{stamp}",
                error_code=131026 if status is Status.FAILED else None,
                detail="undeliverable" if status is Status.FAILED else None,
            )
            for status, stamp in facts
        ]
        bounds = sorted({0, len(reports), *(c % (len(reports) + 1) for c in cuts)})
        for start, end in itertools.pairwise(bounds):
            async with conn.transaction():
                assert await status_reports.apply_reports(conn, tenant_id, reports[start:end]) == []
        final = await service.get_message(conn, tenant_id, message.id)
        assert final.status == settle(status for status, _ in facts)
        assert (final.error is not None) == (final.status == Status.FAILED)
        events = await service.list_events(conn, tenant_id, message.id)
        webhook_facts = [(e.reported_status, e.occurred_at) for e in events.data if e.source == "webhook:whatsapp"]
        assert len(webhook_facts) == len(set(facts))
    finally:
        await conn.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    facts=st.lists(FACTS, min_size=1, max_size=12),
    cuts=st.lists(st.integers(0, 12), max_size=4),
    by_wamid=st.booleans(),
)
def test_batched_reconciliation_matches_the_state_machine(
    database_dsn: str, facts: list[tuple[Status, int]], cuts: list[int], by_wamid: bool
) -> None:
    asyncio.run(scenario(database_dsn, facts, cuts, by_wamid))
