"""Sealing and opening tenant secrets with the tenant's data key (see :mod:`kernel.crypto`)."""

from __future__ import annotations

import time
from uuid import UUID

import msgspec

from kernel.crypto import Keyring, MasterKey, open_sealed, seal, secret_aad
from kernel.db import Connection, Pool
from tenants import repository

__all__ = ["OPENED_TTL_SECONDS", "UnknownMasterKey", "Vault"]

# How long opened secrets stay in memory. They are keyed by their ciphertext, so a changed secret
# (new ciphertext) is never served from here; the TTL only bounds how long plaintext lingers.
OPENED_TTL_SECONDS = 60.0
_OPENED_MAX = 1_000


class UnknownMasterKey(Exception):
    """A data key is wrapped by a master key this process was not given."""


class Vault:
    """Holds the master keys; unwraps each tenant's data key once per process.

    New data keys are wrapped by the current master key; a data key wrapped by a previous one (a
    rotation in progress) is unwrapped by that one, found by the key id stored with it. A data key
    itself never changes, so a rotation does not disturb anything already unwrapped.
    """

    def __init__(self, keys: MasterKey | Keyring) -> None:
        self._keys = keys if isinstance(keys, Keyring) else Keyring(keys)
        self._master = self._keys.current
        self._data_keys: dict[UUID, bytes] = {}
        self._opened: dict[tuple[UUID, str, UUID, bytes], tuple[float, dict[str, str]]] = {}

    def __repr__(self) -> str:
        return f"Vault(kek={self._master.key_id}, previous={len(self._keys.previous)})"

    @property
    def keyring(self) -> Keyring:
        return self._keys

    async def create_data_key(self, conn: Connection, tenant_id: UUID) -> None:
        data_key = MasterKey.new_data_key()
        await repository.insert_data_key(
            conn, tenant_id, self._master.key_id, self._master.wrap_data_key(tenant_id, data_key)
        )
        self._data_keys[tenant_id] = data_key

    async def _data_key(self, conn: Connection | Pool, tenant_id: UUID) -> bytes:
        key = self._data_keys.get(tenant_id)
        if key is None:
            stored = await repository.get_data_key(conn, tenant_id)
            if stored is None:
                raise LookupError(f"tenant {tenant_id} has no data key")
            kek_id, wrapped = stored
            master = self._keys.get(kek_id)
            if master is None:
                raise UnknownMasterKey(f"tenant {tenant_id}'s data key is wrapped by master key {kek_id}")
            key = master.unwrap_data_key(tenant_id, wrapped)
            self._data_keys[tenant_id] = key
        return key

    async def seal(self, conn: Connection, tenant_id: UUID, kind: str, row_id: UUID, secrets: dict[str, str]) -> bytes:
        key = await self._data_key(conn, tenant_id)
        return seal(key, msgspec.json.encode(secrets), secret_aad(tenant_id, kind, row_id))

    async def open(
        self, conn: Connection | Pool, tenant_id: UUID, kind: str, row_id: UUID, sealed: bytes
    ) -> dict[str, str]:
        """The row's secrets; served from memory for up to :data:`OPENED_TTL_SECONDS` without any
        database or crypto work (the delivery hot path)."""
        key = (tenant_id, kind, row_id, sealed)
        now = time.monotonic()
        cached = self._opened.get(key)
        if cached is not None and cached[0] > now:
            return dict(cached[1])
        data_key = await self._data_key(conn, tenant_id)
        opened: dict[str, str] = msgspec.json.decode(open_sealed(data_key, sealed, secret_aad(tenant_id, kind, row_id)))
        if len(self._opened) >= _OPENED_MAX:
            self._opened = {k: v for k, v in self._opened.items() if v[0] > now}
            if len(self._opened) >= _OPENED_MAX:
                self._opened.clear()
        self._opened[key] = (now + OPENED_TTL_SECONDS, opened)
        return dict(opened)
