"""The outbox relay on real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from redis.backoff import NoBackoff
from redis.retry import Retry

from kernel import db, outbox
from kernel.db import Connection, Pool
from kernel.inflight import WorkerLedger
from kernel.outbox_relay import Relay
from kernel.scripts import ScriptRunner
from kernel.worker import Batching
from tests.fixtures.services import own_database

REDIS_URL = "redis://127.0.0.1:6379/12"


@pytest.fixture(scope="module")
def database_dsn() -> str:
    """A database of its own: a running stack's relay would otherwise claim these tests' rows."""
    return own_database("switchboard_test_relay")


@pytest.fixture(scope="module")
async def pool(database_dsn: str) -> AsyncIterator[Pool]:
    created = await db.create_pool(database_dsn, min_size=1, max_size=4)
    yield created
    await created.close()


@pytest.fixture
def broker() -> Iterator[RedisBroker]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    test_broker = RedisBroker(url=REDIS_URL, namespace="relaytest")
    test_broker.add_middleware(Batching())

    @dramatiq.actor(broker=test_broker, actor_name="test.noop", queue_name="relaytest")
    def noop(**kwargs: object) -> None:
        """Only its name and queue matter here."""

    @dramatiq.actor(broker=test_broker, actor_name="test.batch", queue_name="relaytest", max_batch=3)
    def batch(**kwargs: object) -> None:
        """Only its name, queue and batch size matter here."""

    @dramatiq.actor(broker=test_broker, actor_name="test.bulk", queue_name="relaytest", in_flight="m")
    def bulk(**kwargs: object) -> None:
        """Its items are counted in their tenant's in-flight ledger, known by their ``m``."""

    yield test_broker
    test_broker.close()
    client.flushdb()


def queued(topic_filter: str = "test.noop") -> list[dict[str, object]]:
    client = redis.Redis.from_url(REDIS_URL)
    ids = client.lrange("relaytest:relaytest", 0, -1)
    messages = [json.loads(m) for m in client.hmget("relaytest:relaytest.msgs", ids)] if ids else []
    return [m for m in messages if m["actor_name"] == topic_filter]


async def clear_outbox(pool: Pool) -> None:
    await pool.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")


@pytest.fixture(autouse=True)
async def leave_no_rows(pool: Pool) -> AsyncIterator[None]:
    yield
    await pool.execute("DELETE FROM outbox WHERE topic LIKE 'test.%'")


async def test_a_row_for_an_unknown_actor_is_set_aside_without_blocking_others(
    pool: Pool, database_dsn: str, broker: RedisBroker
) -> None:
    await clear_outbox(pool)
    async with pool.acquire() as conn, conn.transaction():
        poison = await outbox.enqueue(conn, "test.nobody_listens", n=0)
        await outbox.enqueue(conn, "test.noop", n=1)
    assert await Relay(pool, database_dsn, broker).drain_once() == 2
    assert [m["kwargs"]["n"] for m in queued()] == [1]  # type: ignore[index]
    row = await pool.fetchrow("SELECT published_at, error FROM outbox WHERE id = $1", poison)
    assert row["published_at"] is not None
    assert row["error"] == "no actor named 'test.nobody_listens'"


async def test_rows_committed_late_are_still_published(pool: Pool, database_dsn: str, broker: RedisBroker) -> None:
    await clear_outbox(pool)
    relay = Relay(pool, database_dsn, broker)
    async with pool.acquire() as slow:
        transaction = slow.transaction()
        await transaction.start()
        early_id = await outbox.enqueue(slow, "test.noop", n=1)  # lower id, commits last
        async with pool.acquire() as fast, fast.transaction():
            late_id = await outbox.enqueue(fast, "test.noop", n=2)
        assert late_id > early_id
        assert await relay.drain_once() == 1
        await transaction.commit()
    assert await relay.drain_once() == 1
    assert sorted(m["kwargs"]["n"] for m in queued()) == [1, 2]  # type: ignore[index]
    assert {m["message_id"] for m in queued()} == {f"outbox-{early_id}", f"outbox-{late_id}"}


async def test_rows_of_a_batch_actor_share_messages_up_to_its_batch_size(
    pool: Pool, database_dsn: str, broker: RedisBroker
) -> None:
    await clear_outbox(pool)
    async with pool.acquire() as conn, conn.transaction():
        ids = [await outbox.enqueue(conn, "test.batch", n=n) for n in range(7)]
        await outbox.enqueue(conn, "test.noop", n=99)
    assert await Relay(pool, database_dsn, broker).drain_once() == 8
    batches = [m["kwargs"]["batch"] for m in queued("test.batch")]  # type: ignore[index]
    assert batches == [[{"n": 0}, {"n": 1}, {"n": 2}], [{"n": 3}, {"n": 4}, {"n": 5}], [{"n": 6}]]
    assert {m["message_id"] for m in queued("test.batch")} == {
        f"outbox-{ids[0]}+2",
        f"outbox-{ids[3]}+2",
        f"outbox-{ids[6]}+0",
    }
    assert [m["kwargs"]["n"] for m in queued()] == [99]  # type: ignore[index]


async def test_transactional_rows_are_published_before_bulk_rows_queued_earlier(
    pool: Pool, database_dsn: str, broker: RedisBroker
) -> None:
    await clear_outbox(pool)
    async with pool.acquire() as conn, conn.transaction():
        await add_bulk(conn, "test.noop", TENANT_A, [f"bulk-{n}" for n in range(5)])
        await outbox.enqueue(conn, "test.noop", n="otp")
    relay = Relay(pool, database_dsn, broker, batch=2)
    assert await relay.drain_once() == 2
    assert [m["kwargs"]["n"] for m in queued()] == ["otp", "bulk-0"]  # type: ignore[index]


TENANT_A = uuid.UUID("aaaaaaaa-0000-4000-8000-000000000000")
TENANT_C = uuid.UUID("cccccccc-0000-4000-8000-000000000000")


async def add_bulk(conn: Connection, topic: str, tenant: uuid.UUID, names: list[str]) -> None:
    await conn.executemany(
        "INSERT INTO outbox (topic, payload, priority, tenant_id) VALUES ($1, $2, 1, $3)",
        [(topic, {"n": name, "m": name, "tenant_id": str(tenant)}, tenant) for name in names],
    )


async def test_bulk_rows_are_shared_among_tenants_not_first_come_first_served(
    pool: Pool, database_dsn: str, broker: RedisBroker
) -> None:
    await clear_outbox(pool)
    async with pool.acquire() as conn, conn.transaction():
        await add_bulk(conn, "test.noop", TENANT_A, [f"a{n}" for n in range(30)])
        await add_bulk(conn, "test.noop", TENANT_C, ["c0", "c1", "c2"])  # queued after all of A's
    assert await Relay(pool, database_dsn, broker, batch=10).drain_once() == 10
    # C's three go out in the first pass, alternating with A's oldest; A's keep their order.
    assert [m["kwargs"]["n"] for m in queued()] == [  # type: ignore[index]
        "a0", "c0", "a1", "c1", "a2", "c2", "a3", "a4", "a5", "a6",
    ]  # fmt: skip


async def test_a_tenant_at_its_in_flight_limit_waits_while_others_go_on(
    pool: Pool, database_dsn: str, broker: RedisBroker
) -> None:
    await clear_outbox(pool)
    async with pool.acquire() as conn, conn.transaction():
        await add_bulk(conn, "test.bulk", TENANT_A, [f"a{n}" for n in range(20)])
    relay = Relay(pool, database_dsn, broker, bulk_in_flight=5)
    assert await relay.drain_once() == 5
    assert await relay.drain_once() == 0  # A's five are still with the workers

    async with pool.acquire() as conn, conn.transaction():
        await add_bulk(conn, "test.bulk", TENANT_C, ["c0", "c1"])
    assert await relay.drain_once() == 2  # C has room of its own

    # Workers finish three of A's items; A gets exactly that much room back.
    runner = ScriptRunner(REDIS_URL)
    try:
        await WorkerLedger(runner).done({str(TENANT_A): ["a0", "a1", "a2"]})
    finally:
        await runner.aclose()
    assert await relay.drain_once() == 3
    assert [m["kwargs"]["n"] for m in queued("test.bulk")] == [  # type: ignore[index]
        "a0", "a1", "a2", "a3", "a4", "c0", "c1", "a5", "a6", "a7",
    ]  # fmt: skip
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'test.bulk' AND published_at IS NULL") == 12


async def test_two_relays_never_publish_the_same_row(pool: Pool, database_dsn: str, broker: RedisBroker) -> None:
    await clear_outbox(pool)
    async with pool.acquire() as conn, conn.transaction():
        for n in range(300):
            await outbox.enqueue(conn, "test.noop", n=n)
    relays = [Relay(pool, database_dsn, broker, batch=25) for _ in range(3)]

    async def drain(relay: Relay) -> None:
        while await relay.drain_once():
            pass

    await asyncio.gather(*(drain(r) for r in relays))
    published = [m["kwargs"]["n"] for m in queued()]  # type: ignore[index]
    assert sorted(published) == list(range(300))
    assert sum(r.published for r in relays) == 300


async def test_rows_stay_unpublished_while_redis_is_down(pool: Pool, database_dsn: str) -> None:
    await clear_outbox(pool)
    dead = RedisBroker(
        url="redis://127.0.0.1:1/0", namespace="relaytest", socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )

    @dramatiq.actor(broker=dead, actor_name="test.noop", queue_name="relaytest")
    def noop(**kwargs: object) -> None:
        """Only its name and queue matter here."""

    async with pool.acquire() as conn, conn.transaction():
        row_id = await outbox.enqueue(conn, "test.noop", n=1)
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the Redis client raises
        await Relay(pool, database_dsn, dead).drain_once()
    assert await pool.fetchval("SELECT published_at FROM outbox WHERE id = $1", row_id) is None
