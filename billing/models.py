"""Billing tables (migration 0019): rate cards, billable events, usage per day."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from kernel.models import metadata

__all__ = ["billable_events", "budget_alerts", "invoice_lines", "invoices", "rate_cards", "usage_daily"]

rate_cards = Table(
    "rate_cards",
    metadata,
    Column("plan_id", Text, ForeignKey("plans.id", ondelete="CASCADE"), nullable=False),
    Column("channel", Text, nullable=False),
    Column("category", Text, nullable=False),  # "*": any
    Column("country", Text, nullable=False),  # ISO 3166 alpha-2, "*": any
    Column("unit_price", BigInteger, nullable=False),  # minor units per message (per segment for SMS)
    Column("currency", Text, nullable=False),
    PrimaryKeyConstraint("plan_id", "channel", "category", "country"),
    CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
)

billable_events = Table(
    "billable_events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    # What made it billable, once: whatsapp:<wamid>, sms:<SID>, email:<message id>.
    Column("key", Text, nullable=False),
    Column("message_id", UUID(as_uuid=True), nullable=False),
    # The delivery attempt that sent it (the message's latest on that channel when billed).
    Column("attempt_id", BigInteger, nullable=True),
    Column("channel", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("country", Text, nullable=False),
    Column("units", Integer, nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    # The provider's pricing model when it reports one (Meta: PMP, or CBP for free entry points).
    Column("pricing_model", Text, nullable=True),
    # The month whose invoice took it (NULL: not invoiced yet).
    Column("invoice_month", Date, nullable=True),
    UniqueConstraint("tenant_id", "key"),
    Index("ix_billable_events_tenant_id_occurred_at", "tenant_id", "occurred_at"),
    Index("ix_billable_events_uninvoiced", "tenant_id", "occurred_at", postgresql_where=text("invoice_month IS NULL")),
)

usage_daily = Table(
    "usage_daily",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("day", Date, nullable=False),  # UTC
    Column("channel", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("country", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "day", "channel", "category", "country", "currency"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("month", Date, nullable=False),  # its first day
    Column("currency", Text, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("finalized_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "month", "currency"),
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("month", Date, nullable=False),
    Column("currency", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("channel", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("country", Text, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "month", "currency", "position"),
    ForeignKeyConstraint(
        ["tenant_id", "month", "currency"],
        ["invoices.tenant_id", "invoices.month", "invoices.currency"],
        ondelete="CASCADE",
    ),
)

budget_alerts = Table(
    "budget_alerts",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("month", Date, nullable=False),
    Column("threshold", Integer, nullable=False),  # percent of the budget: 80, 100
    Column("spent", BigInteger, nullable=False),
    Column("budget", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "month", "threshold"),
)
