"""Who a webhook URL belongs to: ``channel_key`` → tenant, credential and the secrets to verify with.

Resolving a key costs a database read and two AES-GCM openings, so each process keeps what it
resolved for a short while. Rotated secrets still take effect at once: a signature that fails
against a cached entry is checked again against a fresh read before it is refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from uuid import UUID

from kernel.db import Pool
from kernel.errors import NotFound
from tenants import repository as tenants_repository
from tenants.vault import Vault

__all__ = ["Endpoint", "Endpoints"]

TTL_SECONDS = 30.0
_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Endpoint:
    tenant_id: UUID
    credential_id: UUID
    kind: str  # whatsapp | sms | email
    secrets: dict[str, str] = field(repr=False)  # never in logs or tracebacks
    resolved_at: float = 0.0

    @property
    def fresh(self) -> bool:
        """Resolved just now, so checking again would read the same secrets."""
        return time.monotonic() - self.resolved_at < 1.0


class Endpoints:
    def __init__(self, pool: Pool, vault: Vault) -> None:
        self._pool = pool
        self._vault = vault
        self._cache: dict[str, Endpoint] = {}

    async def get(self, channel_key: str, kind: str, *, refresh: bool = False) -> Endpoint:
        """The endpoint of a ``kind`` credential; any other key (unknown, or another kind's) is
        :class:`NotFound`."""
        cached = self._cache.get(channel_key)
        if cached is not None and not refresh and time.monotonic() - cached.resolved_at < TTL_SECONDS:
            endpoint = cached
        else:
            endpoint = await self._resolve(channel_key)
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache.clear()
            self._cache[channel_key] = endpoint
        if endpoint.kind != kind:
            raise NotFound("unknown webhook URL")
        return endpoint

    async def _resolve(self, channel_key: str) -> Endpoint:
        async with self._pool.acquire() as conn:
            found = await tenants_repository.find_credential_by_channel_key(conn, channel_key)
            if found is None:
                self._cache.pop(channel_key, None)
                raise NotFound("unknown webhook URL")
            credential, sealed = found
            opened = await self._vault.open(conn, credential.tenant_id, credential.kind, credential.id, sealed)
        return Endpoint(credential.tenant_id, credential.id, credential.kind, opened, time.monotonic())
