"""Sealing and opening tenant secrets with the tenant's data key (see :mod:`kernel.crypto`)."""

from __future__ import annotations

from uuid import UUID

import msgspec

from kernel.crypto import MasterKey, open_sealed, seal, secret_aad
from kernel.db import Connection
from tenants import repository

__all__ = ["Vault"]


class Vault:
    """Holds the master key; unwraps each tenant's data key once per process."""

    def __init__(self, master: MasterKey) -> None:
        self._master = master
        self._data_keys: dict[UUID, bytes] = {}

    def __repr__(self) -> str:
        return f"Vault(kek={self._master.key_id})"

    async def create_data_key(self, conn: Connection, tenant_id: UUID) -> None:
        data_key = MasterKey.new_data_key()
        await repository.insert_data_key(
            conn, tenant_id, self._master.key_id, self._master.wrap_data_key(tenant_id, data_key)
        )
        self._data_keys[tenant_id] = data_key

    async def _data_key(self, conn: Connection, tenant_id: UUID) -> bytes:
        key = self._data_keys.get(tenant_id)
        if key is None:
            stored = await repository.get_data_key(conn, tenant_id)
            if stored is None:
                raise LookupError(f"tenant {tenant_id} has no data key")
            key = self._master.unwrap_data_key(tenant_id, stored[1])
            self._data_keys[tenant_id] = key
        return key

    async def seal(self, conn: Connection, tenant_id: UUID, kind: str, row_id: UUID, secrets: dict[str, str]) -> bytes:
        key = await self._data_key(conn, tenant_id)
        return seal(key, msgspec.json.encode(secrets), secret_aad(tenant_id, kind, row_id))

    async def open(self, conn: Connection, tenant_id: UUID, kind: str, row_id: UUID, sealed: bytes) -> dict[str, str]:
        key = await self._data_key(conn, tenant_id)
        opened: dict[str, str] = msgspec.json.decode(open_sealed(key, sealed, secret_aad(tenant_id, kind, row_id)))
        return opened
