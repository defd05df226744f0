"""The real ingestor and workers agree with the pure state machine, whatever the callbacks do.

Hypothesis draws statuses for a few messages (duplicates and contradictions included) and
customer messages (redelivered), splits them into signed notifications, repeats some of the
notifications, and POSTs them all at once in a random order to the running API. Once the workers
have reconciled everything: each message's status is ``settle()`` of what was reported, its audit
trail holds each distinct fact exactly once, and each customer message is stored exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaging.states import Status, settle
from tests.conftest import new_tenant
from tests.fixtures.stack import Stack
from tests.fixtures.webhooks import notification, post_signed, status, text_message

REPORTED = [Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED]
# (message index, status, timestamp offset): the same triple twice is one fact delivered twice.
STATUS = st.tuples(st.integers(0, 2), st.sampled_from(REPORTED), st.integers(0, 2))


@pytest.fixture(scope="module")
def facts(stack: Stack) -> dict[str, Any]:
    return asyncio.run(new_tenant(stack))


async def scenario(
    stack: Stack,
    facts: dict[str, Any],
    reported: list[tuple[int, Status, int]],
    inbound: list[int],
    by_our_id: list[bool],
    cuts: list[int],
    repeats: list[int],
    seed: int,
) -> None:
    tenant_id = uuid.UUID(facts["tenant_id"])
    conn = await asyncpg.connect(stack.env["DATABASE_URL"].replace("postgresql+asyncpg", "postgresql"))
    try:
        # Messages already handed to the provider (no outbox row: no worker will touch them).
        run = uuid.uuid4().hex[:12]
        ids = [uuid.uuid4() for _ in range(3)]
        wamids = [f"wamid.{run}.{i}" for i in range(3)]
        for message_id, wamid in zip(ids, wamids, strict=True):
            await conn.execute(
                "INSERT INTO messages (id, tenant_id, request_hash, channel, to_number, content, status, "
                "provider_message_id) VALUES ($1, $2, '\\x00', 'whatsapp', '+14155550123', '{}', 'submitted', $3)",
                message_id,
                tenant_id,
                wamid,
            )
        start = await conn.fetchval("SELECT coalesce(max(id), 0) FROM raw_events")
        now = int(time.time())
        items: list[tuple[str, dict[str, Any]]] = [
            (
                "status",
                status(
                    wamids[i],
                    s.value,
                    now + stamp,
                    str(ids[i]) if by_our_id[i] else None,
                    **({"errors": [{"code": 131026, "title": "undeliverable"}]} if s is Status.FAILED else {}),
                ),
            )
            for i, s, stamp in reported
        ] + [("message", text_message(f"wamid.in.{run}.{n}", "16315551181", f"hi {n}", now)) for n in inbound]
        bounds = sorted({0, len(items), *(c % (len(items) + 1) for c in cuts)})
        bodies = []
        for a, b in itertools.pairwise(bounds):
            part = items[a:b]
            bodies.append(
                notification(
                    facts,
                    *[value for kind, value in part if kind == "status"],
                    messages=[value for kind, value in part if kind == "message"] or None,
                )
            )
        bodies += [bodies[r % len(bodies)] for r in repeats]
        random.Random(seed).shuffle(bodies)
        async with httpx.AsyncClient(base_url=stack.rest_url, timeout=30) as client:
            answers = await asyncio.gather(*(post_signed(client, facts, body) for body in bodies))
        assert [a.status_code for a in answers] == [200] * len(bodies)

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pending = await conn.fetchval(
                "SELECT count(*) FILTER (WHERE state = 'received'), count(*) FROM raw_events "
                "WHERE tenant_id = $1 AND id > $2",
                tenant_id,
                start,
            )
            if pending == 0:
                break
            await asyncio.sleep(0.05)
        assert pending == 0, "callbacks not reconciled in time"
        assert await conn.fetchval(
            "SELECT count(*) FROM raw_events WHERE tenant_id = $1 AND id > $2", tenant_id, start
        ) == len(bodies)

        for i, message_id in enumerate(ids):
            mine = [(s, stamp) for j, s, stamp in reported if j == i]
            current = await conn.fetchval("SELECT status FROM messages WHERE id = $1", message_id)
            assert current == settle((s for s, _ in mine), initial=Status.SUBMITTED)
            trail = await conn.fetch(
                "SELECT reported_status, occurred_at FROM message_events WHERE message_id = $1", message_id
            )
            assert len(trail) == len(set(mine))  # each distinct fact once, duplicates nowhere
            assert {(r["reported_status"], int(r["occurred_at"].timestamp()) - now) for r in trail} == {
                (s.value, stamp) for s, stamp in mine
            }
        stored = await conn.fetch(
            "SELECT provider_message_id FROM inbound_messages WHERE tenant_id = $1 AND provider_message_id LIKE $2",
            tenant_id,
            f"wamid.in.{run}.%",
        )
        assert sorted(r["provider_message_id"] for r in stored) == sorted({f"wamid.in.{run}.{n}" for n in inbound})
    finally:
        await conn.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    reported=st.lists(STATUS, min_size=1, max_size=14),
    inbound=st.lists(st.integers(0, 3), max_size=5),
    by_our_id=st.lists(st.booleans(), min_size=3, max_size=3),
    cuts=st.lists(st.integers(0, 20), max_size=5),
    repeats=st.lists(st.integers(0, 10), max_size=3),
    seed=st.integers(0, 2**32),
)
def test_posted_in_any_order_and_split_the_outcome_is_the_state_machines(
    stack: Stack,
    facts: dict[str, Any],
    reported: list[tuple[int, Status, int]],
    inbound: list[int],
    by_our_id: list[bool],
    cuts: list[int],
    repeats: list[int],
    seed: int,
) -> None:
    asyncio.run(scenario(stack, facts, reported, inbound, by_our_id, cuts, repeats, seed))
