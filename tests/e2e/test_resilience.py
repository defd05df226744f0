"""Failure of the parts around a message: Redis down at submit, a worker killed mid-delivery.

This module runs its own stack against its own database and a private Redis server that the tests
stop and start, so it cannot disturb the shared stack.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import auth, new_tenant, wait_for_status
from tests.fixtures.services import RedisServer, own_database
from tests.fixtures.stack import Stack


@pytest.fixture(scope="module")
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def own_stack(private_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(
        own_database("switchboard_test_resilience"), private_redis.url, tmp_path_factory.mktemp("resilience-logs")
    )
    running.start()
    yield running
    running.stop()


@pytest.fixture
async def own_client(own_stack: Stack) -> Any:
    async with httpx.AsyncClient(base_url=own_stack.rest_url, timeout=30) as http:
        yield http


async def test_message_accepted_while_redis_is_down_is_delivered_when_it_returns(
    own_stack: Stack, own_client: httpx.AsyncClient, private_redis: RedisServer
) -> None:
    facts = await new_tenant(own_stack)
    private_redis.stop()
    try:
        response = await own_client.post(
            "/v1/messages", json={"to": "+14155550123", "text": {"body": "during the outage"}}, headers=auth(facts)
        )
        assert response.status_code == 202
        await asyncio.sleep(2)
        assert (await own_client.get(f"/v1/messages/{response.json()['id']}", headers=auth(facts))).json()[
            "status"
        ] == "queued"
    finally:
        private_redis.start()
    await wait_for_status(own_client, facts, response.json()["id"], {"read"}, timeout=60)


@pytest.mark.parametrize(
    ("to", "attempts"),
    [
        # The provider accepted, but the worker died before hearing so: the status webhook (our id
        # in biz_opaque_callback_data) settles the message, and the redelivered task sends nothing.
        ("+14155550504", 1),
        # The provider never accepted (the call died with the worker): after the hold period the
        # redelivered task sends again; the abandoned attempt is recorded as ambiguous.
        ("+14155550408", 2),
    ],
)
async def test_worker_killed_mid_delivery_delivers_once_after_restart(
    own_stack: Stack, own_client: httpx.AsyncClient, to: str, attempts: int
) -> None:
    from kernel import db

    facts = await new_tenant(own_stack)
    response = await own_client.post("/v1/messages", json={"to": to, "text": {"body": "slow"}}, headers=auth(facts))
    message_id = response.json()["id"]
    pool = await db.create_pool(own_stack.env["DATABASE_URL"].replace("+asyncpg", ""), min_size=1, max_size=1)
    try:

        async def sandbox_sends() -> int:
            url = f"{own_stack.sandbox_url}/_sandbox/whatsapp/sends"
            count: int = (await own_client.get(url, params={"tracker": message_id})).json()["count"]
            return count

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state = await pool.fetchval(
                "SELECT state FROM delivery_attempts WHERE message_id = $1", uuid.UUID(message_id)
            )
            # Kill only once the request is at the provider: accepted there (0504), or in its hands (0408).
            if state == "pending" and (await sandbox_sends() == 1 if attempts == 1 else True):
                break
            await asyncio.sleep(0.05)
        assert state == "pending"
        await asyncio.sleep(0.5 if attempts == 2 else 0)
        own_stack.kill_process("worker")
        own_stack.start_process("worker")
        await wait_for_status(own_client, facts, message_id, {"read"}, timeout=90)
        # Dramatiq hands the dead worker's task to the new worker once its heartbeat is stale; the
        # redelivered task must settle the pending attempt without a second send.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            recorded = await pool.fetch(
                "SELECT state FROM delivery_attempts WHERE message_id = $1 ORDER BY attempt_number",
                uuid.UUID(message_id),
            )
            if "pending" not in [r["state"] for r in recorded]:
                break
            await asyncio.sleep(0.5)
        assert [r["state"] for r in recorded] == (["accepted"] if attempts == 1 else ["ambiguous", "accepted"])
    finally:
        await pool.close()
    assert await sandbox_sends() == 1
    final = (await own_client.get(f"/v1/messages/{message_id}", headers=auth(facts))).json()
    assert final["status"] == "read"
