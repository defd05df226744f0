"""Master key operations: the start-up check and rotation.

Rotation, step by step (each step safe to repeat):
1. Start every process with the new key in ``SWITCHBOARD_MASTER_KEY`` and the old one in
   ``SWITCHBOARD_PREVIOUS_MASTER_KEYS``. They unwrap data keys under either key (the key id is stored
   with each wrapped data key) and wrap new tenants' keys under the new one.
2. Run ``switchboard keys rotate``. It re-wraps every data key under the new key, a batch per
   transaction, with a compare-and-set per row, so an interrupted run is simply run again, and two
   runs at once skip each other's rows. Secrets themselves are not touched: they are sealed by data
   keys, which do not change.
3. When it reports nothing left under the old key, drop ``SWITCHBOARD_PREVIOUS_MASTER_KEYS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from kernel.crypto import Keyring
from kernel.db import Pool, unit_of_work
from tenants import repository

__all__ = ["Rotated", "missing_keys", "rotate"]

_BATCH = 100


async def missing_keys(pool: Pool, keyring: Keyring) -> dict[str, int]:
    """Master key ids that wrap some tenant's data key but are not in ``keyring`` (with how many
    data keys each wraps). Non-empty means this process was given the wrong key."""
    async with pool.acquire() as conn:
        usage = await repository.data_key_usage(conn)
    return {kek_id: n for kek_id, n in usage.items() if keyring.get(kek_id) is None}


@dataclass(frozen=True, slots=True)
class Rotated:
    rewrapped: int
    stuck: dict[str, int]  # data keys under master keys this run was not given
    under_current: int


async def rotate(pool: Pool, keyring: Keyring, progress: Callable[[int, int], None] | None = None) -> Rotated:
    current = keyring.current
    async with pool.acquire() as conn:
        usage = await repository.data_key_usage(conn)
    total = sum(n for kek_id, n in usage.items() if kek_id != current.key_id)
    rewrapped = 0
    after: UUID | None = None
    while True:
        async with unit_of_work(pool) as conn:
            rows = await repository.lock_data_keys_to_rewrap(conn, current.key_id, after, _BATCH)
            for row in rows:
                old = keyring.get(row["kek_id"])
                if old is None:
                    continue
                data_key = old.unwrap_data_key(row["tenant_id"], row["wrapped_key"])
                wrapped = current.wrap_data_key(row["tenant_id"], data_key)
                if await repository.rewrap_data_key(conn, row["tenant_id"], row["kek_id"], current.key_id, wrapped):
                    rewrapped += 1
        if not rows:
            break
        after = rows[-1]["tenant_id"]
        if progress:
            progress(rewrapped, total)
    async with pool.acquire() as conn:
        usage = await repository.data_key_usage(conn)
    stuck = {kek_id: n for kek_id, n in usage.items() if kek_id != current.key_id}
    return Rotated(rewrapped, stuck, usage.get(current.key_id, 0))
