"""Tenant-domain records handed between layers (immutable)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

__all__ = [
    "ApiKey",
    "Credential",
    "Plan",
    "Principal",
    "Sender",
    "StaleCaller",
    "Template",
    "Tenant",
    "WhatsAppSecrets",
]


class Tenant(msgspec.Struct, frozen=True):
    id: UUID
    name: str
    status: str
    created_at: datetime


class Plan(msgspec.Struct, frozen=True):
    """A tenant's limits (see tenants.quotas). The default plan is the migration's."""

    id: str = "default"
    rate_per_second: float = 1000.0
    burst: int = 2000
    monthly_messages: int | None = None  # None: unlimited
    monthly_by_channel: dict[str, int] = {}
    max_batch: int = 1000
    tier_policy: str = "wait"  # or "fail": a new recipient once the daily tier is reached


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the result of :func:`tenants.auth.authenticate`."""

    tenant_id: UUID
    api_key_id: UUID
    # Bumped on every change to the tenant's credentials, senders or templates: the key under
    # which routes are cached (tenants.routing).
    config_version: int = 0
    plan: Plan = Plan()
    # The tenant's cap on a month's spend (minor units), if it set one (billing.budgets).
    monthly_budget: int | None = None
    # Which versions of the key's, tenant's and plan's rows the fields above were read from: a
    # write can check in its own statement that they are unchanged (tenants.callers).
    fingerprint: str = ""


class StaleCaller(Exception):
    """A write made for a remembered principal found its key, tenant or plan changed since
    (SQLSTATE SB001, raised by the insert statement: messaging.repository). Never reaches a user: tenants.callers
    looks the key up afresh and runs the work again."""


class ApiKey(msgspec.Struct, frozen=True):
    id: UUID
    tenant_id: UUID
    prefix: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class Credential(msgspec.Struct, frozen=True):
    id: UUID
    tenant_id: UUID
    kind: str
    name: str
    is_default: bool
    config: dict[str, Any]
    fingerprints: dict[str, str]
    channel_key: str | None
    health: str = "ok"  # ok | failing (the provider refused it; see health_detail)
    health_detail: str | None = None


class WhatsAppSecrets(msgspec.Struct, frozen=True):
    access_token: str
    app_secret: str
    verify_token: str

    def __repr__(self) -> str:  # secrets never reach logs or tracebacks through repr
        return "WhatsAppSecrets(<redacted>)"


class Sender(msgspec.Struct, frozen=True):
    id: UUID
    tenant_id: UUID
    credential_id: UUID
    phone_number_id: str
    display_phone_number: str
    waba_id: str
    is_default: bool
    status: str = "active"
    quality_rating: str = "UNKNOWN"
    messaging_tier: str | None = None
    throughput_mps: int = 80


class Template(msgspec.Struct, frozen=True):
    id: UUID
    tenant_id: UUID
    waba_id: str
    name: str
    language: str
    category: str
    status: str
    components: list[dict[str, Any]]
    parameter_format: str = "POSITIONAL"
