"""Shared fixtures: a migrated PostgreSQL test database, Redis, and the running platform."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
import redis

from entrypoints import dev
from entrypoints.dev import provision_demo
from kernel import db
from kernel import settings as settings_module
from kernel.crypto import MasterKey
from migrations import upgrade
from tests.fixtures.builders import open_windows
from tests.fixtures.services import recreate_database
from tests.fixtures.stack import Stack

TEST_DB = "switchboard_test"
TEST_REDIS = "redis://127.0.0.1:6379/15"


@pytest.fixture(scope="session")
def database_dsn() -> str:
    dsn = asyncio.run(recreate_database(TEST_DB))
    upgrade(dsn)
    return dsn


@pytest.fixture(scope="session")
def stack(database_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    redis.Redis.from_url(TEST_REDIS).flushdb()
    running = Stack(database_dsn, TEST_REDIS, tmp_path_factory.mktemp("stack-logs"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
async def pool(database_dsn: str) -> AsyncIterator[db.Pool]:
    created = await db.create_pool(database_dsn, min_size=1, max_size=8)
    yield created
    await created.close()


@pytest.fixture
async def conn(pool: db.Pool) -> AsyncIterator[db.Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    async with pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        try:
            yield connection
        finally:
            await transaction.rollback()


def register_sender(stack: Stack, facts: dict[str, Any]) -> None:
    dev.register_sender(stack.sandbox_url, facts)


async def new_tenant(
    stack: Stack, *, windows: bool = True, our_mps: int | None = None, meta_mps: int | None = None
) -> dict[str, Any]:
    """A fresh tenant with an API key, a sandbox WhatsApp sender and an APPROVED template; with
    ``windows``, the test numbers have just written in (their 24-hour windows are open).

    ``our_mps`` sets the sender's configured throughput (the workers pace to it); ``meta_mps`` the
    limit the sandbox enforces with 130429, as Meta does.
    """
    settings = settings_module.load(stack.env)
    facts = await provision_demo(settings, MasterKey(settings.require_master_key()), None)
    facts["webhook_url"] = f"{stack.rest_url}/webhooks/whatsapp/{facts['channel_key']}"
    if meta_mps is not None:
        facts["throughput_mps"] = meta_mps
    register_sender(stack, facts)
    pool = await db.create_pool(settings.asyncpg_dsn, min_size=1, max_size=1)
    try:
        if windows:
            await open_windows(pool, UUID(facts["tenant_id"]))
        if our_mps is not None:
            await pool.execute(
                "UPDATE senders SET throughput_mps = $2 WHERE tenant_id = $1::uuid", facts["tenant_id"], our_mps
            )
    finally:
        await pool.close()
    return facts


@pytest.fixture
async def tenant(stack: Stack) -> dict[str, Any]:
    return await new_tenant(stack)


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.rest_url, timeout=30) as http:
        yield http


def auth(facts: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {facts['api_key']}"}


async def wait_for_status(
    client: httpx.AsyncClient, facts: dict[str, Any], message_id: str, wanted: set[str], timeout: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    message: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await client.get(f"/v1/messages/{message_id}", headers=auth(facts))
        message = response.json()
        if message.get("status") in wanted:
            return message
        await asyncio.sleep(0.1)
    raise AssertionError(f"message {message_id} stayed {message.get('status')!r}, wanted {wanted}")


ROOT = Path(__file__).resolve().parents[1]
