"""The quota gate against real Redis: rate and monthly boundaries, refunds, month rollover,
concurrent arrivals, and a Redis outage."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.errors import ErrorKind, Throttled
from kernel.scripts import ScriptRunner
from tenants.domain import Plan
from tenants.quotas import Quotas, quota_client
from tests.fixtures.services import RedisServer, free_port

TEST_REDIS = "redis://127.0.0.1:6379/15"


@pytest.fixture
async def client() -> AsyncIterator[ScriptRunner]:
    redis = quota_client(TEST_REDIS)
    try:
        yield redis
    finally:
        await redis.aclose()


def clock_at(*moment: int) -> Callable[[], datetime]:
    return lambda: datetime(*moment, tzinfo=UTC)  # type: ignore[misc]


async def outcome(quotas: Quotas, tenant: uuid.UUID, plan: Plan, channel: str = "whatsapp") -> str:
    try:
        await quotas.take(tenant, plan, channel)
    except Throttled as refused:
        return refused.kind.value
    return "ok"


async def test_exactly_the_burst_then_the_rate(client: ScriptRunner) -> None:
    quotas, tenant = Quotas(client), uuid.uuid4()
    plan = Plan(rate_per_second=2, burst=5)
    assert [await outcome(quotas, tenant, plan) for _ in range(5)] == ["ok"] * 5
    with pytest.raises(Throttled) as refused:
        await quotas.take(tenant, plan, "whatsapp")
    assert refused.value.kind is ErrorKind.RATE_LIMITED
    assert refused.value.subject == f"tenant:{tenant}:rate"
    assert 0 < refused.value.retry_after <= 0.5
    assert refused.value.headers["RateLimit-Policy"] == '"burst";q=5;w=3'
    assert refused.value.headers["RateLimit"].startswith('"burst";r=0;t=1')
    await asyncio.sleep(refused.value.retry_after + 0.05)
    assert await outcome(quotas, tenant, plan) == "ok"  # a token came back at the promised time
    assert await outcome(quotas, uuid.uuid4(), plan) == "ok"  # another tenant has its own bucket


async def test_the_monthly_quota_is_a_different_answer_and_per_channel_quotas_count_apart(
    client: ScriptRunner,
) -> None:
    quotas, tenant = Quotas(client), uuid.uuid4()
    plan = Plan(rate_per_second=1000, burst=1000, monthly_messages=3, monthly_by_channel={"sms": 1})
    assert await outcome(quotas, tenant, plan, "sms") == "ok"
    with pytest.raises(Throttled) as over_channel:
        await quotas.take(tenant, plan, "sms")
    assert over_channel.value.kind is ErrorKind.QUOTA_EXHAUSTED
    assert over_channel.value.subject == f"tenant:{tenant}:monthly:sms"
    admitted = await quotas.take(tenant, plan, "whatsapp")
    assert (admitted.month_limit, admitted.month_left) == (3, 1)
    assert admitted.headers()["RateLimit"].endswith(f'"monthly";r=1;t={admitted.month_reset}')
    assert await outcome(quotas, tenant, plan) == "ok"
    with pytest.raises(Throttled) as over_month:
        await quotas.take(tenant, plan, "whatsapp")
    assert over_month.value.kind is ErrorKind.QUOTA_EXHAUSTED
    assert over_month.value.subject == f"tenant:{tenant}:monthly"
    assert over_month.value.retry_after == admitted.month_reset or over_month.value.retry_after < admitted.month_reset


async def test_a_refund_gives_back_the_token_and_the_monthly_count(client: ScriptRunner) -> None:
    quotas, tenant = Quotas(client), uuid.uuid4()
    plan = Plan(rate_per_second=0.001, burst=1, monthly_messages=1)
    admission = await quotas.take(tenant, plan, "whatsapp")
    assert await outcome(quotas, tenant, plan) == "quota-exhausted"
    await admission.refund()
    await admission.refund()  # twice is still one refund
    assert await outcome(quotas, tenant, plan) == "ok"
    assert await outcome(quotas, tenant, plan) == "quota-exhausted"


async def test_the_month_rolls_over_at_midnight_utc(client: ScriptRunner) -> None:
    tenant = uuid.uuid4()
    plan = Plan(rate_per_second=1000, burst=1000, monthly_messages=2)
    last_second = Quotas(client, clock=clock_at(2026, 11, 30, 23, 59, 59))
    assert [await outcome(last_second, tenant, plan) for _ in range(3)] == ["ok", "ok", "quota-exhausted"]
    with pytest.raises(Throttled) as refused:
        await last_second.take(tenant, plan, "whatsapp")
    assert refused.value.retry_after == 1  # one second to December
    december = Quotas(client, clock=clock_at(2026, 12, 1, 0, 0, 0))
    assert [await outcome(december, tenant, plan) for _ in range(3)] == ["ok", "ok", "quota-exhausted"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    burst=st.integers(1, 30),
    rate=st.sampled_from([5.0, 20.0, 50.0]),
    waves=st.lists(st.tuples(st.integers(1, 40), st.floats(0, 0.05)), min_size=1, max_size=5),
)
async def test_concurrent_arrivals_never_exceed_burst_plus_refill(
    client: ScriptRunner, burst: int, rate: float, waves: list[tuple[int, float]]
) -> None:
    quotas, tenant = Quotas(client), uuid.uuid4()
    plan = Plan(rate_per_second=rate, burst=burst)
    started = time.monotonic()
    admitted = 0
    for size, pause in waves:
        results = await asyncio.gather(*(outcome(quotas, tenant, plan) for _ in range(size)))
        admitted += results.count("ok")
        assert set(results) <= {"ok", "rate-limited"}
        await asyncio.sleep(pause)
    elapsed = time.monotonic() - started
    assert admitted <= burst + rate * elapsed + 1e-9
    assert admitted >= min(burst, sum(size for size, _ in waves))  # the burst itself is always honoured


async def test_redis_down_admits_per_process_at_a_quarter_and_recovers() -> None:
    server = RedisServer()
    server.start()
    redis = quota_client(server.url)
    quotas, tenant = Quotas(redis), uuid.uuid4()
    plan = Plan(rate_per_second=0.001, burst=8)
    try:
        assert await outcome(quotas, tenant, plan) == "ok"
        server.stop()
        started = time.monotonic()
        during = [await outcome(quotas, tenant, plan) for _ in range(3)]
        assert time.monotonic() - started < 1.0  # fails fast: no 5 s timeouts, no retries
        assert during == ["ok", "ok", "rate-limited"]  # a quarter of the burst of 8, per process
        server.start()
        await asyncio.sleep(1.1)  # the gate tries Redis again after a second
        # Back on the shared bucket: this server kept nothing, so the bucket starts full again.
        assert [await outcome(quotas, tenant, plan) for _ in range(9)] == ["ok"] * 8 + ["rate-limited"]
    finally:
        await redis.aclose()
        server.stop()


async def test_unreachable_redis_never_raises_anything_but_throttled() -> None:
    redis = quota_client(f"redis://127.0.0.1:{free_port()}/0")
    try:
        quotas = Quotas(redis)
        assert await outcome(quotas, uuid.uuid4(), Plan(rate_per_second=100, burst=100)) == "ok"
    finally:
        await redis.aclose()
