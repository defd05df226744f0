"""Queries for the tenants domain. Every query on a tenant-owned table takes the tenant id."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from kernel.db import Connection, Pool
from tenants.domain import ApiKey, Credential, Plan, Sender, Template, Tenant

__all__ = [
    "caller_current",
    "clear_default_credential",
    "clear_default_sender",
    "data_key_usage",
    "find_api_key_by_prefix",
    "find_credential_by_channel_key",
    "get_credential",
    "get_data_key",
    "get_sender",
    "get_template",
    "has_credential",
    "has_sender",
    "insert_api_key",
    "insert_credential",
    "insert_sender",
    "insert_tenant",
    "list_credentials",
    "list_plans",
    "list_senders",
    "list_templates",
    "lock_data_keys_to_rewrap",
    "retire_templates_not_in",
    "revoke_api_key",
    "rewrap_data_key",
    "set_tenant_plan",
    "upsert_plan",
    "upsert_template",
    "whatsapp_accounts",
]


def _tenant(r: asyncpg.Record) -> Tenant:
    return Tenant(id=r["id"], name=r["name"], status=r["status"], created_at=r["created_at"])


_CREDENTIAL_COLUMNS = "id, tenant_id, kind, name, is_default, config, fingerprints, channel_key, health, health_detail"


def _credential(r: asyncpg.Record) -> Credential:
    return Credential(
        id=r["id"],
        tenant_id=r["tenant_id"],
        kind=r["kind"],
        name=r["name"],
        is_default=r["is_default"],
        config=r["config"],
        fingerprints=r["fingerprints"],
        channel_key=r["channel_key"],
        health=r["health"],
        health_detail=r["health_detail"],
    )


# The named sender (or the tenant's default) with, when a template is named, that template of its WABA.
ROUTE = (
    "SELECT s.id, s.tenant_id, s.credential_id, s.phone_number_id, s.display_phone_number, s.waba_id, "
    "s.is_default, t.id AS t_id, t.name AS t_name, t.language AS t_language, t.category AS t_category, "
    "t.status AS t_status, t.components AS t_components, t.parameter_format AS t_parameter_format "
    "FROM senders s LEFT JOIN templates t ON t.tenant_id = s.tenant_id AND t.waba_id = s.waba_id "
    "AND t.name = $3 AND t.language = $4 "
    "WHERE s.tenant_id = $1 AND (s.phone_number_id = $2 OR ($2::text IS NULL AND s.status = 'active')) "
    "ORDER BY s.is_default DESC, s.created_at LIMIT 1"
)
_SENDER_COLS = (
    "id, tenant_id, credential_id, phone_number_id, display_phone_number, waba_id, is_default, status, "
    "quality_rating, messaging_tier, throughput_mps"
)
_PLAN_COLS = "id, rate_per_second, burst, monthly_messages, monthly_by_channel, max_batch, tier_policy"
_TEMPLATE_COLS = "id, tenant_id, waba_id, name, language, category, status, components, parameter_format"


def _sender(r: asyncpg.Record) -> Sender:
    return Sender(**dict(r))


def _template(r: asyncpg.Record) -> Template:
    return Template(**dict(r))


async def insert_tenant(conn: Connection, tenant_id: UUID, name: str) -> Tenant:
    row = await conn.fetchrow(
        "INSERT INTO tenants (id, name) VALUES ($1, $2) RETURNING id, name, status, created_at", tenant_id, name
    )
    assert row is not None
    return _tenant(row)


async def set_raw_retention(conn: Connection, tenant_id: UUID, days: int) -> bool:
    status: str = await conn.execute("UPDATE tenants SET raw_retention_days = $2 WHERE id = $1", tenant_id, days)
    return status.endswith(" 1")


async def insert_data_key(conn: Connection, tenant_id: UUID, kek_id: str, wrapped: bytes) -> None:
    await conn.execute(
        "INSERT INTO tenant_keys (tenant_id, kek_id, wrapped_key) VALUES ($1, $2, $3)", tenant_id, kek_id, wrapped
    )


async def get_data_key(conn: Connection | Pool, tenant_id: UUID) -> tuple[str, bytes] | None:
    row = await conn.fetchrow("SELECT kek_id, wrapped_key FROM tenant_keys WHERE tenant_id = $1", tenant_id)
    return None if row is None else (row["kek_id"], row["wrapped_key"])


async def data_key_usage(conn: Connection) -> dict[str, int]:
    """How many tenants' data keys each master key wraps."""
    rows = await conn.fetch("SELECT kek_id, count(*) AS n FROM tenant_keys GROUP BY kek_id")
    return {r["kek_id"]: r["n"] for r in rows}


async def lock_data_keys_to_rewrap(
    conn: Connection, kek_id: str, after: UUID | None, limit: int
) -> list[asyncpg.Record]:
    """Data keys not under ``kek_id``, in tenant order after ``after``; rows another rotation holds
    are skipped (it is re-wrapping them)."""
    return await conn.fetch(
        "SELECT tenant_id, kek_id, wrapped_key FROM tenant_keys "
        "WHERE kek_id <> $1 AND ($2::uuid IS NULL OR tenant_id > $2) "
        "ORDER BY tenant_id LIMIT $3 FOR UPDATE SKIP LOCKED",
        kek_id,
        after,
        limit,
    )


async def rewrap_data_key(conn: Connection, tenant_id: UUID, old_kek: str, new_kek: str, wrapped: bytes) -> bool:
    status: str = await conn.execute(
        "UPDATE tenant_keys SET kek_id = $3, wrapped_key = $4 WHERE tenant_id = $1 AND kek_id = $2",
        tenant_id,
        old_kek,
        new_kek,
        wrapped,
    )
    return status.endswith(" 1")


async def insert_api_key(
    conn: Connection, key_id: UUID, tenant_id: UUID, prefix: str, secret_hash: bytes, name: str
) -> ApiKey:
    row = await conn.fetchrow(
        "INSERT INTO api_keys (id, tenant_id, prefix, secret_hash, name) VALUES ($1, $2, $3, $4, $5) "
        "RETURNING id, tenant_id, prefix, name, created_at, revoked_at",
        key_id,
        tenant_id,
        prefix,
        secret_hash,
        name,
    )
    assert row is not None
    return ApiKey(**dict(row))


# Which versions of the key's, tenant's and plan's rows a principal was read from: any UPDATE of
# one of them makes a new version with a new xmin. Everything a Principal holds comes from these
# three rows, so an unchanged fingerprint means an unchanged principal (an unrelated change, such
# as a tenant's rename, only costs a fresh lookup). Compared in the write of a remembered caller
# (CALLER_CURRENT, tenants.callers): reading xmin costs PostgreSQL far less than digesting the rows.
_FINGERPRINT = "k.xmin::text || '.' || t.xmin::text || '.' || p.xmin::text"
_KEY_JOIN = "api_keys k JOIN tenants t ON t.id = k.tenant_id JOIN plans p ON p.id = t.plan_id"


def caller_current(key_id: str, fingerprint: str) -> str:
    """An SQL condition: the key whose id is the parameter ``key_id`` is live, its tenant active, and
    the three rows the versions named by the parameter ``fingerprint``."""
    return (
        f"EXISTS (SELECT 1 FROM {_KEY_JOIN} WHERE k.id = {key_id} AND k.revoked_at IS NULL "
        f"AND t.status = 'active' AND {_FINGERPRINT} = {fingerprint})"
    )


async def find_api_key_by_prefix(conn: Connection | asyncpg.Pool[asyncpg.Record], prefix: str) -> asyncpg.Record | None:
    """The live key with this prefix, its tenant's status and config version, and its plan
    (authentication is pre-tenant): one round trip carries everything a request needs to know."""
    return await conn.fetchrow(
        "SELECT k.id, k.tenant_id, k.secret_hash, t.status AS tenant_status, t.config_version, t.monthly_budget, "
        "p.id AS plan_id, p.rate_per_second, p.burst, p.monthly_messages, p.monthly_by_channel, p.max_batch, "
        f"p.tier_policy, {_FINGERPRINT} AS fingerprint "
        f"FROM {_KEY_JOIN} WHERE k.prefix = $1 AND k.revoked_at IS NULL",
        prefix,
    )


async def list_api_keys(conn: Connection, tenant_id: UUID) -> list[ApiKey]:
    rows = await conn.fetch(
        "SELECT id, tenant_id, prefix, name, created_at, revoked_at FROM api_keys WHERE tenant_id = $1 "
        "ORDER BY revoked_at IS NOT NULL, created_at DESC",
        tenant_id,
    )
    return [ApiKey(**dict(r)) for r in rows]


async def list_tenants(conn: Connection) -> list[asyncpg.Record]:
    """Every tenant with its plan and this month's message count (the operator's view)."""
    return await conn.fetch(
        "SELECT t.id, t.name, t.status, t.plan_id, t.created_at, "
        "(SELECT count(*) FROM messages m WHERE m.tenant_id = t.id "
        " AND m.created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS messages_this_month "
        "FROM tenants t ORDER BY t.name, t.id"
    )


async def set_tenant_status(conn: Connection, tenant_id: UUID, status: str) -> bool:
    result: str = await conn.execute("UPDATE tenants SET status = $2 WHERE id = $1", tenant_id, status)
    return result == "UPDATE 1"


async def revoke_api_key(conn: Connection, tenant_id: UUID, key_id: UUID) -> bool:
    status = await conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
        tenant_id,
        key_id,
    )
    return bool(status == "UPDATE 1")


async def has_credential(conn: Connection, tenant_id: UUID, kind: str) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM credentials WHERE tenant_id = $1 AND kind = $2)", tenant_id, kind
    )
    return found


async def clear_default_credential(conn: Connection, tenant_id: UUID, kind: str) -> None:
    await conn.execute(
        "UPDATE credentials SET is_default = false WHERE tenant_id = $1 AND kind = $2 AND is_default", tenant_id, kind
    )


async def insert_credential(
    conn: Connection,
    *,
    credential_id: UUID,
    tenant_id: UUID,
    kind: str,
    name: str,
    is_default: bool,
    config: dict[str, Any],
    sealed_secrets: bytes,
    fingerprints: dict[str, str],
    channel_key: str | None,
) -> Credential:
    row = await conn.fetchrow(
        "INSERT INTO credentials (id, tenant_id, kind, name, is_default, config, sealed_secrets, fingerprints, "
        "channel_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        "RETURNING id, tenant_id, kind, name, is_default, config, fingerprints, channel_key, health, health_detail",
        credential_id,
        tenant_id,
        kind,
        name,
        is_default,
        config,
        sealed_secrets,
        fingerprints,
        channel_key,
    )
    assert row is not None
    return _credential(row)


async def get_credential(conn: Connection, tenant_id: UUID, credential_id: UUID) -> tuple[Credential, bytes] | None:
    row = await conn.fetchrow(
        f"SELECT {_CREDENTIAL_COLUMNS}, sealed_secrets FROM credentials WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        credential_id,
    )
    return None if row is None else (_credential(row), row["sealed_secrets"])


async def list_credentials(conn: Connection, tenant_id: UUID) -> list[Credential]:
    rows = await conn.fetch(
        "SELECT id, tenant_id, kind, name, is_default, config, fingerprints, channel_key, health, health_detail "
        "FROM credentials WHERE tenant_id = $1 ORDER BY kind, created_at, id",
        tenant_id,
    )
    return [_credential(r) for r in rows]


async def find_credential_by_channel_key(conn: Connection, channel_key: str) -> tuple[Credential, bytes] | None:
    """Webhook ingress resolves its tenant from the unguessable key in the URL path."""
    row = await conn.fetchrow(
        f"SELECT {_CREDENTIAL_COLUMNS}, sealed_secrets FROM credentials WHERE channel_key = $1",
        channel_key,
    )
    return None if row is None else (_credential(row), row["sealed_secrets"])


async def insert_sender(
    conn: Connection,
    *,
    sender_id: UUID,
    tenant_id: UUID,
    credential_id: UUID,
    phone_number_id: str,
    display_phone_number: str,
    waba_id: str,
    is_default: bool,
    throughput_mps: int = 80,
) -> Sender:
    row = await conn.fetchrow(
        "INSERT INTO senders (id, tenant_id, credential_id, phone_number_id, display_phone_number, waba_id, "
        f"is_default, throughput_mps) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_SENDER_COLS}",
        sender_id,
        tenant_id,
        credential_id,
        phone_number_id,
        display_phone_number,
        waba_id,
        is_default,
        throughput_mps,
    )
    assert row is not None
    return _sender(row)


async def list_senders(conn: Connection, tenant_id: UUID) -> list[Sender]:
    rows = await conn.fetch(
        f"SELECT {_SENDER_COLS} FROM senders WHERE tenant_id = $1 ORDER BY is_default DESC, created_at, id", tenant_id
    )
    return [_sender(r) for r in rows]


async def get_sender(conn: Connection, tenant_id: UUID, sender_id: UUID) -> Sender | None:
    row = await conn.fetchrow(
        f"SELECT {_SENDER_COLS} FROM senders WHERE tenant_id = $1 AND id = $2", tenant_id, sender_id
    )
    return None if row is None else _sender(row)


async def has_sender(conn: Connection, tenant_id: UUID) -> bool:
    found: bool = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM senders WHERE tenant_id = $1)", tenant_id)
    return found


async def clear_default_sender(conn: Connection, tenant_id: UUID) -> None:
    await conn.execute("UPDATE senders SET is_default = false WHERE tenant_id = $1 AND is_default", tenant_id)


async def resolve_route(
    conn: Connection, tenant_id: UUID, phone_number_id: str | None, template_name: str | None, language: str | None
) -> tuple[Sender, Template | None] | None:
    """The sender (named, or the default) and, when asked, its WABA's template: one round trip."""
    row = await conn.fetchrow(ROUTE, tenant_id, phone_number_id, template_name, language)
    if row is None:
        return None
    sender = Sender(
        id=row["id"],
        tenant_id=row["tenant_id"],
        credential_id=row["credential_id"],
        phone_number_id=row["phone_number_id"],
        display_phone_number=row["display_phone_number"],
        waba_id=row["waba_id"],
        is_default=row["is_default"],
    )
    template = None
    if row["t_id"] is not None:
        template = Template(
            id=row["t_id"],
            tenant_id=row["tenant_id"],
            waba_id=row["waba_id"],
            name=row["t_name"],
            language=row["t_language"],
            category=row["t_category"],
            status=row["t_status"],
            components=row["t_components"],
            parameter_format=row["t_parameter_format"],
        )
    return sender, template


async def upsert_template(
    conn: Connection,
    *,
    template_id: UUID,
    tenant_id: UUID,
    waba_id: str,
    name: str,
    language: str,
    category: str,
    status: str,
    components: list[dict[str, Any]],
    parameter_format: str = "POSITIONAL",
) -> Template:
    row = await conn.fetchrow(
        "INSERT INTO templates (id, tenant_id, waba_id, name, language, category, status, components, "
        "parameter_format) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        "ON CONFLICT (tenant_id, waba_id, name, language) DO UPDATE SET category = EXCLUDED.category, "
        "status = EXCLUDED.status, components = EXCLUDED.components, parameter_format = EXCLUDED.parameter_format, "
        "status_changed_at = now() "
        # An unchanged template is not rewritten: a sync that finds nothing new leaves every
        # process's cached routes valid (the config_version trigger fires only on real changes).
        "WHERE (templates.category, templates.status, templates.components, templates.parameter_format) "
        "IS DISTINCT FROM (EXCLUDED.category, EXCLUDED.status, EXCLUDED.components, EXCLUDED.parameter_format) "
        f"RETURNING {_TEMPLATE_COLS}",
        template_id,
        tenant_id,
        waba_id,
        name,
        language,
        category,
        status,
        components,
        parameter_format,
    )
    if row is None:
        row = await conn.fetchrow(
            f"SELECT {_TEMPLATE_COLS} FROM templates WHERE tenant_id = $1 AND waba_id = $2 AND name = $3 "
            "AND language = $4",
            tenant_id,
            waba_id,
            name,
            language,
        )
    assert row is not None
    return _template(row)


async def retire_templates_not_in(conn: Connection, tenant_id: UUID, waba_id: str, keep: list[tuple[str, str]]) -> int:
    """Mark DELETED the WABA's templates the provider no longer lists; returns how many."""
    status: str = await conn.execute(
        "UPDATE templates SET status = 'DELETED', status_changed_at = now() "
        "WHERE tenant_id = $1 AND waba_id = $2 AND status <> 'DELETED' "
        "AND (name, language) NOT IN (SELECT * FROM unnest($3::text[], $4::text[]))",
        tenant_id,
        waba_id,
        [k[0] for k in keep],
        [k[1] for k in keep],
    )
    return int(status.split()[-1])


async def list_templates(conn: Connection, tenant_id: UUID) -> list[Template]:
    rows = await conn.fetch(
        f"SELECT {_TEMPLATE_COLS} FROM templates WHERE tenant_id = $1 ORDER BY waba_id, name, language", tenant_id
    )
    return [_template(r) for r in rows]


async def get_template(conn: Connection, tenant_id: UUID, template_id: UUID) -> Template | None:
    row = await conn.fetchrow(
        f"SELECT {_TEMPLATE_COLS} FROM templates WHERE tenant_id = $1 AND id = $2", tenant_id, template_id
    )
    return None if row is None else _template(row)


async def whatsapp_accounts(conn: Connection, tenant_id: UUID | None) -> list[asyncpg.Record]:
    """WhatsApp credentials (one per WABA) with their sealed secrets; all tenants' when None."""
    return await conn.fetch(
        "SELECT id, tenant_id, is_default, config, sealed_secrets FROM credentials "
        "WHERE kind = 'whatsapp' AND ($1::uuid IS NULL OR tenant_id = $1) ORDER BY tenant_id, is_default DESC, id",
        tenant_id,
    )


async def template_languages(conn: Connection, tenant_id: UUID, waba_id: str, name: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT language FROM templates WHERE tenant_id = $1 AND waba_id = $2 AND name = $3 ORDER BY language",
        tenant_id,
        waba_id,
        name,
    )
    return [r["language"] for r in rows]


async def upsert_plan(conn: Connection, plan: Plan) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO plans (id, rate_per_second, burst, monthly_messages, monthly_by_channel, max_batch, tier_policy) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET "
        "rate_per_second = EXCLUDED.rate_per_second, burst = EXCLUDED.burst, "
        "monthly_messages = EXCLUDED.monthly_messages, monthly_by_channel = EXCLUDED.monthly_by_channel, "
        "max_batch = EXCLUDED.max_batch, tier_policy = EXCLUDED.tier_policy "
        f"RETURNING {_PLAN_COLS}",
        plan.id,
        plan.rate_per_second,
        plan.burst,
        plan.monthly_messages,
        plan.monthly_by_channel,
        plan.max_batch,
        plan.tier_policy,
    )
    assert row is not None
    return row


async def list_plans(conn: Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_PLAN_COLS}, (SELECT count(*) FROM tenants t WHERE t.plan_id = plans.id) AS tenants "
        "FROM plans ORDER BY id"
    )


async def set_tenant_plan(conn: Connection, tenant_id: UUID, plan_id: str) -> bool:
    status: str = await conn.execute("UPDATE tenants SET plan_id = $2 WHERE id = $1", tenant_id, plan_id)
    return status == "UPDATE 1"


async def set_credential_health(
    conn: Connection | Pool, tenant_id: UUID, credential_id: UUID, health: str, detail: str | None
) -> None:
    await conn.execute(
        "UPDATE credentials SET health = $3, health_detail = $4, health_changed_at = now() "
        "WHERE tenant_id = $1 AND id = $2 AND health IS DISTINCT FROM $3",
        tenant_id,
        credential_id,
        health,
        detail,
    )


async def routing_policy(conn: Connection, tenant_id: UUID) -> dict[str, Any] | None:
    """The tenant's default fallback route as stored, or None for an unknown tenant."""
    stored: dict[str, Any] | None = await conn.fetchval("SELECT routing_policy FROM tenants WHERE id = $1", tenant_id)
    return stored


async def set_routing_policy(conn: Connection, tenant_id: UUID, policy: dict[str, Any]) -> bool:
    status: str = await conn.execute("UPDATE tenants SET routing_policy = $2 WHERE id = $1", tenant_id, policy)
    return status == "UPDATE 1"
