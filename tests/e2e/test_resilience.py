"""Failure of the parts around a message: Redis down at submit, a worker killed mid-delivery on
any channel (WhatsApp, SMS, email).

This module runs its own stack against its own database and a private Redis server that the tests
stop and start, so it cannot disturb the shared stack.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from kernel import db
from tests.conftest import auth, new_tenant, wait_for_status
from tests.e2e.conftest import make_email_tenant, make_sms_tenant
from tests.fixtures.routes import email, mailbox, send, sms_sent_to
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
        own_database("switchboard_test_resilience"),
        private_redis.url,
        tmp_path_factory.mktemp("resilience-logs"),
        # Long enough for a call on every channel to be in flight when the worker is killed.
        extra_env={"SWITCHBOARD_SANDBOX_SLOW_SECONDS": "8"},
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


@pytest.fixture
async def own_pool(own_stack: Stack) -> AsyncIterator[db.Pool]:
    created = await db.create_pool(own_stack.env["DATABASE_URL"].replace("+asyncpg", ""), min_size=1, max_size=2)
    yield created
    await created.close()


async def _attempt_states(pool: db.Pool, message_id: str, channel: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT state FROM delivery_attempts WHERE message_id = $1 AND channel = $2 ORDER BY attempt_number",
        uuid.UUID(message_id),
        channel,
    )
    return [r["state"] for r in rows]


@dataclass
class InFlight:
    """One message whose call on ``channel`` the test catches in flight."""

    channel: str
    facts: dict[str, Any]
    message_id: str
    copies: Callable[[], Awaitable[int]]  # how many copies of it the provider holds
    final: str  # the message's status once it has arrived


async def _kill_worker_mid_calls(stack: Stack, pool: db.Pool, calls: list[InFlight], accepted_first: bool) -> None:
    """SIGKILL the worker while every one of ``calls`` is at its provider, then start a new worker.

    ``accepted_first``: the provider accepts before it answers (kill once it holds each message);
    otherwise it holds the request and accepts only if the caller is still there (kill meanwhile).
    """
    deadline = time.monotonic() + 30
    waiting = list(calls)
    while waiting and time.monotonic() < deadline:
        call = waiting[0]
        in_flight = (await _attempt_states(pool, call.message_id, call.channel))[-1:] == ["pending"]
        if in_flight and (not accepted_first or await call.copies() == 1):
            waiting.pop(0)
        else:
            await asyncio.sleep(0.05)
    assert not waiting, f"never in flight: {[(c.channel, c.message_id) for c in waiting]}"
    if not accepted_first:
        await asyncio.sleep(0.5)  # the last request is in its provider's hands
    # Every call must still be in flight: the sandbox answers SLOW_SECONDS late.
    for call in calls:
        assert (await _attempt_states(pool, call.message_id, call.channel))[-1:] == ["pending"]
    stack.kill_process("worker")
    stack.start_process("worker")


async def _settled_attempts(pool: db.Pool, message_id: str, channel: str) -> list[str]:
    """The channel's attempts once none is pending: Dramatiq hands the dead worker's task to the new
    worker when its heartbeat is stale, and that task must settle the pending attempt."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        states = await _attempt_states(pool, message_id, channel)
        if "pending" not in states:
            return states
        await asyncio.sleep(0.5)
    raise AssertionError(f"the {channel} attempt of {message_id} stayed pending: {states}")


async def _on_every_channel(
    stack: Stack, client: httpx.AsyncClient, pool: db.Pool, accepted_first: bool
) -> list[InFlight]:
    """A message on each channel, sent where the sandbox answers late (``...0504``, ``slow@``) or
    keeps it only if the caller waits (``...0408``, ``slow-drop@``)."""
    number = "+14155550504" if accepted_first else "+14155550408"
    address = f"{'slow' if accepted_first else 'slow-drop'}+{uuid.uuid4().hex[:8]}@example.com"

    on_whatsapp = await new_tenant(stack)
    response = await client.post(
        "/v1/messages", json={"to": number, "text": {"body": "slow"}}, headers=auth(on_whatsapp)
    )
    whatsapp_id = response.json()["id"]

    async def whatsapp_copies() -> int:
        url = f"{stack.sandbox_url}/_sandbox/whatsapp/sends"
        count: int = (await client.get(url, params={"tracker": whatsapp_id})).json()["count"]
        return count

    on_sms = await make_sms_tenant(stack, pool)
    # WhatsApp is down for this tenant's number: its retries run out and the route moves on to SMS.
    outage = f"{stack.sandbox_url}/_sandbox/whatsapp/phone_numbers/{on_sms['phone_number_id']}/outage"
    assert (await client.put(outage, json={"code": 2, "seconds": 120})).status_code == 200
    sms_id = await send(client, on_sms, number)

    async def sms_copies() -> int:  # other tests text the same number: count this message's
        return sum(sms_id in m.get("StatusCallback", "") for m in await sms_sent_to(client, stack, number))

    on_email = await make_email_tenant(stack, pool)
    email_id = await send(client, on_email, "+14155550000", fallback=email(address), channels=["whatsapp", "email"])

    async def email_copies() -> int:
        return len(await mailbox(client, stack, address))

    return [
        InFlight("whatsapp", on_whatsapp, whatsapp_id, whatsapp_copies, "read"),
        InFlight("sms", on_sms, sms_id, sms_copies, "delivered"),
        InFlight("email", on_email, email_id, email_copies, "delivered"),
    ]


@pytest.mark.parametrize(
    ("accepted_first", "attempts"),
    [
        # The provider accepted, but the worker died before hearing so: the provider's callback
        # (which carries our id) settles the message, and the redelivered task sends nothing.
        pytest.param(True, ["accepted"], id="accepted-before-the-answer"),
        # The provider never accepted (the call died with the worker): after the hold period the
        # redelivered task sends again; the abandoned attempt is recorded as ambiguous.
        pytest.param(False, ["ambiguous", "accepted"], id="dropped-with-the-caller"),
    ],
)
async def test_a_worker_killed_mid_call_delivers_each_message_once_on_every_channel(
    own_stack: Stack, own_client: httpx.AsyncClient, own_pool: db.Pool, accepted_first: bool, attempts: list[str]
) -> None:
    calls = await _on_every_channel(own_stack, own_client, own_pool, accepted_first)
    await _kill_worker_mid_calls(own_stack, own_pool, calls, accepted_first)
    found = {}
    for call in calls:
        await wait_for_status(own_client, call.facts, call.message_id, {call.final}, timeout=90)
        found[call.channel] = (await _settled_attempts(own_pool, call.message_id, call.channel), await call.copies())
    assert found == {call.channel: (attempts, 1) for call in calls}


@pytest.mark.parametrize(
    ("accepted_first", "attempts", "copies", "final"),
    [
        # Accepted, answered after our timeout: held, then settled by the provider's callback.
        pytest.param(True, ["accepted"], 1, None, id="accepted-but-answered-too-late"),
        # Never accepted because we always hung up first: each try is held, then made again, until
        # the attempts run out; nothing was ever sent.
        pytest.param(False, ["ambiguous"] * 3, 0, "failed", id="never-answered-in-time"),
    ],
)
async def test_a_provider_that_answers_too_late_never_gets_a_message_twice(
    own_stack: Stack,
    own_client: httpx.AsyncClient,
    own_pool: db.Pool,
    accepted_first: bool,
    attempts: list[str],
    copies: int,
    final: str | None,
) -> None:
    # Calls time out after 2 s; the sandbox answers these recipients 8 s late.
    own_stack.stop_process("worker")
    own_stack.start_process("worker", env={"SWITCHBOARD_PROVIDER_TIMEOUT_SECONDS": "2"})
    try:
        calls = await _on_every_channel(own_stack, own_client, own_pool, accepted_first)
        found = {}
        for call in calls:
            await wait_for_status(own_client, call.facts, call.message_id, {final or call.final}, timeout=90)
            found[call.channel] = (
                await _settled_attempts(own_pool, call.message_id, call.channel),
                await call.copies(),
            )
    finally:
        own_stack.stop_process("worker")
        own_stack.start_process("worker")
    assert found == {call.channel: (attempts, copies) for call in calls}
