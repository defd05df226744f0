"""Tenants, their API keys, data keys, provider credentials, sender numbers and templates."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from kernel.models import metadata

__all__ = [
    "api_keys",
    "credentials",
    "idempotency_records",
    "operator_keys",
    "plans",
    "senders",
    "templates",
    "tenant_keys",
    "tenants",
]


def _created() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


plans = Table(
    "plans",
    metadata,
    Column("id", Text, primary_key=True),
    # Submissions: a token bucket refilled at rate_per_second, holding at most burst.
    Column("rate_per_second", Float, nullable=False),
    Column("burst", Integer, nullable=False),
    # Messages per calendar month (UTC); NULL is unlimited. Per channel: {"whatsapp": 1000, ...}.
    Column("monthly_messages", BigInteger, nullable=True),
    Column("monthly_by_channel", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("max_batch", Integer, nullable=False, server_default="100"),
    _created(),
    # A message to a new recipient once the account's daily tier is reached: wait for the next
    # day, or fail it at once.
    Column("tier_policy", Text, nullable=False, server_default="wait"),
    # Billable messages a month the plan already covers (billed at 0; the rest is overage).
    Column("included_messages", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("rate_per_second > 0 AND burst >= 1 AND max_batch >= 1", name="ck_plans_positive"),
    CheckConstraint("tier_policy IN ('wait', 'fail')", name="ck_plans_tier_policy"),
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="active"),
    # Provider callbacks are kept raw this long, then purged (their audit events stay).
    Column("raw_retention_days", Integer, nullable=False, server_default="30"),
    # Bumped by a trigger on every change to the tenant's credentials, senders and templates
    # (migration 0008): the key of every process's route cache.
    Column("config_version", BigInteger, nullable=False, server_default="0"),
    Column("plan_id", Text, ForeignKey("plans.id"), nullable=False, server_default="default"),
    # The default fallback route for messages that do not give one: {"channels": [...],
    # "fallback_after": seconds} (messaging.routing_policy).
    Column("routing_policy", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # A cap on the month's spend, in minor units of the plan's currency (billing.budgets).
    Column("monthly_budget", BigInteger, nullable=True),
    _created(),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    # The lookup prefix is the public part of the key; the rest is only ever stored hashed.
    Column("prefix", Text, nullable=False, unique=True),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("name", Text, nullable=False, server_default=""),
    _created(),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("ix_api_keys_tenant_id", "tenant_id"),
)

# Operators' keys (sbop_...): plans and rate cards over REST and gRPC; no tenant.
operator_keys = Table(
    "operator_keys",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("prefix", Text, nullable=False, unique=True),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("name", Text, nullable=False, server_default=""),
    _created(),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

tenant_keys = Table(
    "tenant_keys",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("kek_id", Text, nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    _created(),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),  # whatsapp | sms | email
    Column("name", Text, nullable=False),
    Column("is_default", Boolean, nullable=False, server_default="false"),
    # Non-secret settings (WABA id, Graph API version, ...), readable through the API.
    Column("config", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # Secrets as one sealed JSON document (see kernel.crypto), and a fingerprint per secret.
    Column("sealed_secrets", LargeBinary, nullable=False),
    Column("fingerprints", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # WhatsApp only: the unguessable key in this app's webhook URL.
    Column("channel_key", Text, nullable=True, unique=True),
    # ok | failing: a provider refused the credential itself (expired token, revoked permission);
    # shown to the tenant, and back to ok at the next send it carries.
    Column("health", Text, nullable=False, server_default="ok"),
    Column("health_detail", Text, nullable=True),
    Column("health_changed_at", DateTime(timezone=True), nullable=True),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_credentials_tenant_id_kind", "tenant_id", "kind"),
    # At most one default credential per channel kind and tenant.
    Index("ux_credentials_default", "tenant_id", "kind", unique=True, postgresql_where=text("is_default")),
)

senders = Table(
    "senders",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("credential_id", UUID(as_uuid=True), ForeignKey("credentials.id"), nullable=False),
    Column("channel", Text, nullable=False, server_default="whatsapp"),
    # A phone_number_id belongs to at most one tenant.
    Column("phone_number_id", Text, nullable=False, unique=True),
    Column("display_phone_number", Text, nullable=False),
    Column("waba_id", Text, nullable=False),
    Column("is_default", Boolean, nullable=False, server_default="false"),
    Column("status", Text, nullable=False, server_default="active"),
    # As Meta reports them for the number: GREEN | YELLOW | RED | UNKNOWN, and the daily tier.
    Column("quality_rating", Text, nullable=False, server_default="UNKNOWN"),
    Column("messaging_tier", Text, nullable=True),
    # Sends per second Meta allows this number (80 by default, up to 1,000).
    Column("throughput_mps", Integer, nullable=False, server_default="80"),
    _created(),
    Index("ix_senders_tenant_id", "tenant_id"),
)

templates = Table(
    "templates",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("waba_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("language", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("status", Text, nullable=False),
    # Meta's component list, as returned by GET /{waba-id}/message_templates.
    Column("components", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # POSITIONAL ({{1}}) or NAMED ({{first_name}}) placeholders.
    Column("parameter_format", Text, nullable=False, server_default="POSITIONAL"),
    _created(),
    # When Meta last changed the status (its webhook's time): an older notification arriving late
    # never overrides a newer one.
    Column("status_changed_at", DateTime(timezone=True), nullable=True),
    Column("status_reason", Text, nullable=True),
    UniqueConstraint("tenant_id", "waba_id", "name", "language"),
)


# Idempotency-Key of REST POSTs that create (edge.idempotency); a message keeps its key in its row.
idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),
    # SHA-256 of method, path and body: the same key with another request is refused.
    Column("fingerprint", LargeBinary, nullable=False),
    Column("state", Text, nullable=False),  # in_flight | done
    Column("status_code", Integer, nullable=True),
    # The response (status aside), sealed with the tenant's data key: it may carry a secret shown once.
    Column("sealed_response", LargeBinary, nullable=True),
    _created(),
    UniqueConstraint("tenant_id", "key"),
    CheckConstraint("state IN ('in_flight', 'done')", name="state_known"),
)
