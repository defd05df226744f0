"""Master key rotation: every secret stays readable throughout, an interrupted rotation resumes,
concurrent rotations share the work, and a process given the wrong key refuses to start."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from uuid import UUID

import pytest

from kernel import db
from kernel.crypto import Keyring, MasterKey
from tenants import service as tenants_service
from tenants.keys import missing_keys, rotate
from tenants.vault import Vault
from tests.fixtures.services import own_database

TENANTS = 230  # more than two batches of 100


@pytest.fixture(scope="module")
def database_dsn() -> str:
    """Its own database: rotating the running stack's tenants would lock its processes out."""
    return own_database("switchboard_test_keys")


@pytest.fixture
async def keys_pool(database_dsn: str) -> AsyncIterator[db.Pool]:
    created = await db.create_pool(database_dsn, min_size=1, max_size=4)
    async with created.acquire() as conn:
        await conn.execute("TRUNCATE tenants CASCADE")
    yield created
    await created.close()


async def tenants_with_secrets(pool: db.Pool, old: MasterKey) -> dict[UUID, tuple[UUID, bytes]]:
    """Tenants whose data keys are wrapped by ``old``, each with a sealed secret."""
    vault = Vault(old)
    made: dict[UUID, tuple[UUID, bytes]] = {}
    async with db.unit_of_work(pool) as conn:
        for n in range(TENANTS):
            tenant = await tenants_service.create_tenant(conn, vault, f"t{n}")
            credential = await tenants_service.add_sms_credential(
                conn, vault, tenant.id, name="sms", account_sid="AC1", auth_token=f"token-{n}", from_number="+1555"
            )
            sealed = await conn.fetchval("SELECT sealed_secrets FROM credentials WHERE id = $1", credential.id)
            made[tenant.id] = (credential.id, sealed)
    return made


async def readable_with(pool: db.Pool, keys: Keyring, made: dict[UUID, tuple[UUID, bytes]]) -> int:
    """How many tenants' secrets a fresh process with ``keys`` can read."""
    vault = Vault(keys)
    async with pool.acquire() as conn:
        for n, (tenant_id, (credential_id, sealed)) in enumerate(sorted(made.items())):
            opened = await vault.open(conn, tenant_id, "sms", credential_id, sealed)
            assert opened["auth_token"].startswith("token-"), n
    return len(made)


class Interrupted(Exception):
    pass


async def test_an_interrupted_rotation_keeps_serving_and_resumes(keys_pool: db.Pool) -> None:
    old, new = MasterKey(os.urandom(32)), MasterKey(os.urandom(32))
    made = await tenants_with_secrets(keys_pool, old)
    during = Keyring(new, (old,))

    def stop_after_first_batch(done: int, total: int) -> None:
        assert total == TENANTS
        raise Interrupted

    with pytest.raises(Interrupted):
        await rotate(keys_pool, during, stop_after_first_batch)
    # Half-way: the old key alone no longer reads everything, the pair does.
    assert await missing_keys(keys_pool, Keyring(old)) == {new.key_id: 100}
    assert await readable_with(keys_pool, during, made) == TENANTS
    progress: list[tuple[int, int]] = []
    resumed = await rotate(keys_pool, during, lambda done, total: progress.append((done, total)))
    assert (resumed.rewrapped, resumed.stuck, resumed.under_current) == (TENANTS - 100, {}, TENANTS)
    assert progress[-1] == (TENANTS - 100, TENANTS - 100)
    # Finished: the new key alone reads every secret; the old key is no longer needed.
    assert await missing_keys(keys_pool, Keyring(new)) == {}
    assert await readable_with(keys_pool, Keyring(new), made) == TENANTS
    again = await rotate(keys_pool, during)
    assert again.rewrapped == 0 and again.under_current == TENANTS


async def test_concurrent_rotations_rewrap_each_key_once(keys_pool: db.Pool) -> None:
    old, new = MasterKey(os.urandom(32)), MasterKey(os.urandom(32))
    made = await tenants_with_secrets(keys_pool, old)
    first, second = await asyncio.gather(
        rotate(keys_pool, Keyring(new, (old,))), rotate(keys_pool, Keyring(new, (old,)))
    )
    assert first.rewrapped + second.rewrapped == TENANTS
    assert await readable_with(keys_pool, Keyring(new), made) == TENANTS


async def test_a_rotation_without_the_old_key_changes_nothing_and_says_so(keys_pool: db.Pool) -> None:
    old, new = MasterKey(os.urandom(32)), MasterKey(os.urandom(32))
    made = await tenants_with_secrets(keys_pool, old)
    blind = await rotate(keys_pool, Keyring(new))
    assert (blind.rewrapped, blind.stuck) == (0, {old.key_id: TENANTS})
    assert await readable_with(keys_pool, Keyring(old), made) == TENANTS


def cli(database_dsn: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", *args],
        env={**os.environ, "DATABASE_URL": database_dsn, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_cli_rotates_and_servers_refuse_a_key_that_does_not_fit(
    keys_pool: db.Pool, database_dsn: str
) -> None:
    old, new = os.urandom(32), os.urandom(32)
    made = await tenants_with_secrets(keys_pool, MasterKey(old))
    b64 = {name: base64.b64encode(key).decode() for name, key in (("old", old), ("new", new))}

    refused = cli(database_dsn, "grpc", SWITCHBOARD_MASTER_KEY=b64["new"])
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("switchboard: bad setting SWITCHBOARD_MASTER_KEY: is not the master key that wraps")
    assert MasterKey(old).key_id in line and b64["new"] not in line

    rotated = cli(
        database_dsn, "keys", "rotate", SWITCHBOARD_MASTER_KEY=b64["new"], SWITCHBOARD_PREVIOUS_MASTER_KEYS=b64["old"]
    )
    assert rotated.returncode == 0, rotated.stderr
    assert f"re-wrapped {TENANTS}/{TENANTS} data keys" in rotated.stderr  # the progress line
    assert "SWITCHBOARD_PREVIOUS_MASTER_KEYS can be removed" in rotated.stdout
    status = cli(database_dsn, "keys", "status", SWITCHBOARD_MASTER_KEY=b64["new"])
    assert status.stdout.strip() == f"master key {MasterKey(new).key_id} (current): {TENANTS} data keys"
    assert await readable_with(keys_pool, Keyring(MasterKey(new)), made) == TENANTS
