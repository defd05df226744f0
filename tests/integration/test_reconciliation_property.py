"""Batched reconciliation on real PostgreSQL agrees with the pure state machine.

Random reports (duplicates included) about one message are split into random notifications and
applied, each in its own transaction, through ``messaging.service.apply_reports``. Whatever the
split and order: the final status is ``settle()`` of the reports, and each distinct fact is in the
audit trail exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel import db
from kernel.crypto import MasterKey
from messaging import service
from messaging.schemas import SendMessage, TextContent
from messaging.service import Report
from messaging.states import Status, settle
from tenants import service as tenants_service
from tenants.vault import Vault

FACTS = st.tuples(st.sampled_from([Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED]), st.integers(0, 3))


async def scenario(dsn: str, facts: list[tuple[Status, int]], cuts: list[int], by_wamid: bool) -> None:
    conn = await asyncpg.connect(dsn)
    await db._init_connection(conn)
    try:
        async with conn.transaction():
            vault = Vault(MasterKey(os.urandom(32)))
            tenant = await tenants_service.create_tenant(conn, vault, "property")
            credential = await tenants_service.add_whatsapp_credential(
                conn, vault, tenant.id, name="wa", access_token="t", app_secret="s", verify_token="v", waba_id="w"
            )
            await tenants_service.add_sender(
                conn,
                tenant.id,
                credential.id,
                phone_number_id=uuid.uuid4().hex,
                display_phone_number="+1555",
                waba_id="w",
            )
            message, _ = await service.submit(
                conn, tenant.id, SendMessage(to="+14155550123", text=TextContent(body="x"))
            )
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
                assert await service.apply_reports(conn, tenant.id, reports[start:end]) == []
        final = await service.get_message(conn, tenant.id, message.id)
        assert final.status == settle(status for status, _ in facts)
        assert (final.error is not None) == (final.status == Status.FAILED)
        events = await service.list_events(conn, tenant.id, message.id)
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
