"""Sender and pair pacing against real Redis: evenly spaced slots, never over the rate in any
window, pair slots in order, and a pause after Meta says the number is over its throughput."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from kernel.scripts import ScriptRunner
from messaging.pacing import MAX_SLEEP_MS, SAFETY, Pacer

TEST_REDIS = "redis://127.0.0.1:6379/15"


@pytest.fixture
async def runner() -> AsyncIterator[ScriptRunner]:
    client = ScriptRunner(TEST_REDIS)
    try:
        yield client
    finally:
        await client.aclose()


async def test_slots_follow_the_sender_rate_across_concurrent_callers(runner: ScriptRunner) -> None:
    pacer, sender = Pacer(runner, pair_interval_ms=0), uuid.uuid4().hex
    slots = await asyncio.gather(*(pacer.reserve(sender, f"+1415555{i:04d}", 50) for i in range(100)))
    assert all(s.reserved for s in slots)
    waits = sorted(s.wait_ms for s in slots)
    interval = round(1000 / (50 * SAFETY))
    assert waits[0] <= 5 and all(b - a >= interval - 2 for a, b in itertools.pairwise(waits))
    # Any one-second window holds at most the rate.
    assert max(sum(1 for w in waits if start <= w < start + 1000) for start in waits) <= 50


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
