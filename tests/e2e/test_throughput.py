"""Provider throughput in the workers, against the sandbox that enforces a number's limit with
130429 as Meta does."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import httpx

from tests.conftest import auth, new_tenant, wait_for_status
from tests.fixtures.stack import Stack

NUMBERS = [f"+1415555{n:04d}" for n in range(120, 126)]  # test numbers whose windows are open


async def burst(client: httpx.AsyncClient, facts: dict[str, Any], count: int) -> list[str]:
    async def one(i: int) -> str:
        body = {"to": NUMBERS[i % len(NUMBERS)], "text": {"body": f"m{i}"}}
        sent = await client.post("/v1/messages", json=body, headers=auth(facts))
        assert sent.status_code == 202, sent.text
        message_id: str = sent.json()["id"]
        return message_id

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def number_stats(client: httpx.AsyncClient, stack: Stack, facts: dict[str, Any]) -> dict[str, Any]:
    url = f"{stack.sandbox_url}/_sandbox/whatsapp/phone_numbers/{facts['phone_number_id']}/stats"
    stats: dict[str, Any] = (await client.get(url)).json()
    return stats


async def test_sends_are_paced_to_the_numbers_throughput_across_workers(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    facts = await new_tenant(stack, our_mps=5, meta_mps=5)
    started = time.monotonic()
    ids = await burst(client, facts, 20)
    for message_id in ids:
        await wait_for_status(client, facts, message_id, {"sent", "delivered", "read"}, timeout=30)
    elapsed = time.monotonic() - started
    stats = await number_stats(client, stack, facts)
    assert stats["sent"] == 20
    assert stats["refused_over_limit"] == 0  # Meta never had to refuse one
    assert stats["max_per_second"] <= 5
    assert elapsed >= 3.0  # 20 sends at 5/s cannot all leave in less


async def test_a_130429_pauses_the_number_then_it_resumes(client: httpx.AsyncClient, stack: Stack) -> None:
    # We believe the number may send 50/s; Meta allows it 2.
    facts = await new_tenant(stack, our_mps=50, meta_mps=2)
    ids = await burst(client, facts, 6)
    for message_id in ids:
        await wait_for_status(client, facts, message_id, {"sent", "delivered", "read"}, timeout=60)
    stats = await number_stats(client, stack, facts)
    assert stats["sent"] == 6 and stats["refused_over_limit"] >= 1
    seconds = [second for second, _ in stats["per_second"]]
    # After a refusal the number went quiet for the pause (5 s), every process included.
    assert any(b - a >= 4 for a, b in itertools.pairwise(seconds))
    log = (stack.log_dir / "worker.log").read_text()
    assert "sender paused" in log


async def test_a_storm_of_130429_uses_no_attempts_and_loses_nothing(
    client: httpx.AsyncClient, stack: Stack, pool: Any
) -> None:
    """Meta refuses everything for 16 s: each message is throttled three or four times (the number
    pauses 5 s after each refusal), more than the stack's 3 attempts, yet each is sent once. (With
    11 s, a loaded machine could push the third refusal past the outage: 3 attempts, proving nothing.)"""
    facts = await new_tenant(stack)
    outage = f"{stack.sandbox_url}/_sandbox/whatsapp/phone_numbers/{facts['phone_number_id']}/outage"
    scheduled = (await client.put(outage, json={"code": 130429, "seconds": 16})).json()
    assert scheduled["scheduled"], scheduled
    ids = await burst(client, facts, 3)
    for message_id in ids:
        await wait_for_status(client, facts, message_id, {"sent", "delivered", "read"}, timeout=45)
    stats = await number_stats(client, stack, facts)
    assert stats["sent"] == 3 and stats["refused_in_outage"] >= 3
    for message_id in ids:
        sends = (
            await client.get(f"{stack.sandbox_url}/_sandbox/whatsapp/sends", params={"tracker": message_id})
        ).json()
        assert sends["count"] == 1
    attempts = await pool.fetch(
        "SELECT message_id, count(*) AS n, count(*) FILTER (WHERE error_code = 130429) AS throttled "
        "FROM delivery_attempts WHERE tenant_id = $1::uuid GROUP BY message_id",
        facts["tenant_id"],
    )
    assert max(a["n"] for a in attempts) > 3  # the stack's SWITCHBOARD_MAX_ATTEMPTS
    assert all(a["n"] == a["throttled"] + 1 for a in attempts)  # every attempt on record


async def test_past_the_daily_tier_a_new_recipient_fails_when_the_plan_says_so(
    client: httpx.AsyncClient, stack: Stack, pool: Any
) -> None:
    facts = await new_tenant(stack)
    await pool.execute("UPDATE senders SET messaging_tier = 'TIER_2' WHERE tenant_id = $1::uuid", facts["tenant_id"])
    made = stack.cli("plans", "set", "strict-tier", "--rate", "100", "--burst", "100", "--tier-policy", "fail")
    assert made.returncode == 0, made.stderr
    assert stack.cli("tenant", "plan", "--tenant", facts["tenant_id"], "strict-tier").returncode == 0

    async def send(to: str) -> str:
        sent = await client.post("/v1/messages", json={"to": to, "text": {"body": "hi"}}, headers=auth(facts))
        assert sent.status_code == 202
        message_id: str = sent.json()["id"]
        return message_id

    first = await send(NUMBERS[0])
    await wait_for_status(client, facts, first, {"sent", "delivered", "read"})
    second = await send(NUMBERS[1])
    await wait_for_status(client, facts, second, {"sent", "delivered", "read"})
    third = await wait_for_status(client, facts, await send(NUMBERS[2]), {"failed"})
    assert "daily limit of 2 new recipients (TIER_2)" in third["error"]["reason"]
    again = await send(NUMBERS[0])  # someone already messaged today does not count again
    await wait_for_status(client, facts, again, {"sent", "delivered", "read"})
