"""A gRPC call's deadline ends the server's work on it, not only the client's wait."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc as pb_grpc

from kernel.db import Pool
from tests.fixtures.stack import Stack

# The server's insert, waiting for the tenant row this test holds (its foreign key check).
WAITING = (
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO messages%' "
    "AND pid <> pg_backend_pid()"
)


async def test_a_send_abandoned_at_its_deadline_is_not_finished_later(
    stack: Stack, pool: Pool, tenant: dict[str, Any]
) -> None:
    key = f"deadline-{uuid.uuid4()}"
    request = pb.SendMessageRequest(to="+14155550123", text=pb.TextContent(body="hi"), idempotency_key=key)
    metadata = (("authorization", f"Bearer {tenant['api_key']}"),)
    async with pool.acquire() as holder, grpc.aio.insecure_channel(stack.grpc_target) as channel:
        blocked = holder.transaction()
        await blocked.start()
        # FOR UPDATE conflicts with the KEY SHARE lock the message's foreign key takes: the insert waits.
        await holder.execute("SELECT 1 FROM tenants WHERE id = $1::uuid FOR UPDATE", tenant["tenant_id"])
        try:
            call = pb_grpc.MessagingServiceStub(channel).SendMessage(request, metadata=metadata, timeout=2.0)
            assert await _eventually(pool, waiting=1), "the server's insert never reached the lock"
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call
            assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            # The server gave up too: its statement was cancelled, not left waiting for the lock.
            assert await _eventually(pool, waiting=0)
        finally:
            await blocked.rollback()
    # Had the server carried on, its insert would go through the moment the lock was released.
    await asyncio.sleep(1.0)
    stored = await pool.fetchval(
        "SELECT count(*) FROM messages WHERE tenant_id = $1::uuid AND idempotency_key = $2", tenant["tenant_id"], key
    )
    assert stored == 0


async def _eventually(pool: Pool, *, waiting: int) -> bool:
    for _ in range(50):
        if await pool.fetchval(WAITING) == waiting:
            return True
        await asyncio.sleep(0.1)
    return False
