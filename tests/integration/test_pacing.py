"""Sender and pair pacing against real Redis: evenly spaced slots, never over the rate in any
window, pair slots in order, and a pause after Meta says the number is over its throughput."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis

from kernel.scripts import ScriptRunner
from messaging.pacing import MAX_SLEEP_MS, SAFETY, Pacer, Slot, next_day_ms, tier_limit

TEST_REDIS = "redis://127.0.0.1:6379/15"


@pytest.fixture
async def runner() -> AsyncIterator[ScriptRunner]:
    # These tests are about the slots handed out, not the client's 250 ms limit: a busy shared
    # machine once took longer than that to accept the first connection.
    client = ScriptRunner(TEST_REDIS, timeout=5)
    try:
        yield client
    finally:
        await client.aclose()


async def test_slots_follow_the_sender_rate_across_concurrent_callers(runner: ScriptRunner) -> None:
    pacer, sender = Pacer(runner, pair_interval_ms=0), uuid.uuid4().hex
    clock = redis.Redis.from_url(TEST_REDIS)

    def redis_ms() -> int:
        seconds, micros = clock.time()
        return int(seconds) * 1000 + int(micros) // 1000

    before = redis_ms()
    slots = await asyncio.gather(*(pacer.reserve(sender, f"+1415555{i:04d}", 50) for i in range(100)))
    after = redis_ms()
    assert all(s.reserved for s in slots)
    # Exactly 100 slots, each one interval after the last, were handed out from the first one on:
    # never two sends in one slot, whatever the interleaving of the callers.
    interval = round(1000 / (50 * SAFETY))
    next_free = int(clock.get(f"switchboard:pace:{{{sender}}}") or 0)
    assert before + 100 * interval <= next_free <= after + 100 * interval
    assert max(s.wait_ms for s in slots) >= 99 * interval - (after - before)


async def test_a_slot_too_far_ahead_is_not_reserved(runner: ScriptRunner) -> None:
    pacer, sender = Pacer(runner, pair_interval_ms=0), uuid.uuid4().hex
    reserved = [await pacer.reserve(sender, "+14155550000", 1) for _ in range(12)]
    assert [s.reserved for s in reserved] == [True] * 10 + [False] * 2  # 1/s: ten slots within 10 s
    assert reserved[-1].wait_ms > MAX_SLEEP_MS
    assert reserved[-1].wait_ms == pytest.approx(reserved[-2].wait_ms, abs=50)  # refusals took nothing


async def test_pair_slots_are_six_seconds_apart_in_order_and_other_recipients_go_on(runner: ScriptRunner) -> None:
    pacer, sender = Pacer(runner, pair_interval_ms=6000), uuid.uuid4().hex
    first = await pacer.reserve(sender, "+14155550123", 80)
    second = await pacer.reserve(sender, "+14155550123", 80)
    other = await pacer.reserve(sender, "+14155550124", 80)
    assert first.reserved and first.wait_ms <= 5
    assert second.reserved and 5900 <= second.wait_ms <= 6000
    # The sender's schedule moved to the second's slot; other recipients wait for it, never jump it.
    assert other.reserved and other.wait_ms >= second.wait_ms
    third = await pacer.reserve(sender, "+14155550123", 80)
    assert not third.reserved and third.wait_ms >= 11_900  # beyond the furthest: comes back later


async def test_a_pause_holds_every_send_of_that_number_only(runner: ScriptRunner) -> None:
    pacer, sender, other = Pacer(runner, pair_interval_ms=0), uuid.uuid4().hex, uuid.uuid4().hex
    await pacer.pause(sender, 1500)
    held = await pacer.reserve(sender, "+14155550123", 80)
    free = await pacer.reserve(other, "+14155550123", 80)
    assert held.reserved and 1400 <= held.wait_ms <= 1500
    assert free.wait_ms <= 5
    started = time.monotonic()
    await pacer.wait(held)
    assert time.monotonic() - started >= 1.39


async def test_the_daily_tier_counts_new_recipients_once_per_account(runner: ScriptRunner) -> None:
    pacer, sender, account = Pacer(runner, pair_interval_ms=0), uuid.uuid4().hex, uuid.uuid4().hex

    async def reserve(to: str, number: str = sender) -> Slot:
        return await pacer.reserve(number, to, 1000, account=account, daily_recipients=2, today="2026-11-22")

    first, second, third, again = [await reserve(f"+1415555000{n}") for n in (1, 2, 3, 1)]
    assert [s.reserved for s in (first, second, third, again)] == [True, True, False, True]
    assert third.tier_reached and not again.tier_reached
    # Another number of the same account shares the count; tomorrow starts afresh.
    assert (await reserve("+14155550004", uuid.uuid4().hex)).tier_reached
    tomorrow = await pacer.reserve(
        sender, "+14155550003", 1000, account=account, daily_recipients=2, today="2026-11-23"
    )
    assert tomorrow.reserved


def test_tier_names_and_the_next_day() -> None:
    assert [tier_limit(t) for t in ("TIER_250", "TIER_2K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED", None)] == [
        250,
        2000,
        10_000,
        100_000,
        None,
        None,
    ]
    assert next_day_ms(datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)) == 1000
