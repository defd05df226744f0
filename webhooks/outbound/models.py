"""Partner webhook endpoints, their events, deliveries and the attempts log."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from kernel.models import metadata

__all__ = ["EVENT_TYPES", "webhook_attempts", "webhook_deliveries", "webhook_endpoints", "webhook_events"]

EVENT_TYPES = (
    "message.queued",
    "message.sent",
    "message.delivered",
    "message.read",
    "message.failed",
    "message.fallback",
    "message.inbound",
    "template.status_changed",
    "billing.budget_alert",
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    # Empty: every event type.
    Column("event_types", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    # {"secret": "whsec_...", "previous": "whsec_..."} sealed with the tenant's data key.
    Column("sealed_secrets", LargeBinary, nullable=False),
    # The previous secret signs too (a second signature) until then: rotation without downtime.
    Column("previous_expires_at", DateTime(timezone=True), nullable=True),
    Column("status", Text, nullable=False, server_default="enabled"),
    Column("disabled_reason", Text, nullable=True),
    # Set at the first failure after a success; an endpoint failing this long is disabled.
    Column("failing_since", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('enabled', 'disabled')", name="status_known"),
    Index("ix_webhook_endpoints_tenant_id", "tenant_id"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    # "msg_<32 hex>": the webhook-id header, the same on every attempt and resend.
    Column("id", Text, primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("type", Text, nullable=False),
    # The body sent: {"type", "timestamp", "data"}.
    Column("payload", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_webhook_events_tenant_id_created_at", "tenant_id", "created_at"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("endpoint_id", UUID(as_uuid=True), ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", Text, ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False),
    # pending (due at next_attempt_at) | succeeded | failed (retries used up, or endpoint gone)
    Column("status", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # Attempts before this one belong to an earlier round (before a resend or a recovery).
    Column("attempt_floor", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_response_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status_known"),
    UniqueConstraint("endpoint_id", "event_id"),
    Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("delivery_id", BigInteger, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("response_status", Integer, nullable=True),
    Column("response_body", Text, nullable=True),  # the first KiB: enough to see why
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_webhook_attempts_delivery_id", "delivery_id"),
)
