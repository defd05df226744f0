"""A remembered caller: its write proves it is still current, and anything else is settled afresh."""

from __future__ import annotations

import os
import uuid
from typing import NamedTuple
from uuid import UUID

import pytest

from kernel.crypto import MasterKey
from kernel.db import Connection
from kernel.errors import InvalidInput, Unauthenticated
from messaging import repository
from tenants import service
from tenants.auth import authenticate
from tenants.callers import Callers
from tenants.domain import Principal, StaleCaller
from tenants.vault import Vault
from tests.fixtures.builders import tenant_with_sender


class Key(NamedTuple):
    key_id: UUID
    authorization: str


def row(sender_id: UUID) -> repository.NewMessage:
    return repository.NewMessage(
        id=uuid.uuid4(),
        idempotency_key=None,
        request_hash=b"h",
        sender_id=sender_id,
        sender_phone_number_id="123",
        to_number="+14155550123",
        content={"type": "text", "text": {"body": "hi"}},
    )


async def setup(conn: Connection) -> tuple[UUID, UUID, Key]:
    tenant_id = await tenant_with_sender(conn, Vault(MasterKey(os.urandom(32))), "Acme")
    sender_id: UUID = await conn.fetchval("SELECT id FROM senders WHERE tenant_id = $1", tenant_id)
    record, key = await service.create_api_key(conn, tenant_id)
    return tenant_id, sender_id, Key(record.id, f"Bearer {key}")


async def stored(conn: Connection, tenant_id: UUID) -> int:
    found: int = await conn.fetchval("SELECT count(*) FROM messages WHERE tenant_id = $1", tenant_id)
    return found


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1",
        "UPDATE tenants SET status = 'suspended' WHERE id = $1",
        "UPDATE tenants SET config_version = config_version + 1 WHERE id = $1",
        "UPDATE tenants SET monthly_budget = 100 WHERE id = $1",
        "UPDATE plans SET burst = burst + 1 WHERE id = (SELECT plan_id FROM tenants WHERE id = $1)",
        # Nothing a principal holds, but a new version of its tenant's row: refused all the same
        # (it costs the next request a fresh lookup, no more).
        "UPDATE tenants SET name = 'Acme Ltd' WHERE id = $1",
    ],
    ids=["revoked", "suspended", "reconfigured", "budget", "plan", "renamed"],
)
async def test_a_write_for_a_changed_caller_stores_nothing(conn: Connection, change: str) -> None:
    tenant_id, sender_id, key = await setup(conn)
    caller = await authenticate(conn, key.authorization)
    assert len(await repository.insert_messages(conn, tenant_id, [row(sender_id)], caller)) == 1
    await conn.execute(change, tenant_id)
    with pytest.raises(StaleCaller):
        async with conn.transaction():  # a savepoint: the refused statement aborts only it
            await repository.insert_messages(conn, tenant_id, [row(sender_id)], caller)
    assert await stored(conn, tenant_id) == 1
    # Unchecked, as the batch path and the reference handler write, the same row is stored.
    assert len(await repository.insert_messages(conn, tenant_id, [row(sender_id)])) == 1


async def test_other_rows_changing_keep_the_caller_current(conn: Connection) -> None:
    tenant_id, sender_id, key = await setup(conn)
    other, _, _ = await setup(conn)
    caller = await authenticate(conn, key.authorization)
    await service.create_api_key(conn, tenant_id, "another")
    await conn.execute(
        "UPDATE tenants SET name = 'Other Ltd', config_version = config_version + 1 WHERE id = $1", other
    )
    assert len(await repository.insert_messages(conn, tenant_id, [row(sender_id)], caller)) == 1


class Work:
    """Records how it was called; fails, or stores nothing, when told to."""

    def __init__(self) -> None:
        self.calls: list[tuple[Principal, bool]] = []
        self.fail: Exception | None = None
        self.proved = True

    async def __call__(self, caller: Principal, remembered: bool) -> str:
        self.calls.append((caller, remembered))
        if self.fail is not None:
            raise self.fail
        return "done"


async def run(callers: Callers, conn: Connection, authorization: str, work: Work) -> str:
    return await callers.run(conn, authorization, work, proved=lambda _: work.proved)


async def test_the_second_request_uses_the_remembered_caller(conn: Connection) -> None:
    _, _, key = await setup(conn)
    callers, work = Callers(), Work()
    assert await run(callers, conn, key.authorization, work) == "done"
    assert await run(callers, conn, key.authorization, work) == "done"
    assert [remembered for _, remembered in work.calls] == [False, True]


async def test_a_stale_write_runs_again_for_the_fresh_caller(conn: Connection) -> None:
    tenant_id, _, key = await setup(conn)
    callers, work = Callers(), Work()
    await run(callers, conn, key.authorization, work)
    await conn.execute("UPDATE tenants SET config_version = config_version + 1 WHERE id = $1", tenant_id)
    work.fail = StaleCaller("changed")
    with pytest.raises(StaleCaller):  # the fresh run is unchecked; this work fails it anyway
        await run(callers, conn, key.authorization, work)
    (old, _), (again, remembered), (fresh, unchecked) = work.calls
    assert remembered and not unchecked
    assert again == old and fresh.config_version == old.config_version + 1


async def test_an_error_for_a_revoked_key_reads_as_the_revocation(conn: Connection) -> None:
    tenant_id, _, key = await setup(conn)
    callers, work = Callers(), Work()
    await run(callers, conn, key.authorization, work)
    await service.revoke_api_key(conn, tenant_id, key.key_id)
    work.fail = InvalidInput("to", "e164", "not a number")
    with pytest.raises(Unauthenticated):
        await run(callers, conn, key.authorization, work)
    # Forgotten: the next request looks the key up (and is refused) before any work.
    with pytest.raises(Unauthenticated):
        await run(callers, conn, key.authorization, work)
    assert len(work.calls) == 2


async def test_an_error_for_an_unchanged_caller_stands_without_a_second_run(conn: Connection) -> None:
    _, _, key = await setup(conn)
    callers, work = Callers(), Work()
    await run(callers, conn, key.authorization, work)
    work.fail = InvalidInput("to", "e164", "not a number")
    with pytest.raises(InvalidInput):
        await run(callers, conn, key.authorization, work)
    assert [remembered for _, remembered in work.calls] == [False, True]


async def test_an_unproved_result_stands_only_for_an_unchanged_caller(conn: Connection) -> None:
    tenant_id, _, key = await setup(conn)
    callers, work = Callers(), Work()
    await run(callers, conn, key.authorization, work)
    work.proved = False  # an idempotent replay: nothing was written, so nothing was checked
    assert await run(callers, conn, key.authorization, work) == "done"
    assert len(work.calls) == 2
    await service.revoke_api_key(conn, tenant_id, key.key_id)
    with pytest.raises(Unauthenticated):
        await run(callers, conn, key.authorization, work)
    assert len(work.calls) == 3
